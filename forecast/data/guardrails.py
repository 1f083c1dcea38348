"""Checks on model inputs before any rollout: right variables, levels, grid, values.

`find_problems` returns every problem found (for the run record); `check_inputs` raises one
`InvalidInputError` listing them all. Magnitudes are judged as z-scores against the checkpoint's
normalisation statistics: a field whose global mean sits many standard deviations from the
climatological mean (temperature in °C, geopotential height in metres instead of m² s⁻²) or
that holds absurd single values is refused, naming the variable, level and value.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from forecast import variables as V
from forecast.data.layout import from_example_batch
from forecast.errors import InvalidInputError

# |global-mean z| above this is a wrong unit or a wrong field, not weather (°C vs K: ~13).
MAX_MEAN_Z = 5.0
# Any single value this many stddevs from the mean is absurd (real extremes stay below ~15).
MAX_ABS_Z = 50.0
# Skewed fields whose tails legitimately reach many stddevs: judged by their mean only.
SKEWED = frozenset({"total_precipitation_6hr", "specific_humidity", "vertical_velocity"})
# Fields that must never be negative.
NON_NEGATIVE = frozenset(
    {
        "total_precipitation_6hr",
        "specific_humidity",
        "toa_incident_solar_radiation",
        "land_sea_mask",
    }
)
INPUT_STEP = np.timedelta64(6, "h")


@dataclasses.dataclass(frozen=True)
class Problem:
    """One thing wrong with an input dataset.

    Attributes:
        kind: `missing_variable`, `levels`, `grid`, `latitude_order`, `time`, `units`, `nan`,
            `magnitude`, `negative`.
        message: what is wrong, naming the variable, level, time or value.
        variable: the variable at fault, if one.
        level: the pressure level at fault (hPa), if one.
    """

    kind: str
    message: str
    variable: str | None = None
    level: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class GuardrailReport:
    """The outcome of `check_inputs`: what was checked and what is wrong (empty when fine)."""

    problems: tuple[Problem, ...]
    variables_checked: tuple[str, ...]
    levels: tuple[int, ...]
    grid_deg: float | None
    magnitudes_checked: bool

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        if self.ok:
            return f"inputs ok ({len(self.variables_checked)} variables)"
        return "; ".join(p.message for p in self.problems)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["problems"] = [p.to_dict() for p in self.problems]
        return data


def expected_variables(input_variables: Sequence[str]) -> tuple[str, ...]:
    """The variables the inputs file must hold: the task's inputs minus derived forcings."""
    return tuple(v for v in input_variables if v not in V.GENERATED_FORCING_VARS)


def find_problems(
    inputs: xr.Dataset,
    *,
    input_variables: Sequence[str],
    pressure_levels: Sequence[int],
    grid_deg: float | None = None,
    stats: Any = None,
    min_frames: int = 2,
) -> list[Problem]:
    """Every problem of `inputs` against what a checkpoint expects.

    Args:
        inputs: model layout or example-batch layout.
        input_variables: the task's input variables (TaskConfig.input_variables); derived
            forcings (year/day progress) are not expected in the file.
        pressure_levels: the task's levels (hPa), in the model's order.
        grid_deg: the model's grid spacing (ModelConfig.resolution); None skips the grid check.
        stats: normalisation statistics for the magnitude checks: a `NormStats` (mean/stddev
            dicts in `pressure_levels` order), a stats directory, or None to skip them.
        min_frames: input frames needed (GraphCast: 2, 6 h apart).

    Returns:
        The problems, in check order; empty when the inputs are fine.
    """
    ds = from_example_batch(inputs)
    problems: list[Problem] = []
    wanted = expected_variables(input_variables)
    for name in wanted:
        if name not in ds.data_vars:
            problems.append(Problem("missing_variable", f"missing variable {name}", name))
    levels = [int(x) for x in pressure_levels]
    problems += _level_problems(ds, wanted, levels)
    problems += _grid_problems(ds, grid_deg)
    problems += _time_problems(ds, min_frames)
    present = [n for n in wanted if n in ds.data_vars]
    problems += _unit_problems(ds, present)
    problems += _nan_problems(ds, present)
    if stats is not None and not any(p.kind in ("levels", "nan") for p in problems):
        problems += _magnitude_problems(ds, present, levels, _as_stats(stats, levels))
    return problems


def check_inputs(
    inputs: xr.Dataset,
    *,
    input_variables: Sequence[str],
    pressure_levels: Sequence[int],
    grid_deg: float | None = None,
    stats: Any = None,
    min_frames: int = 2,
) -> GuardrailReport:
    """Like `find_problems`, but raises when anything is wrong.

    Returns:
        The report (all checks passed).

    Raises:
        InvalidInputError: listing every problem ("inputs rejected: ...").
    """
    problems = find_problems(
        inputs,
        input_variables=input_variables,
        pressure_levels=pressure_levels,
        grid_deg=grid_deg,
        stats=stats,
        min_frames=min_frames,
    )
    report = GuardrailReport(
        problems=tuple(problems),
        variables_checked=expected_variables(input_variables),
        levels=tuple(int(x) for x in pressure_levels),
        grid_deg=grid_deg,
        magnitudes_checked=stats is not None,
    )
    if problems:
        error = InvalidInputError(f"inputs rejected: {report.summary()}")
        error.problems = problems  # type: ignore[attr-defined]  # for the run record
        raise error
    return report


def check_task_inputs(
    inputs: xr.Dataset, task: Any, *, grid_deg: float | None = None, stats: Any = None
) -> GuardrailReport:
    """`check_inputs` with the expectations read from a TaskConfig-like object.

    Args:
        inputs: the dataset.
        task: anything with `input_variables` and `pressure_levels` (e.g. `TaskConfig`).
        grid_deg: the model's resolution in degrees.
        stats: as for `find_problems`.
    """
    return check_inputs(
        inputs,
        input_variables=tuple(task.input_variables),
        pressure_levels=tuple(task.pressure_levels),
        grid_deg=grid_deg,
        stats=stats,
    )


def _level_problems(ds: xr.Dataset, wanted: Sequence[str], levels: list[int]) -> list[Problem]:
    atmospheric = [n for n in wanted if V.is_atmospheric(n) and n in ds.data_vars]
    if not atmospheric:
        return []
    if "level" not in ds.dims:
        return [Problem("levels", "no pressure-level axis ('level') for atmospheric variables")]
    have = [int(x) for x in ds["level"].values]
    if have == levels:
        return []
    missing = [x for x in levels if x not in have]
    extra = [x for x in have if x not in levels]
    parts = []
    if missing:
        parts.append(f"missing {missing}")
    if extra:
        parts.append(f"unexpected {extra}")
    if not parts:
        parts.append(f"order {have}")
    return [
        Problem(
            "levels",
            f"pressure levels do not match the checkpoint's {levels} hPa: {', '.join(parts)}",
        )
    ]


def _grid_problems(ds: xr.Dataset, grid_deg: float | None) -> list[Problem]:
    problems = []
    if "lat" not in ds.dims or "lon" not in ds.dims:
        return [Problem("grid", f"no lat/lon axes (dims {dict(ds.sizes)})")]
    lat = np.asarray(ds["lat"].values, dtype=np.float64)
    lon = np.asarray(ds["lon"].values, dtype=np.float64)
    if lat.size > 1 and np.all(np.diff(lat) < 0):
        problems.append(
            Problem(
                "latitude_order",
                f"latitude is descending ({lat[0]:g} → {lat[-1]:g}); the model needs it ascending",
            )
        )
    elif lat.size > 1 and not np.all(np.diff(lat) > 0):
        problems.append(Problem("latitude_order", "latitude is not monotonic"))
    if grid_deg is None:
        return problems
    n_lat, n_lon = round(180 / grid_deg) + 1, round(360 / grid_deg)
    expected_lat = np.linspace(-90.0, 90.0, n_lat)
    expected_lon = np.arange(n_lon) * grid_deg
    if lat.size != n_lat or lon.size != n_lon:
        spacing = abs(float(np.median(np.diff(lat)))) if lat.size > 1 else float("nan")
        problems.append(
            Problem(
                "grid",
                f"grid is {lat.size}×{lon.size} (about {spacing:g}°); the checkpoint needs "
                f"{grid_deg:g}° = {n_lat}×{n_lon} (lat −90…90, lon 0…{360 - grid_deg:g})",
            )
        )
    elif not (
        np.allclose(np.sort(lat), expected_lat, atol=1e-3)
        and np.allclose(lon, expected_lon, atol=1e-3)
    ):
        problems.append(
            Problem(
                "grid",
                f"grid points are not the {grid_deg:g}° grid (lat {lat[0]:g}…{lat[-1]:g}, "
                f"lon {lon[0]:g}…{lon[-1]:g}; expected lat −90…90, lon 0…{360 - grid_deg:g})",
            )
        )
    return problems


def _time_problems(ds: xr.Dataset, min_frames: int) -> list[Problem]:
    if "time" not in ds.dims:
        return [Problem("time", "no time axis")]
    times = pd.DatetimeIndex(ds["time"].values)
    if len(times) < min_frames:
        return [Problem("time", f"{len(times)} input frame(s); the model needs {min_frames}")]
    steps = np.diff(times.values)
    if np.any(steps != INPUT_STEP):
        return [
            Problem(
                "time",
                "input frames are not 6 h apart: " + ", ".join(t.isoformat() for t in times),
            )
        ]
    return []


def _unit_problems(ds: xr.Dataset, names: Sequence[str]) -> list[Problem]:
    """Declared units that differ from ERA5's (spelling variants like `m**2 s**-2` agree)."""
    problems = []
    for name in names:
        declared = ds[name].attrs.get("units")
        expected = V.UNITS.get(name)
        if declared is None or expected is None:
            continue
        if _canonical_unit(str(declared)) != _canonical_unit(expected):
            problems.append(
                Problem("units", f"{name} is in {declared!r}; the model needs {expected!r}", name)
            )
    return problems


def _canonical_unit(unit: str) -> str:
    unit = unit.replace("**", "").replace("^", "").replace(" ", "").replace("(0-1)", "1")
    return {"dimensionless": "1", "": "1", "~": "1"}.get(unit, unit)


def _nan_problems(ds: xr.Dataset, names: Sequence[str]) -> list[Problem]:
    problems = []
    for name in names:
        field = ds[name]
        bad = ~np.isfinite(field.values)
        if not bad.any():
            continue
        where = np.argwhere(bad)[0]
        place = ", ".join(
            f"{dim}={_label(field[dim].values[i])}"
            for dim, i in zip(field.dims, where, strict=True)
            if dim in field.coords
        )
        problems.append(
            Problem(
                "nan",
                f"{name} has {int(bad.sum())} NaN/inf value(s), first at {place}",
                name,
            )
        )
    return problems


def _magnitude_problems(
    ds: xr.Dataset, names: Sequence[str], levels: list[int], stats: Any
) -> list[Problem]:
    problems = []
    for name in names:
        if name not in stats.mean or name not in stats.stddev:
            continue
        field = ds[name]
        mean = np.atleast_1d(np.asarray(stats.mean[name], np.float64))
        std = np.atleast_1d(np.asarray(stats.stddev[name], np.float64))
        slices = (
            [(lv, field.sel(level=lv), mean[i], std[i]) for i, lv in enumerate(levels)]
            if "level" in field.dims
            else [(None, field, mean[0], std[0])]
        )
        for level, values, mu, sigma in slices:
            values = np.asarray(values.values, np.float64)
            at = f"{name}" + (f" at {level} hPa" if level is not None else "")
            if name in NON_NEGATIVE and values.min() < -1e-6 * max(abs(mu), 1e-12):
                problems.append(
                    Problem(
                        "negative",
                        f"{at} has negative values (min {values.min():.4g})",
                        name,
                        level,
                    )
                )
            if not sigma > 0:
                continue
            mean_z = (values.mean() - mu) / sigma
            if abs(mean_z) > MAX_MEAN_Z:
                problems.append(
                    Problem(
                        "magnitude",
                        f"{at}: mean {values.mean():.4g} {V.UNITS.get(name, '')} is "
                        f"{mean_z:+.1f} stddev from the climatological {mu:.4g} "
                        f"(wrong units or field?)",
                        name,
                        level,
                    )
                )
                continue
            if name in SKEWED:
                continue
            worst = values.flat[np.argmax(np.abs(values - mu))]
            max_z = (worst - mu) / sigma
            if abs(max_z) > MAX_ABS_Z:
                problems.append(
                    Problem(
                        "magnitude",
                        f"{at}: value {worst:.4g} is {max_z:+.0f} stddev from the mean {mu:.4g}",
                        name,
                        level,
                    )
                )
    return problems


def _as_stats(stats: Any, levels: list[int]) -> Any:
    if isinstance(stats, str | Path):
        from forecast.model.normalization import load_stats

        return load_stats(stats, levels)
    return stats


def _label(value: Any) -> str:
    if isinstance(value, np.datetime64):
        return str(value)[:16]
    return f"{value:g}" if isinstance(value, float | np.floating) else str(value)
