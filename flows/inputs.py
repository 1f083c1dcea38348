"""Adapter from the flows to the data layer: init-time resolution, acquisition, guardrails."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pandas as pd
import xarray as xr

from forecast import variables
from forecast.data import acquire, guardrails
from forecast.errors import InvalidInputError
from forecast.model.config import TASK

STATS_FILES = ("mean_by_level.nc", "stddev_by_level.nc", "diffs_stddev_by_level.nc")


def resolve_init_time(init_time: str | None, *, source: str) -> dt.datetime:
    """The cycle's init time (aware UTC): `init_time` if given, else the latest available."""
    if init_time:
        resolved = pd.Timestamp(init_time)
    else:
        resolved = pd.Timestamp(acquire.resolve_init_time(source))
    resolved = (
        resolved.tz_localize("UTC") if resolved.tzinfo is None else resolved.tz_convert("UTC")
    )
    if resolved.hour % 6 or resolved.minute or resolved.second:
        raise InvalidInputError(f"init time {resolved.isoformat()} is not on a 6-hourly cycle")
    return resolved.to_pydatetime()


def acquire_inputs(
    init_time: dt.datetime, *, levels: int, grid_deg: float, cache_dir: Path, source: str
) -> Path:
    """The example-batch NetCDF holding the two input frames (T−6 h, T) and statics."""
    return Path(
        acquire.acquire_inputs(
            init_time.astimezone(dt.UTC).replace(tzinfo=None),
            levels=levels,
            grid_deg=grid_deg,
            cache_dir=cache_dir,
            source=source,
        )
    )


def _stats_dir(stats_dir: Path | None) -> Path | None:
    if stats_dir and all((Path(stats_dir) / name).is_file() for name in STATS_FILES):
        return Path(stats_dir)
    return None


def validate_inputs(
    path: Path, *, levels: int, grid_deg: float, stats_dir: Path | None = None
) -> dict:
    """Runs the guardrails on the inputs file.

    Args:
      path: the example-batch NetCDF.
      levels: number of pressure levels of the run (13, 25 or 37).
      grid_deg: the run's grid spacing.
      stats_dir: normalisation statistics for the magnitude checks (skipped when absent).

    Returns:
      What was checked, for the run's lineage.

    Raises:
      InvalidInputError: listing every problem (missing variable, NaN, wrong grid, ...).
    """
    if not Path(path).is_file():
        raise InvalidInputError(f"input file {path} does not exist")
    try:
        dataset = xr.load_dataset(path)
    except (OSError, ValueError) as exc:
        raise InvalidInputError(f"input file {path} is unreadable: {exc}") from exc
    stats = _stats_dir(stats_dir)
    report = guardrails.check_inputs(
        dataset,
        input_variables=TASK.input_variables,
        pressure_levels=variables.PRESSURE_LEVELS[levels],
        grid_deg=grid_deg,
        stats=stats,
    )
    return {
        key: value
        for key, value in dataclasses.asdict(report).items()
        if key in ("variables_checked", "levels", "grid_deg", "magnitudes_checked")
    } | {"stats_dir": str(stats) if stats else None}
