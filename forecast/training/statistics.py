"""Normalisation statistics of an archive, in DeepMind's layout (`mean_by_level.nc`, ...).

Three files, one data variable per name (float64; a `level` dim for atmospheric variables,
scalar otherwise), as in DeepMind's published statistics (SPEC §6):

* `mean_by_level.nc`, `stddev_by_level.nc` — every time-dependent variable, the static fields
  and the progress features (`year_progress`, `day_progress`, each plain, `_sin` and `_cos`);
* `diffs_stddev_by_level.nc` — stddev of the 6 h differences x(t + 6 h) − x(t) of every
  time-dependent variable and progress feature (no statics). Differences are plain, not
  wrapped, so the yearly/daily wrap-around of the progress features counts, as in DeepMind's.

Means are **unweighted** over all grid points by default, like DeepMind's: their
`land_sea_mask` mean (0.337) and `geopotential_at_surface` mean (3764 m² s⁻²) exceed the
area-weighted Earth values (0.29, ~2300) because an equiangular grid over-samples the poles
(Antarctica). `area_weighted=True` weights rows by cos(latitude) instead. The archive is read
a few frames at a time (memory stays bounded) with float64 sums shifted by a reference value
per variable and level (no catastrophic cancellation).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from forecast.errors import InvalidInputError
from forecast.model.derived_forcings import add_derived_forcings
from forecast.model.normalization import STATS_FILES
from forecast.times import STEP

PROGRESS_VARS = tuple(
    f"{base}{suffix}"
    for base in ("year_progress", "day_progress")
    for suffix in ("", "_sin", "_cos")
)
TIMESTEP = STEP.to_timedelta64()


@dataclass
class _Moments:
    """Shifted running sums of one variable, per level (or one entry for surface fields)."""

    shift: np.ndarray
    total: np.ndarray | float = 0.0
    squares: np.ndarray | float = 0.0
    weight: np.ndarray | float = 0.0

    def add(self, values: np.ndarray, weights: np.ndarray, level_axis: int | None) -> None:
        axes = tuple(i for i in range(values.ndim) if i != level_axis)
        shift = self.shift
        if level_axis is not None:
            shape = [1] * values.ndim
            shape[level_axis] = shift.size
            shift = shift.reshape(shape)
        centred = values.astype(np.float64) - shift
        self.total = self.total + np.sum(centred * weights, axis=axes)
        self.squares = self.squares + np.sum(centred**2 * weights, axis=axes)
        self.weight = self.weight + np.sum(np.broadcast_to(weights, values.shape), axis=axes)

    def mean(self) -> np.ndarray:
        return self.shift + self.total / self.weight

    def stddev(self) -> np.ndarray:
        mean = self.total / self.weight
        return np.sqrt(np.maximum(self.squares / self.weight - mean**2, 0.0))


def _level_axis(array: xr.DataArray) -> int | None:
    return array.dims.index("level") if "level" in array.dims else None


def _weights(array: xr.DataArray, lat_weights: np.ndarray | None) -> np.ndarray:
    """Broadcastable weights for `array`: cos-latitude rows, or 1."""
    if lat_weights is None or "lat" not in array.dims:
        return np.ones((1,) * array.ndim)
    shape = [1] * array.ndim
    shape[array.dims.index("lat")] = lat_weights.size
    return lat_weights.reshape(shape)


def _add(
    store: dict[str, _Moments], name: str, array: xr.DataArray, lat_weights: np.ndarray | None
) -> None:
    values = np.asarray(array.values)
    level = _level_axis(array)
    if name not in store:
        if level is None:
            shift = np.asarray(np.nanmean(values[(0,) * values.ndim]), dtype=np.float64)
        else:
            first = np.moveaxis(values, level, 0).reshape(values.shape[level], -1)[:, 0]
            shift = first.astype(np.float64)
        store[name] = _Moments(shift=shift)
    store[name].add(values, _weights(array, lat_weights), level)


def _with_progress(frames: xr.Dataset) -> xr.Dataset:
    """Adds the six progress features (derived from `time` and `lon`)."""
    return add_derived_forcings(frames, PROGRESS_VARS)


def compute_statistics(
    archive: xr.Dataset,
    *,
    variables_: Sequence[str] | None = None,
    area_weighted: bool = False,
    chunk_times: int = 32,
) -> tuple[xr.Dataset, xr.Dataset, xr.Dataset]:
    """Mean, stddev and 6 h-difference stddev of every variable of a model-layout archive.

    Args:
        archive: model layout (datetime `time`, `level`, `lat`, `lon`), opened lazily.
        variables_: names to include (default: every data variable); progress features are
            always added.
        area_weighted: weight grid rows by cos(latitude) (default: unweighted, as DeepMind).
        chunk_times: frames read at a time.

    Returns:
        `(mean_by_level, stddev_by_level, diffs_stddev_by_level)` datasets in DeepMind's layout.

    Raises:
        InvalidInputError: the archive lacks a datetime `time` axis, has fewer than two frames
            6 h apart, names an unknown variable, or holds NaN.
    """
    if "time" not in archive.dims or not np.issubdtype(archive["time"].dtype, np.datetime64):
        raise InvalidInputError("statistics need an archive with a datetime64 'time' axis")
    names = list(archive.data_vars) if variables_ is None else list(variables_)
    unknown = [n for n in names if n not in archive.data_vars]
    if unknown:
        raise InvalidInputError(f"archive has no variable(s) {unknown}")
    lat_weights = None
    if area_weighted:
        lat_weights = np.cos(np.deg2rad(archive["lat"].values.astype(np.float64)))
        lat_weights = np.maximum(lat_weights, 0.0)
    static = [n for n in names if "time" not in archive[n].dims]
    dynamic = [n for n in names if "time" in archive[n].dims]
    times = archive["time"].values

    means: dict[str, _Moments] = {}
    diffs: dict[str, _Moments] = {}
    for name in static:
        _check_finite(archive[name], name)
        _add(means, name, archive[name], lat_weights)
    previous: xr.Dataset | None = None
    pairs = 0
    for start in range(0, times.size, chunk_times):
        # drop_vars rather than archive[dynamic]: the axes stay even with no variable left.
        frames = archive.drop_vars([n for n in archive.data_vars if n not in dynamic])
        frames = _with_progress(frames.isel(time=slice(start, start + chunk_times)).load())
        for name in frames.data_vars:
            _check_finite(frames[name], name)
            _add(means, name, frames[name], lat_weights)
        # Differences inside the chunk and across its boundary with the previous one.
        joined = frames if previous is None else xr.concat([previous, frames], "time")
        step = np.diff(joined["time"].values)
        ok = np.flatnonzero(step == TIMESTEP)
        if ok.size:
            pairs += ok.size
            later = joined.isel(time=ok + 1)
            earlier = joined.isel(time=ok).assign_coords(time=later["time"].values)
            for name in frames.data_vars:
                _add(diffs, name, later[name] - earlier[name], lat_weights)
        previous = frames.isel(time=[-1])
    if pairs == 0:
        raise InvalidInputError("statistics need at least two archive frames 6 h apart")

    level = archive["level"] if "level" in archive.coords else None
    attrs = {
        "date_start": str(pd.Timestamp(times[0])),
        "date_end": str(pd.Timestamp(times[-1])),
        "timestep_hours": np.int32(6),
        "window_stride": np.int32(1),
        "area_weighted": np.int32(area_weighted),
        "source": str(archive.attrs.get("source", "unknown")),
    }
    return (
        _to_dataset({n: m.mean() for n, m in means.items()}, level, attrs),
        _to_dataset({n: m.stddev() for n, m in means.items()}, level, attrs),
        _to_dataset({n: m.stddev() for n, m in diffs.items()}, level, attrs),
    )


def compute_statistics_dask(
    archive: xr.Dataset,
    *,
    variables_: Sequence[str] | None = None,
    area_weighted: bool = False,
) -> tuple[xr.Dataset, xr.Dataset, xr.Dataset]:
    """`compute_statistics` over a Dask-backed archive, for archives larger than memory.

    Every variable's shifted sums (Σ w·(x − s), Σ w·(x − s)², per level) and those of its 6 h
    differences are Dask reductions computed in one pass on the current scheduler, each worker
    holding a few archive chunks at a time; the progress features (small: time × longitude)
    go through the in-memory path. Results equal `compute_statistics`'s up to the order of
    float64 additions (relative differences ~1e-12).

    Raises:
        InvalidInputError: as `compute_statistics`.
    """
    import dask

    if "time" not in archive.dims or not np.issubdtype(archive["time"].dtype, np.datetime64):
        raise InvalidInputError("statistics need an archive with a datetime64 'time' axis")
    names = list(archive.data_vars) if variables_ is None else list(variables_)
    unknown = [n for n in names if n not in archive.data_vars]
    if unknown:
        raise InvalidInputError(f"archive has no variable(s) {unknown}")
    # Progress features only: the archive's coordinates without its data.
    axes = xr.Dataset(
        coords={d: archive[d] for d in ("time", "lat", "lon") if d in archive.coords},
        attrs=archive.attrs,
    )
    progress = compute_statistics(axes, area_weighted=area_weighted)
    weights = xr.DataArray(1.0)
    if area_weighted:
        lat = archive["lat"].values.astype(np.float64)
        weights = xr.DataArray(np.maximum(np.cos(np.deg2rad(lat)), 0.0), dims="lat")
    times = archive["time"].values
    pairs = np.flatnonzero(np.diff(times) == TIMESTEP)
    lazy: dict[tuple[str, str], tuple] = {}
    for name in names:
        field = archive[name]
        lazy[("mean", name)] = _lazy_sums(field, weights)
        if "time" in field.dims:
            # Differences of neighbours by slicing (few tasks); gaps dropped afterwards.
            values = field.variable
            steps = values.isel(time=slice(1, None)) - values.isel(time=slice(None, -1))
            if pairs.size < steps.sizes["time"]:
                steps = steps.isel(time=pairs)
            lazy[("diff", name)] = _lazy_sums(xr.DataArray(steps), weights)
    (computed,) = dask.compute(lazy)
    means: dict[str, _Moments] = {}
    diffs: dict[str, _Moments] = {}
    for (kind, name), (shift, total, squares, weight, bad) in computed.items():
        if bad:
            raise InvalidInputError(f"archive variable {name!r} holds NaN/inf values")
        store = means if kind == "mean" else diffs
        store[name] = _Moments(shift=shift, total=total, squares=squares, weight=weight)
    level = archive["level"] if "level" in archive.coords else None
    attrs = progress[0].attrs
    results = (
        {n: m.mean() for n, m in means.items()},
        {n: m.stddev() for n, m in means.items()},
        {n: m.stddev() for n, m in diffs.items()},
    )
    return tuple(
        xr.merge([_to_dataset(values, level, attrs), extra], combine_attrs="override")
        for values, extra in zip(results, progress, strict=True)
    )


def _lazy_sums(field: xr.DataArray, weights: xr.DataArray) -> tuple:
    """(shift, Σ w·(x − s), Σ w·(x − s)², Σ w, count of non-finite): Dask sums but Σ w.

    Σ w needs no data: the weights depend on latitude only, so it is their sum times the
    number of other points. Keeping it out of the graph keeps one float64 array per chunk.
    """
    reduce = [d for d in field.dims if d != "level"]
    # The shift: the first grid value (per level), as `_add` takes it.
    first = field.isel({d: 0 for d in reduce}).astype(np.float64)
    centred = field.astype(np.float64) - first
    if weights.ndim and "lat" in field.dims:
        weighted = centred * weights
        total_weight = float(weights.sum()) * field.size / field.sizes["lat"]
    else:
        weighted = centred
        total_weight = float(field.size)
    if "level" in field.dims:
        total_weight = np.full(field.sizes["level"], total_weight / field.sizes["level"])
    return (
        first.data,
        weighted.sum(reduce).data,
        (weighted * centred).sum(reduce).data,
        total_weight,
        (~np.isfinite(field)).sum().data,
    )


def _check_finite(array: xr.DataArray, name: str) -> None:
    if not np.all(np.isfinite(array.values)):
        raise InvalidInputError(f"archive variable {name!r} holds NaN/inf values")


def _to_dataset(
    values: dict[str, np.ndarray], level: xr.DataArray | None, attrs: dict
) -> xr.Dataset:
    data_vars = {}
    for name, value in values.items():
        value = np.asarray(value, dtype=np.float64)
        if value.ndim == 1:
            data_vars[name] = (("level",), value)
        else:
            data_vars[name] = ((), value)
    coords = {}
    if level is not None and any(v.ndim == 1 for v in values.values()):
        coords["level"] = np.asarray(level.values, dtype=np.int32)
    return xr.Dataset(data_vars, coords=coords, attrs=attrs)


def write_statistics(
    stats: tuple[xr.Dataset, xr.Dataset, xr.Dataset], output_dir: str | Path
) -> Path:
    """Writes the three datasets under DeepMind's file names in `output_dir`."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    from forecast.io.atomic import atomic_output

    for dataset, file_name in zip(stats, STATS_FILES.values(), strict=True):
        with atomic_output(output_dir / file_name) as tmp:
            dataset.to_netcdf(tmp)
    return output_dir


def statistics_from_archive(
    archive_path: str | Path,
    output_dir: str | Path,
    *,
    area_weighted: bool = False,
    start: str | None = None,
    end: str | None = None,
) -> Path:
    """Computes the statistics of an archive file (optionally a time span) and writes them.

    Raises:
        InvalidInputError: the archive is missing or unreadable, or as `compute_statistics`.
    """
    archive_path = Path(archive_path)
    if not archive_path.exists():
        raise InvalidInputError(f"archive not found: {archive_path}")
    try:
        archive = xr.open_dataset(archive_path)
    except (OSError, ValueError) as exc:
        raise InvalidInputError(f"archive {archive_path} is unreadable: {exc}") from exc
    with archive:
        if start is not None or end is not None:
            archive = archive.sel(time=slice(start, end))
        stats = compute_statistics(archive, area_weighted=area_weighted)
    return write_statistics(stats, output_dir)
