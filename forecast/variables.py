"""Names, groups and pressure-level sets of the variables the service forecasts.

ERA5 long names as used by GraphCast. CDS short names live only in `forecast.data.lexicon`.
"""

from __future__ import annotations

# Pressure levels (hPa). WeatherBench's 13, ERA5's 37 and HRES's 25
# (https://confluence.ecmwf.int/display/CKB/ERA5%3A+data+documentation).
PRESSURE_LEVELS_13 = (50, 100, 150, 200, 250, 300, 400, 500, 600, 700, 850, 925, 1000)
PRESSURE_LEVELS_25 = (
    1, 2, 3, 5, 7, 10, 20, 30, 50, 70, 100, 150, 200, 250, 300, 400, 500, 600, 700,
    800, 850, 900, 925, 950, 1000,
)  # fmt: skip
PRESSURE_LEVELS_37 = (
    1, 2, 3, 5, 7, 10, 20, 30, 50, 70, 100, 125, 150, 175, 200, 225, 250, 300, 350,
    400, 450, 500, 550, 600, 650, 700, 750, 775, 800, 825, 850, 875, 900, 925, 950, 975, 1000,
)  # fmt: skip
PRESSURE_LEVELS = {13: PRESSURE_LEVELS_13, 25: PRESSURE_LEVELS_25, 37: PRESSURE_LEVELS_37}

TARGET_SURFACE_VARS = (
    "2m_temperature",
    "mean_sea_level_pressure",
    "10m_v_component_of_wind",
    "10m_u_component_of_wind",
    "total_precipitation_6hr",
)
TARGET_SURFACE_NO_PRECIP_VARS = TARGET_SURFACE_VARS[:4]
TARGET_ATMOSPHERIC_VARS = (
    "temperature",
    "geopotential",
    "u_component_of_wind",
    "v_component_of_wind",
    "vertical_velocity",
    "specific_humidity",
)
EXTERNAL_FORCING_VARS = ("toa_incident_solar_radiation",)
GENERATED_FORCING_VARS = (
    "year_progress_sin",
    "year_progress_cos",
    "day_progress_sin",
    "day_progress_cos",
)
FORCING_VARS = EXTERNAL_FORCING_VARS + GENERATED_FORCING_VARS
STATIC_VARS = ("geopotential_at_surface", "land_sea_mask")

# Variables that have a pressure-level axis in ERA5 (decides "atmospheric" for channel counting).
ALL_ATMOSPHERIC_VARS = (
    "potential_vorticity",
    "specific_rain_water_content",
    "specific_snow_water_content",
    "geopotential",
    "temperature",
    "u_component_of_wind",
    "v_component_of_wind",
    "specific_humidity",
    "vertical_velocity",
    "vorticity",
    "divergence",
    "relative_humidity",
    "ozone_mass_mixing_ratio",
    "specific_cloud_liquid_water_content",
    "specific_cloud_ice_water_content",
    "fraction_of_cloud_cover",
)

# SI units of each variable as stored (ERA5 conventions).
UNITS = {
    "2m_temperature": "K",
    "mean_sea_level_pressure": "Pa",
    "10m_u_component_of_wind": "m s-1",
    "10m_v_component_of_wind": "m s-1",
    "total_precipitation_6hr": "m",
    "toa_incident_solar_radiation": "J m-2",
    "temperature": "K",
    "geopotential": "m2 s-2",
    "u_component_of_wind": "m s-1",
    "v_component_of_wind": "m s-1",
    "vertical_velocity": "Pa s-1",
    "specific_humidity": "kg kg-1",
    "geopotential_at_surface": "m2 s-2",
    "land_sea_mask": "1",
}


def is_atmospheric(name: str) -> bool:
    """Whether `name` has a pressure-level axis."""
    return name in ALL_ATMOSPHERIC_VARS
