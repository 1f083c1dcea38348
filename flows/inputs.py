"""Adapter from the flows to the data layer: init-time resolution, acquisition, validation.

Uses `forecast.data.acquire` when it is installed; until then a minimal synthetic-only path (`synthetic_era5` + `to_example_batch`) and basic checks stand
in, and log that they do.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.util
import logging
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from forecast import variables
from forecast.errors import DataUnavailableError, InvalidInputError

logger = logging.getLogger(__name__)


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def resolve_init_time(init_time: str | None, *, source: str) -> dt.datetime:
    """The cycle's init time (aware UTC): `init_time` if given, else the latest one available."""
    if init_time:
        resolved = pd.Timestamp(init_time)
    else:
        # The synthetic world exists for any time: the latest 6-hourly cycle.
        resolved = pd.Timestamp.now(tz="UTC").floor("6h")
    resolved = pd.Timestamp(resolved)
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
    level_values = tuple(variables.PRESSURE_LEVELS[levels])
    naive = init_time.replace(tzinfo=None)
    if _has("forecast.data.acquire"):
        from forecast.data import acquire

        return Path(
            acquire.acquire_inputs(
                naive, levels=level_values, grid_deg=grid_deg, cache_dir=cache_dir, source=source
            )
        )
    if source != "synthetic":
        raise DataUnavailableError("CDS acquisition (forecast.data.acquire) is not installed yet")
    logger.warning("forecast.data.acquire missing: using the flows' synthetic stand-in")
    from forecast.data.layout import to_example_batch
    from forecast.data.synthetic import synthetic_era5

    key = hashlib.sha256(f"{naive.isoformat()}|{levels}|{grid_deg}".encode()).hexdigest()[:16]
    path = Path(cache_dir) / "synthetic" / f"inputs-{naive:%Y%m%dT%H}-{key}.nc"
    if not path.exists():
        times = [naive - dt.timedelta(hours=6), naive]
        dataset = to_example_batch(synthetic_era5(times, grid_deg=grid_deg, levels=level_values))
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        os.close(handle)
        dataset.to_netcdf(tmp)
        os.replace(tmp, path)
    return path


def validate_inputs(path: Path, *, init_time: dt.datetime, grid_deg: float) -> None:
    """Raises InvalidInputError naming the culprit when the inputs cannot be forecast from."""
    from forecast.data.layout import from_example_batch

    if not Path(path).is_file():
        raise InvalidInputError(f"input file {path} does not exist")
    try:
        with xr.open_dataset(path) as raw:
            data = from_example_batch(raw.load())
    except (OSError, ValueError) as exc:
        raise InvalidInputError(f"input file {path} is unreadable: {exc}") from exc
    last = pd.Timestamp(data["time"].values[-1])
    if last != pd.Timestamp(init_time.replace(tzinfo=None)):
        raise InvalidInputError(f"{path}: last input time {last} is not the init time {init_time}")
    for name in variables.TARGET_SURFACE_VARS + variables.TARGET_ATMOSPHERIC_VARS:
        if name not in data:
            raise InvalidInputError(f"{path}: variable {name!r} is missing")
        if not np.isfinite(data[name].values).all():
            raise InvalidInputError(f"{path}: variable {name!r} has NaN or infinite values")
    spacing = float(abs(data["lat"].values[1] - data["lat"].values[0]))
    if not np.isclose(spacing, grid_deg):
        raise InvalidInputError(f"{path}: grid spacing {spacing}° is not the run's {grid_deg}°")
