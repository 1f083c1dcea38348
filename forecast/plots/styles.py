"""How each forecast variable is presented on a map: display units, fixed colour scale, contours.

Colour scales are fixed per variable (not fitted to the data) so that every frame of a run, and
every run, is drawn on the same scale and frames can be compared or animated.
"""

from __future__ import annotations

import dataclasses

import numpy as np

# WMO standard gravity, used to turn geopotential (m² s⁻²) into geopotential height.
STANDARD_GRAVITY = 9.80665


@dataclasses.dataclass(frozen=True)
class FieldStyle:
    """Presentation of one variable (at one level).

    Attributes:
        label: human name for titles, e.g. "500 hPa geopotential height".
        units: display units after conversion, e.g. "°C".
        scale, offset: display = archive · scale + offset (offset is not applied to differences).
        cmap: colormap name for the field.
        bounds: colour class boundaries in display units (fixed; values outside get the
            extend colours).
        error_limit: half-width of the symmetric colour range of error maps, display units
            (fixed, sized for day-10 errors; 16 colour classes).
        contour_interval: draw labelled contour lines at this interval (display units), if set.
        under_color: colour below the first bound (e.g. white for "no rain"), if set.
    """

    label: str
    units: str
    scale: float = 1.0
    offset: float = 0.0
    cmap: str = "viridis"
    bounds: tuple[float, ...] = ()
    error_limit: float = 1.0
    contour_interval: float | None = None
    under_color: str | None = None

    def to_display(self, values: np.ndarray) -> np.ndarray:
        """Archive units → display units (for fields)."""
        return np.asarray(values, dtype=np.float64) * self.scale + self.offset

    def difference_to_display(self, values: np.ndarray) -> np.ndarray:
        """Archive-unit differences → display units (scale only: a 1 K error is a 1 °C error)."""
        return np.asarray(values, dtype=np.float64) * self.scale


def _steps(start: float, stop: float, step: float) -> tuple[float, ...]:
    return tuple(float(v) for v in np.arange(start, stop + step / 2, step))


# Keyed by (variable, level); level None for surface variables. "10m_wind" is derived
# from the u/v components by the product renderer.
STYLES: dict[tuple[str, int | None], FieldStyle] = {
    ("2m_temperature", None): FieldStyle(
        label="2 m temperature",
        units="°C",
        offset=-273.15,
        cmap="RdYlBu_r",
        bounds=_steps(-48, 48, 4),
        error_limit=10.0,
    ),
    ("mean_sea_level_pressure", None): FieldStyle(
        label="Mean sea level pressure",
        units="hPa",
        scale=0.01,
        cmap="RdBu_r",
        bounds=_steps(964, 1060, 4),  # centred near the 1013 hPa standard
        error_limit=16.0,
        contour_interval=4.0,
    ),
    ("10m_wind", None): FieldStyle(
        label="10 m wind",
        units="m/s",
        cmap="YlGnBu",
        bounds=_steps(0, 30, 2.5),
        error_limit=10.0,
    ),
    ("geopotential", 500): FieldStyle(
        label="500 hPa geopotential height",
        units="dam",
        scale=1.0 / (STANDARD_GRAVITY * 10.0),
        cmap="Spectral_r",
        bounds=_steps(480, 600, 6),
        error_limit=16.0,
        contour_interval=6.0,
    ),
    ("temperature", 850): FieldStyle(
        label="850 hPa temperature",
        units="°C",
        offset=-273.15,
        cmap="RdYlBu_r",
        bounds=_steps(-40, 32, 4),
        error_limit=10.0,
    ),
    ("total_precipitation_6hr", None): FieldStyle(
        label="6 h precipitation",
        units="mm",
        scale=1000.0,
        cmap="YlGnBu",
        # Forecasters read rain on a roughly logarithmic scale; below 0.1 mm is "dry".
        bounds=(0.1, 0.5, 1.0, 2.0, 4.0, 6.0, 10.0, 15.0, 20.0, 30.0, 50.0),
        error_limit=10.0,
        under_color="white",
    ),
}


def style_for(variable: str, level: int | None = None, *, units: str | None = None) -> FieldStyle:
    """The presentation of `variable` (at `level`), or a plain one for unknown variables.

    Args:
        variable: ERA5 long name (or "10m_wind", or "wind" at a level: speeds from u/v).
        level: pressure level in hPa for atmospheric variables, None for surface ones.
        units: archive units, shown for variables without a style.
    """
    key = (variable, None if level is None else int(level))
    if key in STYLES:
        return STYLES[key]
    if variable == "geopotential" and level is not None:
        base = STYLES[("geopotential", 500)]
        return dataclasses.replace(base, label=f"{level} hPa geopotential height", bounds=())
    if variable == "temperature" and level is not None:
        base = STYLES[("temperature", 850)]
        return dataclasses.replace(base, label=f"{level} hPa temperature", bounds=())
    if variable == "wind" and level is not None:
        # Wind speed at a pressure level, drawn from u/v by the product renderer.
        return FieldStyle(label=f"{level} hPa wind", units="m/s", cmap="YlGnBu", error_limit=10.0)
    if variable == "specific_humidity" and level is not None:
        return FieldStyle(
            label=f"{level} hPa specific humidity",
            units="g/kg",
            scale=1000.0,
            cmap="YlGnBu",
            error_limit=2.0,
        )
    if variable == "vertical_velocity" and level is not None:
        return FieldStyle(
            label=f"{level} hPa vertical velocity", units="Pa/s", cmap="RdBu_r", error_limit=1.0
        )
    label = variable.replace("_", " ")
    if level is not None:
        label = f"{level} hPa {label}"
    return FieldStyle(label=label, units=units or "")
