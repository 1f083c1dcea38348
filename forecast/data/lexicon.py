"""The one place where CDS request names and CDS short names meet our ERA5 long names.

The Climate Data Store names a variable twice: in the request (`2m_temperature`) and in the
file it returns (NetCDF/GRIB short name `t2m`). Everything outside this module uses the ERA5
long names of `forecast.variables`.
"""

from __future__ import annotations

from dataclasses import dataclass

from forecast.errors import InvalidInputError

PRESSURE_LEVELS_DATASET = "reanalysis-era5-pressure-levels"
SINGLE_LEVELS_DATASET = "reanalysis-era5-single-levels"


@dataclass(frozen=True)
class CdsVariable:
    """How one ERA5 variable is requested from and returned by the CDS.

    Attributes:
        name: our ERA5 long name (model layout).
        dataset: the CDS dataset that holds it.
        request_name: the name used in a CDS request's `variable` list.
        short_name: the variable's name in the NetCDF/GRIB file the CDS returns.
        accumulated: whether the CDS serves it as an accumulation (GRIB stepType `accum`),
            which the current CDS keeps apart from instantaneous fields.
        static: whether it is invariant in time (geopotential at surface, land-sea mask).
    """

    name: str
    dataset: str
    request_name: str
    short_name: str
    accumulated: bool = False
    static: bool = False


# Hourly `total_precipitation` is what the CDS serves; `total_precipitation_6hr` is made from it
# in `forecast.data.convert`.
HOURLY_PRECIPITATION = "total_precipitation"

_VARIABLES = (
    CdsVariable("temperature", PRESSURE_LEVELS_DATASET, "temperature", "t"),
    CdsVariable("geopotential", PRESSURE_LEVELS_DATASET, "geopotential", "z"),
    CdsVariable("u_component_of_wind", PRESSURE_LEVELS_DATASET, "u_component_of_wind", "u"),
    CdsVariable("v_component_of_wind", PRESSURE_LEVELS_DATASET, "v_component_of_wind", "v"),
    CdsVariable("vertical_velocity", PRESSURE_LEVELS_DATASET, "vertical_velocity", "w"),
    CdsVariable("specific_humidity", PRESSURE_LEVELS_DATASET, "specific_humidity", "q"),
    CdsVariable("2m_temperature", SINGLE_LEVELS_DATASET, "2m_temperature", "t2m"),
    CdsVariable("mean_sea_level_pressure", SINGLE_LEVELS_DATASET, "mean_sea_level_pressure", "msl"),
    CdsVariable("10m_u_component_of_wind", SINGLE_LEVELS_DATASET, "10m_u_component_of_wind", "u10"),
    CdsVariable("10m_v_component_of_wind", SINGLE_LEVELS_DATASET, "10m_v_component_of_wind", "v10"),
    CdsVariable(
        HOURLY_PRECIPITATION,
        SINGLE_LEVELS_DATASET,
        "total_precipitation",
        "tp",
        accumulated=True,
    ),
    CdsVariable(
        "toa_incident_solar_radiation",
        SINGLE_LEVELS_DATASET,
        "toa_incident_solar_radiation",
        "tisr",
        accumulated=True,
    ),
    # In the single-levels dataset `geopotential` is the surface geopotential (orography).
    CdsVariable("geopotential_at_surface", SINGLE_LEVELS_DATASET, "geopotential", "z", static=True),
    CdsVariable("land_sea_mask", SINGLE_LEVELS_DATASET, "land_sea_mask", "lsm", static=True),
)

BY_NAME = {variable.name: variable for variable in _VARIABLES}
BY_REQUEST = {(v.dataset, v.request_name): v for v in _VARIABLES}
BY_SHORT_NAME = {(v.dataset, v.short_name): v for v in _VARIABLES}

# Dataset-specific NetCDF/GRIB coordinate names of the current CDS.
CDS_TIME = "valid_time"
CDS_LEVEL = "pressure_level"
CDS_LAT = "latitude"
CDS_LON = "longitude"
# cfgrib's name for the pressure axis of GRIB files.
GRIB_LEVEL = "isobaricInhPa"


def lookup(name: str) -> CdsVariable:
    """The CDS description of ERA5 variable `name`.

    Args:
        name: ERA5 long name (`2m_temperature`, `total_precipitation`, ...).

    Returns:
        The matching `CdsVariable`.

    Raises:
        InvalidInputError: if the CDS does not serve `name` under a name we know.
    """
    try:
        return BY_NAME[name]
    except KeyError:
        raise InvalidInputError(f"no CDS name known for ERA5 variable {name!r}") from None


def from_short_name(dataset: str, short_name: str) -> CdsVariable:
    """The variable behind a short name found in a file from `dataset`.

    Short names are only unique within a dataset (`z` is geopotential on pressure levels and
    surface geopotential on single levels).

    Raises:
        InvalidInputError: if the short name is unknown for that dataset.
    """
    try:
        return BY_SHORT_NAME[(dataset, short_name)]
    except KeyError:
        raise InvalidInputError(
            f"unknown variable {short_name!r} in a file from {dataset}"
        ) from None


def from_request_name(dataset: str, request_name: str) -> CdsVariable:
    """The variable behind a CDS request name for `dataset`.

    Raises:
        InvalidInputError: if the request name is unknown for that dataset.
    """
    try:
        return BY_REQUEST[(dataset, request_name)]
    except KeyError:
        raise InvalidInputError(f"unknown variable {request_name!r} for {dataset}") from None


def source_variable(name: str) -> str:
    """The ERA5 variable the CDS serves for model variable `name`.

    `total_precipitation_6hr` is built from hourly `total_precipitation`; every other model
    variable is served as is.
    """
    return HOURLY_PRECIPITATION if name == "total_precipitation_6hr" else name


# --------------------------------------------------------------------------- IFS open data
# ECMWF's real-time open data (https://www.ecmwf.int/en/forecasts/datasets/open-data) names
# fields by their MARS `param` short names, which are also the GRIB2 `shortName`s ecCodes gives.

# WMO standard gravity: geopotential = g₀ × geopotential height (`gh`, gpm).
STANDARD_GRAVITY = 9.80665


@dataclass(frozen=True)
class OpenDataParam:
    """How one model variable is published as IFS open data.

    Attributes:
        name: our ERA5 long name (model layout).
        param: the open-data/MARS parameter (`t`, `2t`, `gh`, ...), also the GRIB shortName.
        levtype: `pl` (pressure levels) or `sfc`.
        scale: factor from the published units to ours (`gh` in gpm → geopotential in m² s⁻²).
        static: an invariant field (published at step 0 by recent cycles only).
    """

    name: str
    param: str
    levtype: str
    scale: float = 1.0
    static: bool = False


OPENDATA_PARAMS = (
    OpenDataParam("temperature", "t", "pl"),
    OpenDataParam("u_component_of_wind", "u", "pl"),
    OpenDataParam("v_component_of_wind", "v", "pl"),
    OpenDataParam("vertical_velocity", "w", "pl"),
    OpenDataParam("specific_humidity", "q", "pl"),
    # Geopotential on pressure levels: `z` where a cycle publishes it, else `gh` × g₀.
    OpenDataParam("geopotential", "z", "pl"),
    OpenDataParam("geopotential", "gh", "pl", scale=STANDARD_GRAVITY),
    OpenDataParam("2m_temperature", "2t", "sfc"),
    OpenDataParam("mean_sea_level_pressure", "msl", "sfc"),
    OpenDataParam("10m_u_component_of_wind", "10u", "sfc"),
    OpenDataParam("10m_v_component_of_wind", "10v", "sfc"),
    OpenDataParam("geopotential_at_surface", "z", "sfc", static=True),
    OpenDataParam("land_sea_mask", "lsm", "sfc", static=True),
)


def opendata_params(name: str) -> tuple[OpenDataParam, ...]:
    """The open-data parameters that give model variable `name`, preferred first.

    Raises:
        InvalidInputError: if the open data do not publish `name` (e.g. 6-hourly precipitation
            at step 0, or TOA radiation, which is derived).
    """
    found = tuple(p for p in OPENDATA_PARAMS if p.name == name)
    if not found:
        raise InvalidInputError(f"IFS open data do not publish {name!r}")
    return found
