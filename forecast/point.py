"""Point forecasts: the time series of a forecast (or of the truth) at one latitude/longitude.

`point_series` interpolates **bilinearly** between the four grid points around the location
(periodic in longitude on a global grid, clamped to the first/last row beyond the outermost
latitudes), so a meteogram moves smoothly as the point moves instead of jumping from cell to
cell. Wind speed and direction are computed from the interpolated u/v components (interpolating
the speed itself would bias it high where the wind turns). Values stay in SI units with CF-style
names; `point_series_to_display` converts them with the map styles (°C, hPa, m/s, mm) so the
meteogram, the maps and the API agree.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import xarray as xr

from forecast.errors import InvalidInputError
from forecast.io.cf import from_cf
from forecast.io.files import open_forecast
from forecast.plots.styles import style_for

WIND_U = "10m_u_component_of_wind"
WIND_V = "10m_v_component_of_wind"
WIND_SPEED = "10m_wind_speed"
WIND_DIRECTION = "10m_wind_direction"
PRECIPITATION = "total_precipitation_6hr"
# The series of a meteogram, in the order it draws them. Wind speed/direction are derived.
POINT_VARIABLES = (
    "2m_temperature",
    "mean_sea_level_pressure",
    WIND_SPEED,
    WIND_DIRECTION,
    PRECIPITATION,
)
# The file variables each series needs.
_SOURCES: dict[str, tuple[str, ...]] = {
    "2m_temperature": ("2m_temperature",),
    "mean_sea_level_pressure": ("mean_sea_level_pressure",),
    WIND_SPEED: (WIND_U, WIND_V),
    WIND_DIRECTION: (WIND_U, WIND_V),
    PRECIPITATION: (PRECIPITATION,),
}
# SI units and CF standard names of the returned variables.
_CF: dict[str, tuple[str, str]] = {
    "2m_temperature": ("K", "air_temperature"),
    "mean_sea_level_pressure": ("Pa", "air_pressure_at_mean_sea_level"),
    WIND_SPEED: ("m s-1", "wind_speed"),
    WIND_DIRECTION: ("degree", "wind_from_direction"),
    PRECIPITATION: ("m", "precipitation_amount"),
}
# (variable, level) of the map style that names and converts each series.
_STYLE_KEYS: dict[str, tuple[str, int | None]] = {
    "2m_temperature": ("2m_temperature", None),
    "mean_sea_level_pressure": ("mean_sea_level_pressure", None),
    WIND_SPEED: ("10m_wind", None),
    PRECIPITATION: ("total_precipitation_6hr", None),
}


def _bracket(axis: np.ndarray, value: float) -> tuple[int, int, float]:
    """Indices (i, j) of the ascending `axis` around `value` and the weight of j (0…1).

    Beyond either end the value is clamped to the end point (weight on one index only).
    """
    if value <= axis[0]:
        return 0, 0, 0.0
    if value >= axis[-1]:
        last = axis.size - 1
        return last, last, 0.0
    j = int(np.searchsorted(axis, value, side="right"))
    i = j - 1
    return i, j, float((value - axis[i]) / (axis[j] - axis[i]))


def _longitude_bracket(lon: np.ndarray, value: float, is_global: bool) -> tuple[int, int, float]:
    """As `_bracket` for longitudes (0…360 sorted), wrapping across 360 → 0 on a global grid."""
    if is_global and (value < lon[0] or value >= lon[-1]):
        span = (lon[0] + 360.0) - lon[-1]
        offset = (value - lon[-1]) % 360.0
        return lon.size - 1, 0, float(offset / span)
    if not is_global and not (lon[0] - 1e-6 <= value <= lon[-1] + 1e-6):
        raise InvalidInputError(
            f"longitude {value:g}° is outside the forecast's grid ({lon[0]:g}…{lon[-1]:g}°E)"
        )
    return _bracket(lon, value)


def _open(forecast: xr.Dataset | str | os.PathLike[str]) -> tuple[xr.Dataset, bool]:
    if isinstance(forecast, xr.Dataset):
        return forecast, False
    path = Path(forecast)
    if not path.exists():
        raise InvalidInputError(f"forecast file {path} does not exist")
    if path.suffix != ".nc":
        return open_forecast(path), True
    # A NetCDF is either a forecast (CF, from forecast.io) or truth frames (the model layout).
    try:
        dataset = xr.open_dataset(path, decode_timedelta=True)
    except (OSError, ValueError) as exc:
        raise InvalidInputError(f"cannot read forecast file {path}: {exc}") from exc
    if "forecast_reference_time" in dataset.variables:
        dataset = from_cf(dataset)
    return dataset, True


def point_series(
    forecast: xr.Dataset | str | os.PathLike[str],
    *,
    lat: float,
    lon: float,
    variables: tuple[str, ...] = POINT_VARIABLES,
) -> xr.Dataset:
    """The series of `variables` at (`lat`, `lon`) over every time of `forecast`, bilinearly.

    Args:
        forecast: a dataset or a NetCDF path in the forecast layout (or the model layout, for
            the truth): dims `(time, [level,] lat, lon)`, lat ascending or descending, lon
            0…360. Only the four surrounding grid columns are read from a file.
        lat: latitude in degrees north, −90…90.
        lon: longitude in degrees east; −180…360 accepted (normalised to 0…360).
        variables: which of `POINT_VARIABLES` to return; those the dataset cannot provide
            are left out (the truth may lack precipitation), but at least one must be there.

    Returns:
        A dataset with dim `time` (valid times; `lead_time` kept where the input has it), one
        float64 variable per series in SI units with `units`/`standard_name`, and attrs
        `lat`, `lon` (asked, lon in 0…360), `method` ("bilinear"), `grid_lat`/`grid_lon` (the
        nearest grid point) and the input's `init_time`, `predictor`, `synthetic`, `source`.

    Raises:
        InvalidInputError: the location is off the globe or outside a regional grid, the
            dataset lacks time/lat/lon or every requested variable, or a name is unknown.
    """
    unknown = [name for name in variables if name not in _SOURCES]
    if unknown:
        raise InvalidInputError(f"unknown point variable(s) {unknown}; known: {POINT_VARIABLES}")
    lat, lon = float(lat), float(lon)
    if not np.isfinite(lat) or not -90.0 <= lat <= 90.0:
        raise InvalidInputError(f"latitude {lat:g} is outside −90…90°")
    if not np.isfinite(lon) or not -180.0 <= lon <= 360.0:
        raise InvalidInputError(f"longitude {lon:g} is outside −180…360°")
    lon = lon % 360.0
    dataset, opened = _open(forecast)
    try:
        return _point_series(dataset, lat=lat, lon=lon, variables=variables)
    finally:
        if opened:
            dataset.close()


def _point_series(
    dataset: xr.Dataset, *, lat: float, lon: float, variables: tuple[str, ...]
) -> xr.Dataset:
    missing_dims = [d for d in ("time", "lat", "lon") if d not in dataset.dims]
    if missing_dims:
        raise InvalidInputError(f"dataset lacks dimension(s) {missing_dims} for a point series")
    wanted = [name for name in variables if all(s in dataset for s in _SOURCES[name])]
    if not wanted:
        raise InvalidInputError(
            f"dataset has none of the variables of a point series ({sorted(set(variables))})"
        )
    lats = np.asarray(dataset["lat"].values, dtype=np.float64)
    lons = np.asarray(dataset["lon"].values, dtype=np.float64) % 360.0
    lat_order, lon_order = np.argsort(lats), np.argsort(lons)
    lat_sorted, lon_sorted = lats[lat_order], lons[lon_order]
    step = float(np.median(np.diff(lon_sorted))) if lon_sorted.size > 1 else 360.0
    is_global = abs(lon_sorted.size * step - 360.0) < step / 2
    i0, i1, wy = _bracket(lat_sorted, lat)
    j0, j1, wx = _longitude_bracket(lon_sorted, lon, is_global)
    rows = [int(lat_order[i0]), int(lat_order[i1])]
    cols = [int(lon_order[j0]), int(lon_order[j1])]
    # Weights of the 2×2 corners (row, col), bilinear in (lat, lon) degrees.
    weights = np.array([[(1 - wy) * (1 - wx), (1 - wy) * wx], [wy * (1 - wx), wy * wx]])

    names = sorted({source for name in wanted for source in _SOURCES[name]})
    corners = dataset[names].isel(lat=rows, lon=cols).load()

    def interpolate(name: str) -> np.ndarray:
        field = corners[name]
        extra = set(field.dims) - {"time", "lat", "lon"}
        if extra:
            raise InvalidInputError(
                f"{name} has dimension(s) {sorted(extra)}; a point series needs (time, lat, lon)"
            )
        values = np.asarray(field.transpose("time", "lat", "lon").values, dtype=np.float64)
        # A NaN corner with zero weight (on a grid line) must not spoil the result.
        return np.where(weights > 0, values, 0.0).reshape(values.shape[0], 4) @ weights.ravel()

    series: dict[str, np.ndarray] = {}
    u = v = None
    if WIND_SPEED in wanted or WIND_DIRECTION in wanted:
        u, v = interpolate(WIND_U), interpolate(WIND_V)
    for name in wanted:
        if name == WIND_SPEED:
            series[name] = np.hypot(u, v)
        elif name == WIND_DIRECTION:
            # Meteorological convention: the direction the wind blows FROM, clockwise from north.
            series[name] = np.mod(np.degrees(np.arctan2(-u, -v)), 360.0)
        else:
            series[name] = interpolate(name)

    coords: dict[str, object] = {"time": dataset["time"].values}
    if "lead_time" in dataset.coords:
        coords["lead_time"] = ("time", dataset["lead_time"].values)
    data_vars = {
        name: (
            "time",
            values,
            {"units": _CF[name][0], "standard_name": _CF[name][1]},
        )
        for name, values in series.items()
    }
    nearest_row = rows[0] if wy < 0.5 else rows[1]
    nearest_col = cols[0] if wx < 0.5 else cols[1]
    attrs = {
        key: dataset.attrs[key]
        for key in ("init_time", "predictor", "checkpoint", "synthetic", "source")
        if key in dataset.attrs
    }
    attrs |= {
        "lat": lat,
        "lon": lon,
        "method": "bilinear",
        "grid_lat": float(lats[nearest_row]),
        "grid_lon": float(lons[nearest_col]),
    }
    return xr.Dataset(data_vars, coords=coords, attrs=attrs)


def point_labels() -> Mapping[str, tuple[str, str]]:
    """(human name, display units) of each point series, e.g. "2 m temperature", "°C"."""
    labels = {}
    for name in POINT_VARIABLES:
        if name == WIND_DIRECTION:
            labels[name] = ("10 m wind direction", "°")
        else:
            style = style_for(*_STYLE_KEYS[name])
            labels[name] = (
                f"{style.label} speed" if name == WIND_SPEED else style.label,
                style.units,
            )
    return labels


def point_series_to_display(series: xr.Dataset) -> xr.Dataset:
    """`series` in display units (°C, hPa, m/s, mm, °) with human `long_name`s.

    Uses the map styles (`forecast.plots.styles.style_for`), the one home of display units.
    Precipitation below zero (a model's rounding) is shown as 0 mm.
    """
    labels = point_labels()
    converted = {}
    for name, field in series.data_vars.items():
        label, units = labels.get(name, (name.replace("_", " "), field.attrs.get("units", "")))
        if name in _STYLE_KEYS:
            values = style_for(*_STYLE_KEYS[name]).to_display(field.values)
        else:
            values = np.asarray(field.values, dtype=np.float64)
        if name == PRECIPITATION:
            values = np.maximum(values, 0.0)
        converted[name] = (field.dims, values, {"units": units, "long_name": label})
    return xr.Dataset(converted, coords=series.coords, attrs=series.attrs)
