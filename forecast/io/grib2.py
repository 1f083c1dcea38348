"""GRIB2 forecast files: one message per variable, lead and level, written with ecCodes.

ECMWF's conventions, so that cfgrib, Metview and MARS-style tools read the fields as IFS ones:
every message carries the ECMWF `paramId` (hence `shortName`), `typeOfLevel` and `level`
(2 m / 10 m above ground, mean sea, surface, pressure in hPa), the init time as
`dataDate`/`dataTime` and the lead as `step` in hours. Accumulations (6-h precipitation, 1-h
solar radiation) use product template 4.8 with the step range they cover. Grids are written north
to south (`jScansPositively=0`), as ECMWF does; fields are simple-packed with 16 bits, which
keeps values to within (max − min) / 2¹⁶ of the originals — the GRIB "packing precision".
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from forecast.errors import InvalidInputError
from forecast.io.atomic import atomic_output
from forecast.io.cf import init_time_of_forecast

BITS_PER_VALUE = 16


@dataclass(frozen=True)
class GribParameter:
    """How one ERA5 variable is coded in GRIB2 (ECMWF parameter database).

    Attributes:
        param_id: ECMWF paramId (sets discipline, category and number).
        type_of_level: ecCodes `typeOfLevel` of single-level fields (`isobaricInhPa` otherwise).
        level: the level value of single-level fields (2 for 2 m, 10 for 10 m, else 0).
        accumulation_hours: for accumulations, the period summed up to the valid time.
    """

    param_id: int
    type_of_level: str
    level: int = 0
    accumulation_hours: int = 0


PARAMETERS: dict[str, GribParameter] = {
    "2m_temperature": GribParameter(167, "heightAboveGround", 2),
    "mean_sea_level_pressure": GribParameter(151, "meanSea"),
    "10m_u_component_of_wind": GribParameter(165, "heightAboveGround", 10),
    "10m_v_component_of_wind": GribParameter(166, "heightAboveGround", 10),
    "total_precipitation_6hr": GribParameter(228, "surface", accumulation_hours=6),
    "toa_incident_solar_radiation": GribParameter(212, "nominalTop", accumulation_hours=1),
    "temperature": GribParameter(130, "isobaricInhPa"),
    "geopotential": GribParameter(129, "isobaricInhPa"),
    "u_component_of_wind": GribParameter(131, "isobaricInhPa"),
    "v_component_of_wind": GribParameter(132, "isobaricInhPa"),
    "vertical_velocity": GribParameter(135, "isobaricInhPa"),
    "specific_humidity": GribParameter(133, "isobaricInhPa"),
    "geopotential_at_surface": GribParameter(129, "surface"),
    "land_sea_mask": GribParameter(172, "surface"),
}
_BY_PARAM = {(p.param_id, p.type_of_level): name for name, p in PARAMETERS.items()}


def write_grib2(forecast: xr.Dataset, path: Path) -> Path:
    """Writes a forecast-layout dataset as GRIB2, atomically.

    Raises:
        InvalidInputError: a variable without a GRIB parameter, a grid that is not a regular
            lat/lon grid, or a lead that is not a whole number of hours.
    """
    import eccodes

    unknown = sorted(str(n) for n in forecast.data_vars if n not in PARAMETERS)
    if unknown:
        raise InvalidInputError(f"{path}: no GRIB2 parameter known for variable(s) {unknown}")
    init = init_time_of_forecast(forecast)
    forecast = forecast.sortby("lat", ascending=False)  # north to south, ECMWF's scan order
    lat = forecast["lat"].values.astype(np.float64)
    lon = forecast["lon"].values.astype(np.float64)
    d_lat, d_lon = _increment(lat, "lat", path), _increment(lon, "lon", path)
    lead_hours = _lead_hours(forecast, path)
    sample = eccodes.codes_grib_new_from_samples("GRIB2")
    try:
        _set_grid(sample, lat, lon, d_lat, d_lon)
        eccodes.codes_set(sample, "centre", "ecmf")
        eccodes.codes_set(sample, "dataDate", int(init.strftime("%Y%m%d")))
        eccodes.codes_set(sample, "dataTime", int(init.strftime("%H%M")))
        eccodes.codes_set(sample, "typeOfProcessedData", "fc")
        with atomic_output(path) as tmp, open(tmp, "wb") as out:
            for name, field in forecast.data_vars.items():
                _write_variable(out, sample, PARAMETERS[str(name)], field, lead_hours)
    finally:
        eccodes.codes_release(sample)
    return Path(path)


def _write_variable(
    out, sample: int, parameter: GribParameter, field: xr.DataArray, lead_hours: list[int]
) -> None:
    import eccodes

    levels = field["level"].values.tolist() if "level" in field.dims else [parameter.level]
    times = range(field.sizes["time"]) if "time" in field.dims else [None]
    for i in times:
        for j, level in enumerate(levels):
            values = field
            if i is not None:
                values = values.isel(time=i)
            if "level" in field.dims:
                values = values.isel(level=j)
            message = eccodes.codes_clone(sample)
            try:
                eccodes.codes_set(message, "typeOfLevel", parameter.type_of_level)
                eccodes.codes_set(message, "level", int(level))
                step = lead_hours[i] if i is not None else 0
                if parameter.accumulation_hours:
                    eccodes.codes_set(message, "productDefinitionTemplateNumber", 8)
                    eccodes.codes_set(message, "paramId", parameter.param_id)
                    eccodes.codes_set(message, "stepUnits", "h")
                    eccodes.codes_set(message, "stepType", "accum")
                    eccodes.codes_set(message, "startStep", step - parameter.accumulation_hours)
                    eccodes.codes_set(message, "endStep", step)
                else:
                    eccodes.codes_set(message, "paramId", parameter.param_id)
                    eccodes.codes_set(message, "stepUnits", "h")
                    eccodes.codes_set(message, "step", step)
                eccodes.codes_set(message, "packingType", "grid_simple")
                eccodes.codes_set(message, "bitsPerValue", BITS_PER_VALUE)
                data = np.asarray(values.values, dtype=np.float64)
                if not np.isfinite(data).all():
                    raise InvalidInputError(
                        f"{field.name}: non-finite values cannot be written to GRIB2"
                    )
                eccodes.codes_set_values(message, data.reshape(-1))
                eccodes.codes_write(message, out)
            finally:
                eccodes.codes_release(message)


def _set_grid(message: int, lat, lon, d_lat: float, d_lon: float) -> None:
    import eccodes

    for key, value in (
        ("gridType", "regular_ll"),
        ("Ni", lon.size),
        ("Nj", lat.size),
        ("iScansNegatively", 0),
        ("jScansPositively", 0),
        ("latitudeOfFirstGridPointInDegrees", float(lat[0])),
        ("longitudeOfFirstGridPointInDegrees", float(lon[0])),
        ("latitudeOfLastGridPointInDegrees", float(lat[-1])),
        ("longitudeOfLastGridPointInDegrees", float(lon[-1])),
        ("iDirectionIncrementInDegrees", d_lon),
        ("jDirectionIncrementInDegrees", d_lat),
    ):
        eccodes.codes_set(message, key, value)


def _increment(axis: np.ndarray, name: str, path: Path) -> float:
    if axis.size < 2:
        raise InvalidInputError(f"{path}: GRIB2 needs at least 2 points along {name}")
    steps = np.abs(np.diff(axis))
    if not np.allclose(steps, steps[0], rtol=0, atol=1e-4):
        raise InvalidInputError(
            f"{path}: {name} is not regularly spaced; GRIB2 regular_ll needs it"
        )
    return float(steps[0])


def _lead_hours(forecast: xr.Dataset, path: Path) -> list[int]:
    if "lead_time" in forecast.coords:
        leads = pd.to_timedelta(forecast["lead_time"].values)
    else:
        leads = pd.DatetimeIndex(forecast["time"].values) - init_time_of_forecast(forecast)
    hours = leads / pd.Timedelta(hours=1)
    if not np.allclose(hours, np.round(hours)):
        raise InvalidInputError(f"{path}: leads {list(hours)} h are not whole hours")
    return [int(round(h)) for h in hours]


def read_grib2(path: Path) -> xr.Dataset:
    """A GRIB2 forecast (ours or any ECMWF-coded one of these parameters) → forecast layout.

    GRIB carries no provenance attributes: the result has `init_time` and `source="grib2"`.

    Raises:
        InvalidInputError: corrupt file, unknown parameter, or fields with different init times.
    """
    from forecast.data.grib import open_grib

    fields: dict[str, xr.DataArray] = {}
    for part in open_grib(path):
        for short in part.data_vars:
            attrs = part[short].attrs
            key = (int(attrs.get("GRIB_paramId", -1)), str(attrs.get("GRIB_typeOfLevel", "")))
            if key not in _BY_PARAM:
                raise InvalidInputError(f"{path}: unknown GRIB parameter {short!r} {key}")
            fields[_BY_PARAM[key]] = _to_layout(part[short])
    if not fields:
        raise InvalidInputError(f"{path}: no field")
    inits = {str(f.attrs.pop("_init")) for f in fields.values()}
    if len(inits) != 1:
        raise InvalidInputError(f"{path}: fields have different init times {sorted(inits)}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        ds = xr.Dataset(fields)
    init = pd.Timestamp(inits.pop())
    ds.attrs = {"init_time": init.strftime("%Y-%m-%dT%H:%M:%S"), "source": "grib2"}
    return ds


def _to_layout(field: xr.DataArray) -> xr.DataArray:
    """One cfgrib field (`step`, `isobaricInhPa`, `latitude`…) in the forecast layout."""
    from forecast import variables

    init = pd.Timestamp(field["time"].values)
    if "step" not in field.dims:
        field = field.expand_dims("step")
    if "isobaricInhPa" in field.dims:
        field = field.rename(isobaricInhPa="level")
    elif "isobaricInhPa" in field.coords:
        field = field.expand_dims(level=[field["isobaricInhPa"].values])
    steps = pd.to_timedelta(field["step"].values)
    field = field.drop_vars(
        [c for c in field.coords if c not in ("step", "level", "latitude", "longitude")]
    )
    field = field.rename(step="time", latitude="lat", longitude="lon")
    field = field.assign_coords(
        time=(init + steps).to_numpy().astype("datetime64[ns]"),
        lead_time=("time", steps.to_numpy().astype("timedelta64[ns]")),
        lat=np.round(field["lat"].values, 6).astype(np.float32),
        lon=np.round(np.mod(field["lon"].values, 360.0), 6).astype(np.float32),
    )
    if "level" in field.dims:
        field = field.assign_coords(level=np.round(field["level"].values).astype(np.int32))
    # Our layouts hold levels ascending (GraphCast's order); cfgrib gives them descending.
    field = field.sortby("lat").astype(np.float32)
    if "level" in field.dims:
        field = field.sortby("level")
    name = _BY_PARAM[(int(field.attrs["GRIB_paramId"]), str(field.attrs["GRIB_typeOfLevel"]))]
    if name in variables.STATIC_VARS:
        field = field.isel(time=0, drop=True).drop_vars("lead_time")
    order = [d for d in ("time", "level", "lat", "lon") if d in field.dims]
    field = field.transpose(*order)
    field.attrs = {"units": variables.UNITS.get(name, "1"), "_init": init.isoformat()}
    return field
