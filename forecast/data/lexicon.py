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
