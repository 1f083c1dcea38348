"""Adapter from the flows to the data layer: init-time resolution, acquisition, guardrails."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path

import pandas as pd
import xarray as xr

from forecast import variables
from forecast.data import acquire, guardrails
from forecast.errors import InvalidInputError
from forecast.model.config import TASK, TASK_13_PRECIP_OUT

STATS_FILES = ("mean_by_level.nc", "stddev_by_level.nc", "diffs_stddev_by_level.nc")


def _opendata_client(url: str):
    from forecast.data.opendata import OpenDataClient

    if not url:
        raise InvalidInputError("an opendata run needs the open-data server's URL")
    return OpenDataClient(url)


def resolve_init_time(init_time: str | None, *, source: str, opendata_url: str = "") -> dt.datetime:
    """The cycle's init time (aware UTC): `init_time` if given, else the latest available
    (for open data: the newest cycle whose two input cycles are completely published)."""
    if init_time:
        resolved = pd.Timestamp(init_time)
    else:
        client = _opendata_client(opendata_url) if source == "opendata" else None
        resolved = pd.Timestamp(acquire.resolve_init_time(source, opendata_client=client))
    resolved = (
        resolved.tz_localize("UTC") if resolved.tzinfo is None else resolved.tz_convert("UTC")
    )
    if resolved.hour % 6 or resolved.minute or resolved.second:
        raise InvalidInputError(f"init time {resolved.isoformat()} is not on a 6-hourly cycle")
    return resolved.to_pydatetime()


def acquire_inputs(
    init_time: dt.datetime,
    *,
    levels: int,
    grid_deg: float,
    cache_dir: Path,
    source: str,
    opendata_url: str = "",
) -> Path:
    """The example-batch NetCDF holding the two input frames (T−6 h, T) and statics.

    `cache_dir` is the cache root (`var/cache`): ERA5 under `era5/`, open data under
    `opendata/` (with statics from ERA5 when a cycle lacks them).
    """
    opendata = source == "opendata"
    return Path(
        acquire.acquire_inputs(
            init_time.astimezone(dt.UTC).replace(tzinfo=None),
            levels=levels,
            grid_deg=grid_deg,
            cache_dir=Path(cache_dir) / ("opendata" if opendata else "era5"),
            source=source,
            opendata_client=_opendata_client(opendata_url) if opendata else None,
            statics_cache_dir=Path(cache_dir) / "era5" if opendata else None,
        )
    )


def input_origin(path: Path) -> tuple[bool, str]:
    """(synthetic, description) of an inputs file, from its own attributes."""
    with xr.open_dataset(path) as dataset:
        attrs = dict(dataset.attrs)
    source = str(attrs.get("source", "?"))
    parts = [source]
    if source == "ifs-opendata":
        parts.append(f"cycles {', '.join(json.loads(attrs.get('opendata_cycles', '[]')))} UTC")
        parts.append(f"from {attrs.get('opendata_url', '?')}")
        parts.append(f"statics from {attrs.get('statics_source', '?')}")
        parts.append(f"geopotential from {attrs.get('pressure_geopotential', '?')}")
        parts.append(f"regrid {attrs.get('regrid', '?')}")
    return bool(int(attrs.get("synthetic", 0))), "; ".join(parts)


def task_input_variables(checkpoint_path: str, source: str) -> tuple[str, ...]:
    """What the run's model reads: its checkpoint's task, else (persistence, factories) the
    operational task on open data and the ERA5 task otherwise."""
    if checkpoint_path and Path(checkpoint_path).is_file():
        from forecast.model import checkpoint

        return tuple(checkpoint.load(checkpoint_path).task_config.input_variables)
    task = TASK_13_PRECIP_OUT if source == "opendata" else TASK
    return tuple(task.input_variables)


def _stats_dir(stats_dir: Path | None) -> Path | None:
    if stats_dir and all((Path(stats_dir) / name).is_file() for name in STATS_FILES):
        return Path(stats_dir)
    return None


def validate_inputs(
    path: Path,
    *,
    levels: int,
    grid_deg: float,
    stats_dir: Path | None = None,
    input_variables: tuple[str, ...] = tuple(TASK.input_variables),
) -> dict:
    """Runs the guardrails on the inputs file.

    Args:
      path: the example-batch NetCDF.
      levels: number of pressure levels of the run (13, 25 or 37).
      grid_deg: the run's grid spacing.
      stats_dir: normalisation statistics for the magnitude checks (skipped when absent).
      input_variables: what the model reads (`task_input_variables`).

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
        input_variables=input_variables,
        pressure_levels=variables.PRESSURE_LEVELS[levels],
        grid_deg=grid_deg,
        stats=stats,
    )
    return {
        key: value
        for key, value in dataclasses.asdict(report).items()
        if key in ("variables_checked", "levels", "grid_deg", "magnitudes_checked")
    } | {"stats_dir": str(stats) if stats else None}
