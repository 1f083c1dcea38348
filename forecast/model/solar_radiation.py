"""TOA incident solar radiation (ERA5 `tisr`) computed from the valid time, per SPEC §5.2.

The flux is integrated over the hour ending at each timestamp (J m⁻²). Like the reference the
orbital and geometric arithmetic is float32 (the J2000 day count is rounded to float32 first),
evaluated with JAX so that the rounding matches; see SPEC §15.13.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from forecast.errors import InvalidInputError

# Yearly total solar irradiance (W m⁻²) of ECMWF IFS cycle 41r2, which ERA5 uses, at mid-year
# 1951.5 … 1995.5; from 1996 on the IFS repeats the 13-year solar cycle 1996–2008.
_IFS_CY41R2_TSI_1951_1995 = (
    1365.7765, 1365.7676, 1365.6284, 1365.6564, 1365.7773, 1366.3109, 1366.6681, 1366.6328,
    1366.3828, 1366.2767, 1365.9199, 1365.7484, 1365.6963, 1365.6976, 1365.7341, 1365.9178,
    1366.1143, 1366.1644, 1366.2476, 1366.2426, 1365.9580, 1366.0525, 1365.7991, 1365.7271,
    1365.5345, 1365.6453, 1365.8331, 1366.2747, 1366.6348, 1366.6482, 1366.6951, 1366.2859,
    1366.1992, 1365.8103, 1365.6416, 1365.6379, 1365.7899, 1366.0826, 1366.6479, 1366.5533,
    1366.4457, 1366.3021, 1366.0286, 1365.7971, 1365.6996,
)  # fmt: skip
_IFS_CY41R2_TSI_1996_2008 = (
    1365.6121, 1365.7399, 1366.1021, 1366.3851, 1366.6836, 1366.6022, 1366.6807, 1366.2300,
    1366.0480, 1365.8545, 1365.8107, 1365.7240, 1365.6918,
)  # fmt: skip
# ERA5 scales the IFS values by 0.9965 (its TSI is ~1361 W m⁻², not ~1366).
ERA5_TSI_SCALE = 0.9965
# The table the reference interpolates: 1951.5 … 2034.5, the cycle repeated for 2009–2034.
TSI_YEARS = np.arange(1951.5, 2035.0, 1.0)
TSI_VALUES = ERA5_TSI_SCALE * np.array(
    _IFS_CY41R2_TSI_1951_1995 + 3 * _IFS_CY41R2_TSI_1996_2008, dtype=np.float64
)

SECONDS_PER_DAY = 86400
_J2000_UNIX_SECONDS = 946_728_000  # 2000-01-01T12:00 UTC, Julian date 2451545.0
_INTEGRATION_HOURS = 1
_NUM_BINS = 360  # 361 samples, trapezoid with dx = 10 s
# Bound on time × lat × lon × sample flux values per call: ~0.5 GB of float32 at most.
_MAX_FLUX_ELEMENTS = 2**27


def _as_datetime64(times: object) -> np.ndarray:
    """Timestamps as a 1-D datetime64[ns] array, or a clear error."""
    values = np.atleast_1d(np.asarray(times))
    if np.issubdtype(values.dtype, np.datetime64):
        return values.astype("datetime64[ns]").reshape(-1)
    if values.dtype.kind not in "OUS":  # numbers are not times: refuse rather than guess a unit
        raise InvalidInputError(f"TISR needs datetime64 timestamps, got {values.dtype}")
    try:
        return np.asarray(values, dtype="datetime64[ns]").reshape(-1)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"TISR needs datetime64 timestamps, got {values.dtype}") from exc


def total_solar_irradiance(times: object) -> np.ndarray:
    """ERA5's total solar irradiance at each timestamp (W m⁻²), float64.

    Linear interpolation in fractional year (`year + (day_of_year − 1 + day_fraction) / days
    in the year`) of `TSI_VALUES`, clamped outside 1951.5 … 2034.5.

    Args:
        times: array-like of datetime64.

    Returns:
        float64 array `[time]`.
    """
    times = _as_datetime64(times)
    year_start = times.astype("datetime64[Y]")
    day_start = times.astype("datetime64[D]")
    year = year_start.astype(np.int64) + 1970
    day_of_year = (day_start - year_start.astype("datetime64[D]")).astype(np.int64) + 1
    day_fraction = (times - day_start).astype(np.int64) / (SECONDS_PER_DAY * 1e9)
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    days_in_year = np.where(leap, 366, 365)
    fractional_year = year + (day_of_year - 1 + day_fraction) / days_in_year
    return np.interp(fractional_year, TSI_YEARS, TSI_VALUES)


def j2000_days(times: object) -> np.ndarray:
    """Days since J2000.0 (2000-01-01T12:00 UTC), float64 `[time]`."""
    seconds = _as_datetime64(times).astype("datetime64[s]").astype(np.int64)
    sub_seconds = (_as_datetime64(times) - seconds.astype("datetime64[s]")).astype(np.int64)
    return ((seconds - _J2000_UNIX_SECONDS) + sub_seconds / 1e9) / SECONDS_PER_DAY


def _validate_axis(name: str, values: np.ndarray, bound: float) -> np.ndarray:
    values = np.asarray(values)
    if values.ndim != 1 or values.size == 0:
        raise InvalidInputError(f"TISR needs a non-empty 1-D {name} axis, got shape {values.shape}")
    if not np.all(np.isfinite(values)) or np.abs(values).max() > bound:
        raise InvalidInputError(f"TISR: {name} values must be finite and within ±{bound}")
    return values.astype(np.float32)


@jax.jit
def _separable_terms(
    days: jax.Array, tsi: jax.Array, lat: jax.Array, lon: jax.Array
) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """The factors of the flux that depend on time and one of lat or lon only.

    sin(alt) = (cos φ · cos δ) · cos h + sin φ · sin δ, so the flux at (lat, lon, sample) is
    built from `[time, lat, sample]` and `[time, lon, sample]` arrays. Materialising them keeps
    XLA from re-evaluating the trigonometry for every grid point (30× slower at 0.25°).

    Returns:
        `scaled_tsi [time, sample]` (TSI / r²), `a = cos φ cos δ` and `b = sin φ sin δ`
        `[time, lat, sample]`, `cos_h [time, lon, sample]`; all float32.
    """
    # Sample times from one hour before to the timestamp, in days (float32 like the reference).
    # Explicit float32 so that the result does not depend on jax_enable_x64.
    k = np.arange(_NUM_BINS + 1, dtype=np.float32)
    offsets = (k / np.float32(_NUM_BINS) - np.float32(1)) * np.float32(_INTEGRATION_HOURS / 24)
    t = days[:, None] + jnp.asarray(offsets)[None, :]  # [time, sample]

    theta = t / 365.25
    rotational_phase = jnp.mod(t, 1.0)
    rel = 1.7535 + 6.283076 * theta
    rem = 6.240041 + 6.283020 * theta
    rlls = 4.8951 + 6.283076 * theta
    rllls = (
        4.8952
        + 6.283320 * theta
        - 0.0075 * jnp.sin(rel)
        - 0.0326 * jnp.cos(rel)
        - 0.0003 * jnp.sin(2 * rel)
        + 0.0002 * jnp.cos(2 * rel)
    )
    sin_dec = jnp.sin(jnp.float32(0.409093)) * jnp.sin(rllls)
    cos_dec = jnp.sqrt(1 - sin_dec * sin_dec)
    eq_of_time_seconds = (
        591.8 * jnp.sin(2 * rlls)
        - 459.4 * jnp.sin(rem)
        + 39.5 * jnp.sin(rem) * jnp.cos(2 * rlls)
        - 12.7 * jnp.sin(4 * rlls)
        - 4.8 * jnp.sin(2 * rem)
    )
    distance_au = 1.0001 - 0.0163 * jnp.sin(rel) + 0.0037 * jnp.cos(rel)
    solar_phase = rotational_phase + eq_of_time_seconds / SECONDS_PER_DAY
    scaled_tsi = tsi[:, None] * (1 / distance_au) ** 2

    lat_rad = jnp.radians(lat)[None, :, None]
    lon_rad = jnp.radians(lon)[None, :, None]
    hour_angle = 2 * jnp.pi * solar_phase[:, None, :] + lon_rad
    a = jnp.cos(lat_rad) * cos_dec[:, None, :]
    b = jnp.sin(lat_rad) * sin_dec[:, None, :]
    return scaled_tsi, a, b, jnp.cos(hour_angle)


@jax.jit
def _integrate(scaled_tsi: jax.Array, a: jax.Array, b: jax.Array, cos_h: jax.Array) -> jax.Array:
    """Trapezoid integral over the samples of TSI/r² · max(sin alt, 0): `[time, lat, lon]`."""
    sin_altitude = a[:, :, None, :] * cos_h[:, None, :, :] + b[:, :, None, :]
    flux = scaled_tsi[:, None, None, :] * jnp.maximum(sin_altitude, 0.0)
    dx_seconds = _INTEGRATION_HOURS * 3600 / _NUM_BINS
    return jax.scipy.integrate.trapezoid(flux, dx=dx_seconds, axis=-1)


def _padded_chunks(size: int, chunk: int) -> list[tuple[int, int, np.ndarray]]:
    """(start, stop, indices) per chunk; the last is padded by repetition to the common size
    so that jit compiles one shape only."""
    return [
        (start, min(start + chunk, size), np.minimum(np.arange(start, start + chunk), size - 1))
        for start in range(0, size, chunk)
    ]


def toa_incident_solar_radiation(times: object, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """TOA incident solar radiation accumulated over the hour ending at each time.

    Memory is bounded: the per-sample flux is evaluated for at most `_MAX_FLUX_ELEMENTS` values
    at a time, chunking over time and, for fine grids (0.25°), latitude rows. Time chunks do not
    change the values; latitude chunks may change a few values by a few float32 ulp (XLA sums the
    samples in a shape-dependent order).

    Args:
        times: array-like of datetime64 (valid times, UTC), shape `[time]`.
        lat: latitudes in degrees, `[N_lat]` (any order).
        lon: longitudes in degrees, `[N_lon]`.

    Returns:
        float32 array `[time, N_lat, N_lon]` in J m⁻².

    Raises:
        InvalidInputError: if the times are not datetimes or lat/lon are malformed.
    """
    times = _as_datetime64(times)
    lat = _validate_axis("lat", lat, 90.0)
    lon = _validate_axis("lon", lon, 720.0)
    # The reference hands the day count to JAX with x64 off: it is float32 from here on.
    days = j2000_days(times).astype(np.float32)
    tsi = total_solar_irradiance(times).astype(np.float32)

    samples = _NUM_BINS + 1
    per_time = lat.size * lon.size * samples
    time_chunk = min(times.size, max(1, _MAX_FLUX_ELEMENTS // per_time))
    lat_chunk = min(lat.size, max(1, _MAX_FLUX_ELEMENTS // (lon.size * samples)))
    out = np.empty((times.size, lat.size, lon.size), dtype=np.float32)
    for t0, t1, t_idx in _padded_chunks(times.size, time_chunk):
        scaled_tsi, a, b, cos_h = _separable_terms(days[t_idx], tsi[t_idx], lat, lon)
        for y0, y1, y_idx in _padded_chunks(lat.size, lat_chunk):
            result = _integrate(scaled_tsi, a[:, y_idx], b[:, y_idx], cos_h)
            out[t0:t1, y0:y1] = np.asarray(result)[: t1 - t0, : y1 - y0]
    return out


def toa_incident_solar_radiation_dataarray(
    times: object, lat: np.ndarray, lon: np.ndarray
) -> xr.DataArray:
    """`toa_incident_solar_radiation` as a DataArray with dims `(time, lat, lon)`.

    Args:
        times: array-like of datetime64 valid times.
        lat: latitudes in degrees.
        lon: longitudes in degrees.

    Returns:
        float32 DataArray named `toa_incident_solar_radiation`, units J m**-2.
    """
    times = _as_datetime64(times)
    values = toa_incident_solar_radiation(times, lat, lon)
    return xr.DataArray(
        values,
        dims=("time", "lat", "lon"),
        coords={"time": times, "lat": np.asarray(lat), "lon": np.asarray(lon)},
        name="toa_incident_solar_radiation",
        attrs={"units": "J m**-2", "long_name": "TOA incident solar radiation"},
    )
