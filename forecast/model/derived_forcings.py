"""Forcings derived from the valid time: year/day progress features and, when absent, TISR.

The float32/float64 rules follow SPEC §5.1 exactly, so the features are bit-identical to the
reference's (`vectors/A/derived_forcings.nc`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import numpy as np
import xarray as xr

from forecast.errors import InvalidInputError

logger = logging.getLogger(__name__)

YEAR_PROGRESS = "year_progress"
DAY_PROGRESS = "day_progress"
TISR = "toa_incident_solar_radiation"
# Every name that triggers the progress-feature derivation (SPEC §4 step 2).
DERIVED_PROGRESS_VARS = frozenset(
    f"{base}{suffix}" for base in (YEAR_PROGRESS, DAY_PROGRESS) for suffix in ("", "_sin", "_cos")
)

SECONDS_PER_DAY = 86400
# Mean tropical year in days, as the reference uses.
AVG_DAYS_PER_YEAR = 365.24219


def seconds_since_epoch(datetimes: np.ndarray) -> np.ndarray:
    """Whole seconds since 1970-01-01T00:00 (truncated), as int64.

    Args:
        datetimes: datetime64 array of any shape and unit.

    Returns:
        int64 array of the same shape.

    Raises:
        InvalidInputError: if the values are not datetime64.
    """
    datetimes = np.asarray(datetimes)
    if not np.issubdtype(datetimes.dtype, np.datetime64):
        raise InvalidInputError(f"expected datetime64 values, got dtype {datetimes.dtype}")
    return datetimes.astype("datetime64[s]").astype(np.int64)


def year_progress(seconds: np.ndarray) -> np.ndarray:
    """Fraction of the (mean tropical) year elapsed since the epoch, float32 in [0, 1).

    Args:
        seconds: int64 seconds since the Unix epoch, any shape.

    Returns:
        float32 array of the same shape (computed in float64, then rounded).
    """
    years = np.asarray(seconds, dtype=np.int64) / SECONDS_PER_DAY / AVG_DAYS_PER_YEAR
    return np.mod(years, 1.0).astype(np.float32)


def day_progress(seconds: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Local-solar-time fraction of the day at each longitude, float32 in [0, 1).

    Args:
        seconds: int64 seconds since the Unix epoch, shape `S`.
        lon: longitudes in degrees (cast to float32), shape `[N_lon]`.

    Returns:
        float32 array of shape `S + (N_lon,)`.
    """
    seconds = np.asarray(seconds, dtype=np.int64)
    day_fraction = np.mod(seconds, SECONDS_PER_DAY) / SECONDS_PER_DAY  # float64
    # The longitude offset is float32 (from float32 lon); the sum and modulo are float64.
    lon_fraction = np.deg2rad(np.asarray(lon, dtype=np.float32)) / np.float32(2 * np.pi)
    progress = np.mod(day_fraction[..., np.newaxis] + lon_fraction, 1.0)
    return progress.astype(np.float32)


def progress_sin_cos(progress: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """sin(2π·p) and cos(2π·p), evaluated in float32 like the reference.

    Args:
        progress: float32 progress values in [0, 1).

    Returns:
        `(sin, cos)`, float32 arrays of the same shape.
    """
    angle = np.asarray(progress, dtype=np.float32) * np.float32(2 * np.pi)
    return np.sin(angle), np.cos(angle)


def _datetime_coord(dataset: xr.Dataset) -> xr.DataArray:
    """The absolute valid times: the `datetime` coordinate, or a datetime64 `time` axis."""
    if "datetime" in dataset.coords:
        return dataset.coords["datetime"]
    if "time" in dataset.coords and np.issubdtype(dataset["time"].dtype, np.datetime64):
        return dataset.coords["time"]
    raise InvalidInputError(
        "cannot derive forcings: the dataset has no 'datetime' coordinate "
        "(dims (batch, time)) and its 'time' axis is not datetime64"
    )


def _progress_family(
    name: str, values: np.ndarray, dims: tuple[str, ...], coords: dict
) -> dict[str, xr.DataArray]:
    """The plain, `_sin` and `_cos` variables of one progress feature."""
    sin, cos = progress_sin_cos(values)
    return {
        name: xr.DataArray(values, dims=dims, coords=coords),
        f"{name}_sin": xr.DataArray(sin, dims=dims, coords=coords),
        f"{name}_cos": xr.DataArray(cos, dims=dims, coords=coords),
    }


def add_derived_forcings(dataset: xr.Dataset, forcing_names: Iterable[str]) -> xr.Dataset:
    """Add the progress features and TISR a task asks for (SPEC §4 steps 2–3).

    Progress features are added when any of the six progress names is requested; a family
    (`year_progress*` or `day_progress*`) is (re)computed whole unless its plain variable is
    already present. TISR is computed only when requested and absent: values in the data win.

    Args:
        dataset: example-batch layout (a `datetime` coordinate with dims `(batch, time)`) or
            model layout (a datetime64 `time` axis); needs `lon` (and `lat` for TISR).
        forcing_names: the task's forcing variable names.

    Returns:
        A new dataset with the derived variables added: `year_progress*` with the datetime's
        dims, `day_progress*` with those dims plus `lon`, TISR with those plus `(lat, lon)`.

    Raises:
        InvalidInputError: if the valid times or the lat/lon axes needed are missing.
    """
    forcing_names = set(forcing_names)
    want_progress = bool(forcing_names & DERIVED_PROGRESS_VARS)
    want_tisr = TISR in forcing_names and TISR not in dataset.data_vars
    if not (want_progress or want_tisr):
        return dataset

    datetime = _datetime_coord(dataset)
    seconds = seconds_since_epoch(datetime.values)
    dims = datetime.dims
    coords = {d: dataset.coords[d] for d in dims if d in dataset.coords}
    new_vars: dict[str, xr.DataArray] = {}
    if want_progress and YEAR_PROGRESS not in dataset.data_vars:
        new_vars |= _progress_family(YEAR_PROGRESS, year_progress(seconds), dims, coords)
    if want_progress and DAY_PROGRESS not in dataset.data_vars:
        lon = _axis(dataset, "lon")
        values = day_progress(seconds, lon.values)
        new_vars |= _progress_family(DAY_PROGRESS, values, (*dims, "lon"), coords | {"lon": lon})
    if want_tisr:
        # Imported here: the solar model pulls in JAX, which progress features do not need.
        from forecast.model.solar_radiation import toa_incident_solar_radiation

        lat, lon = _axis(dataset, "lat"), _axis(dataset, "lon")
        # Not in the data: computed from the formula, and the variable says so.
        logger.info("deriving %s for %d valid times (absent from the data)", TISR, datetime.size)
        flat = toa_incident_solar_radiation(datetime.values.reshape(-1), lat.values, lon.values)
        values = flat.reshape(datetime.shape + flat.shape[1:])
        new_vars[TISR] = xr.DataArray(
            values,
            dims=(*dims, "lat", "lon"),
            coords=coords | {"lat": lat, "lon": lon},
            attrs={"units": "J m**-2", "derived": "forecast.model.solar_radiation"},
        )
    return dataset.assign(new_vars)


def _axis(dataset: xr.Dataset, name: str) -> xr.DataArray:
    """A 1-D `lat`/`lon` coordinate, or a clear error naming it."""
    if name not in dataset.coords or dataset.coords[name].ndim != 1:
        raise InvalidInputError(f"cannot derive forcings: the dataset has no 1-D '{name}' axis")
    return dataset.coords[name]
