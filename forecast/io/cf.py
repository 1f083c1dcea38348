"""CF-1.11 metadata of forecast files, and the way back to the forecast layout.

The forecast layout (docs/design.md) keeps its init time as a string attribute and its variables
with `units` only. Files for the pangeo and ECMWF ecosystems need more: every variable and axis
with `standard_name`, `long_name`, `units` (and `axis` on the axes), the init time as a
`forecast_reference_time` coordinate and the lead as a `forecast_period` coordinate. `to_cf`
adds that, `from_cf` removes it again, so `from_cf(to_cf(forecast))` equals the forecast.

Standard names are from the CF standard name table v86; long names follow ECMWF's parameter
database wording.
"""

from __future__ import annotations

import datetime as dt
from importlib import metadata

import numpy as np
import pandas as pd
import xarray as xr

from forecast.errors import InvalidInputError

CONVENTIONS = "CF-1.11"

# ERA5 long name → (CF standard_name, long_name). Units stay those of `forecast.variables.UNITS`.
VARIABLES: dict[str, tuple[str, str]] = {
    "2m_temperature": ("air_temperature", "2 metre temperature"),
    "mean_sea_level_pressure": ("air_pressure_at_mean_sea_level", "Mean sea level pressure"),
    "10m_u_component_of_wind": ("eastward_wind", "10 metre U wind component"),
    "10m_v_component_of_wind": ("northward_wind", "10 metre V wind component"),
    # Metres of water equivalent: the "lwe_thickness" form of precipitation_amount (kg m-2).
    "total_precipitation_6hr": (
        "lwe_thickness_of_precipitation_amount",
        "Total precipitation in the 6 hours ending at the valid time",
    ),
    "toa_incident_solar_radiation": (
        "integral_wrt_time_of_toa_incoming_shortwave_flux",
        "TOA incident solar radiation in the hour ending at the valid time",
    ),
    "temperature": ("air_temperature", "Temperature"),
    "geopotential": ("geopotential", "Geopotential"),
    "u_component_of_wind": ("eastward_wind", "U component of wind"),
    "v_component_of_wind": ("northward_wind", "V component of wind"),
    "vertical_velocity": ("lagrangian_tendency_of_air_pressure", "Vertical velocity"),
    "specific_humidity": ("specific_humidity", "Specific humidity"),
    "geopotential_at_surface": ("surface_geopotential", "Geopotential at the surface"),
    "land_sea_mask": ("land_binary_mask", "Land-sea mask"),
}
# Accumulations: CF cell_methods saying over which period the field is summed.
CELL_METHODS = {
    "total_precipitation_6hr": "time: sum (interval: 6 hours)",
    "toa_incident_solar_radiation": "time: sum (interval: 1 hour)",
}

AXES: dict[str, dict[str, str]] = {
    # UTC times as counted by numpy/pandas: no leap seconds.
    "time": {
        "standard_name": "time",
        "long_name": "valid time (UTC)",
        "axis": "T",
        "units_metadata": "leap_seconds: none",
    },
    "lat": {
        "standard_name": "latitude",
        "long_name": "latitude",
        "units": "degrees_north",
        "axis": "Y",
    },
    "lon": {
        "standard_name": "longitude",
        "long_name": "longitude",
        "units": "degrees_east",
        "axis": "X",
    },
    "level": {
        "standard_name": "air_pressure",
        "long_name": "pressure level",
        "units": "hPa",
        "positive": "down",
        "axis": "Z",
    },
    "lead_time": {"standard_name": "forecast_period", "long_name": "lead time"},
    "forecast_reference_time": {
        "standard_name": "forecast_reference_time",
        "long_name": "initialisation time (UTC)",
        "units_metadata": "leap_seconds: none",
    },
}
TIME_UNITS = "hours since 1970-01-01 00:00:00"

# Layout attrs kept as global attributes. The layout's `source` (where the initial conditions
# came from) would clash with CF's `source` (how the data were produced): it is stored as
# `input_source`.
LAYOUT_ATTRS = (
    "predictor",
    "checkpoint",
    "checkpoint_sha256",
    "checkpoint_description",
    "synthetic",
)
INPUT_SOURCE = "input_source"
# Global attributes `to_cf` writes and `from_cf` drops.
CF_GLOBALS = ("Conventions", "title", "institution", "source", "history", "references", "comment")


def package_version() -> str:
    """The installed version of this project (`forecast --version`, file `history`)."""
    try:
        return metadata.version("gcforecast")
    except metadata.PackageNotFoundError:  # running from a source tree that is not installed
        return "0+unknown"


def init_time_of_forecast(forecast: xr.Dataset) -> pd.Timestamp:
    """The init time of a forecast-layout dataset: its `init_time` attr or valid − lead time.

    Raises:
        InvalidInputError: if neither tells it.
    """
    if "forecast_reference_time" in forecast.coords:
        return pd.Timestamp(forecast["forecast_reference_time"].values)
    if "init_time" in forecast.attrs:
        return pd.Timestamp(str(forecast.attrs["init_time"])).tz_localize(None)
    if "lead_time" in forecast.coords and "time" in forecast.coords:
        valid = pd.Timestamp(forecast["time"].values[0])
        return valid - pd.Timedelta(forecast["lead_time"].values[0])
    raise InvalidInputError(
        "forecast has no init time (no init_time attr, forecast_reference_time or lead_time)"
    )


def to_cf(forecast: xr.Dataset) -> xr.Dataset:
    """The forecast with CF-1.11 metadata (attrs only: values, dims and dtypes unchanged).

    Raises:
        InvalidInputError: if a variable has no CF standard name here, or no init time.
    """
    unknown = sorted(str(n) for n in forecast.data_vars if n not in VARIABLES)
    if unknown:
        raise InvalidInputError(f"no CF standard name known for variable(s) {unknown}")
    init = init_time_of_forecast(forecast)
    ds = forecast.assign_coords(forecast_reference_time=np.datetime64(init, "ns"))
    for name, attrs in AXES.items():
        if name in ds.coords:
            ds[name].attrs = dict(attrs)
    for name in ds.data_vars:
        standard_name, long_name = VARIABLES[str(name)]
        attrs = {
            "standard_name": standard_name,
            "long_name": long_name,
            "units": forecast[name].attrs.get("units", _units(str(name))),
        }
        if attrs["units"] == "K":
            attrs["units_metadata"] = "temperature: on_scale"  # kelvin values, not differences
        if name in CELL_METHODS:
            attrs["cell_methods"] = CELL_METHODS[str(name)]
        ds[name].attrs = attrs
    predictor = str(forecast.attrs.get("predictor", "unknown"))
    input_source = str(forecast.attrs.get("source", "unknown"))
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    ds.attrs = {
        "Conventions": CONVENTIONS,
        "title": f"{predictor} forecast from {init:%Y-%m-%d %H:%M} UTC",
        "institution": "gcforecast weather service",
        "source": f"{predictor} predictor, initial conditions from {input_source}",
        "history": f"{now} written by gcforecast {package_version()}",
        "references": "Lam et al. (2023), Learning skillful medium-range global weather "
        "forecasting, Science 382, https://doi.org/10.1126/science.adi2336",
        "comment": "SYNTHETIC DATA: not a forecast of the real atmosphere."
        if int(forecast.attrs.get("synthetic", 0))
        else "",
        INPUT_SOURCE: input_source,
    }
    ds.attrs.update({k: forecast.attrs[k] for k in LAYOUT_ATTRS if k in forecast.attrs})
    if not ds.attrs["comment"]:
        del ds.attrs["comment"]
    return ds


def cf_encoding(ds: xr.Dataset, *, netcdf: bool) -> dict[str, dict]:
    """Encoding of `to_cf`'s output: time units, no fill value on axes, chunks of one lead.

    Args:
      ds: output of `to_cf`.
      netcdf: NetCDF-4 (zlib) rather than Zarr (the Zarr writer picks its own compressor).
    """
    encoding: dict[str, dict] = {}
    for name in ds.coords:
        encoding[str(name)] = {"_FillValue": None}
    for name in ("time", "forecast_reference_time"):
        if name in ds.coords:
            encoding[name].update(units=TIME_UNITS, calendar="proleptic_gregorian", dtype="float64")
    if "lead_time" in ds.coords:
        encoding["lead_time"].update(units="hours", dtype="float64")
    for name, var in ds.data_vars.items():
        chunks = tuple(1 if d == "time" else ds.sizes[d] for d in var.dims)
        if netcdf:
            encoding[str(name)] = {
                "zlib": True,
                "complevel": 4,
                "shuffle": True,
                "chunksizes": chunks,
            }
        else:
            encoding[str(name)] = {"chunks": chunks}
    return encoding


def from_cf(ds: xr.Dataset) -> xr.Dataset:
    """A dataset written by `to_cf` (or any CF forecast in that shape) → the forecast layout.

    The init time returns to the `init_time` attr; CF attributes are dropped; variables keep
    `units` only.
    """
    init = init_time_of_forecast(ds)
    out = ds.drop_vars("forecast_reference_time", errors="ignore")
    for name in out.variables:
        units = out[name].attrs.get("units")
        keep_units = name in out.data_vars and units is not None
        out[name].attrs = {"units": units} if keep_units else {}
    attrs = {"init_time": init.strftime("%Y-%m-%dT%H:%M:%S")}
    attrs.update({k: ds.attrs[k] for k in LAYOUT_ATTRS if k in ds.attrs})
    attrs["source"] = ds.attrs.get(INPUT_SOURCE, ds.attrs.get("source", "unknown"))
    extra = {
        k: v
        for k, v in ds.attrs.items()
        if k not in CF_GLOBALS and k not in attrs and k != INPUT_SOURCE
    }
    out.attrs = _layout_order(attrs | extra)
    return out


def _layout_order(attrs: dict) -> dict:
    order = ("init_time", "predictor", "checkpoint", "checkpoint_sha256")
    order += ("checkpoint_description", "source", "synthetic")
    first = {k: attrs[k] for k in order if k in attrs}
    return first | {k: v for k, v in attrs.items() if k not in first}


def _units(name: str) -> str:
    from forecast import variables

    return variables.UNITS.get(name, "1")
