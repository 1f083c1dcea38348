"""Scores as people read them: the field's human name and display units (°C, hPa, dam, m/s).

The map styles (`forecast.plots.styles.style_for`) are the one home of display units; errors
convert with their scale only (a 1 K error is a 1 °C error), MSE with its square, ACC not at
all. Wind vectors (scored on u and v together) take the wind's style.
"""

from __future__ import annotations

import dataclasses

from forecast.plots.styles import FieldStyle, style_for
from forecast.variables import UNITS

# Scores that are differences (scale like the field), squares of them, and pure numbers.
DIFFERENCE_SCORES = ("rmse", "bias", "mae")
SQUARED_SCORES = ("mse",)


def score_style(variable: str, level: int) -> FieldStyle:
    """The presentation of a scored field (level 0 = surface)."""
    if variable == "10m_wind_vector":
        return dataclasses.replace(style_for("10m_wind"), label="10 m wind vector")
    if variable == "wind_vector":
        return dataclasses.replace(style_for("10m_wind"), label=f"{level} hPa wind vector")
    return style_for(variable, level or None, units=UNITS.get(variable))


def scores_to_display(scores: dict, style: FieldStyle) -> dict:
    """One score dict (`rmse`, `mse`, `bias`, `mae`, `acc`, ...) in the style's display units."""
    out = dict(scores)
    for name in DIFFERENCE_SCORES:
        if out.get(name) is not None:
            out[name] = out[name] * style.scale
    for name in SQUARED_SCORES:
        if out.get(name) is not None:
            out[name] = out[name] * style.scale**2
    return out
