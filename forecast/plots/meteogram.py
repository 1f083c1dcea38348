"""Meteograms: a point's forecast over every lead, four panels, with the truth where it exists.

Input is `forecast.point.point_series_to_display` output (display units, human names), so the
panels say °C, hPa, m/s and mm like the maps.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from forecast.io.atomic import atomic_output
from forecast.plots.maps import SYNTHETIC_LABEL

_PANELS = (
    ("2m_temperature", "tab:red"),
    ("mean_sea_level_pressure", "tab:blue"),
    ("10m_wind_speed", "tab:green"),
    ("total_precipitation_6hr", "tab:cyan"),
)


def render_meteogram(
    series: xr.Dataset,
    *,
    path: Path,
    place: str,
    truth: xr.Dataset | None = None,
    synthetic: bool = False,
) -> Path:
    """Draw `series` (display units, dim `time`) as a four-panel meteogram PNG, atomically.

    Args:
        series: the forecast at the point (`point_series_to_display`).
        path: PNG to write.
        place: the place's name or coordinates, for the title.
        truth: the truth at the point (same form); drawn as black dots where it exists.
        synthetic: label the figure "SYNTHETIC DATA".
    """
    times = pd.DatetimeIndex(series["time"].values)
    figure = Figure(figsize=(14, 9.6), dpi=100)
    FigureCanvasAgg(figure)
    panels = [name for name, _ in _PANELS if name in series]
    axes = figure.subplots(len(panels), 1, sharex=True)
    axes = np.atleast_1d(axes)
    init = series.attrs.get("init_time", "")
    title = f"Meteogram · {place}"
    if init:
        title += f" · init {pd.Timestamp(init):%Y-%m-%d %H} UTC"
    figure.suptitle(title, x=0.06, ha="left", fontsize=16, weight="bold")
    truth_times = pd.DatetimeIndex(truth["time"].values) if truth is not None else None
    for ax, name in zip(axes, panels, strict=True):
        colour = dict(_PANELS)[name]
        field = series[name]
        label = f"{field.attrs.get('long_name', name)} ({field.attrs.get('units', '')})"
        values = np.asarray(field.values, dtype=np.float64)
        if name == "total_precipitation_6hr":
            # Each value is the 6 h ending at its time: a bar over that interval.
            ax.bar(
                times - pd.Timedelta(hours=3), values, width=0.22, color=colour, label="forecast"
            )
            ax.set_ylim(0, max(1.0, float(np.nanmax(values)) * 1.2 if values.size else 1.0))
        else:
            ax.plot(times, values, color=colour, linewidth=2, label="forecast")
        if name == "10m_wind_speed" and "10m_wind_direction" in series:
            _direction_arrows(ax, times, values, series["10m_wind_direction"].values)
        if truth is not None and name in truth:
            keep = truth_times.isin(times)
            if keep.any():
                ax.plot(
                    truth_times[keep],
                    np.asarray(truth[name].values)[keep],
                    "o",
                    color="black",
                    markersize=4,
                    label="truth",
                )
        ax.set_ylabel(label, fontsize=11)
        ax.grid(True, color="0.88")
        ax.tick_params(labelsize=10)
        # The wind panel's top carries the direction arrows: its legend goes below them.
        where = "lower right" if name == "10m_wind_speed" else "upper right"
        ax.legend(loc=where, fontsize=9, frameon=False)
    axes[-1].xaxis.set_major_locator(mdates.DayLocator())
    axes[-1].xaxis.set_minor_locator(mdates.HourLocator(byhour=(0, 6, 12, 18)))
    axes[-1].xaxis.set_major_formatter(mdates.DateFormatter("%a %d %b\n00 UTC"))
    axes[-1].set_xlim(times[0] - pd.Timedelta(hours=6), times[-1] + pd.Timedelta(hours=3))
    figure.text(
        0.06,
        0.01,
        f"bilinear from the {series.attrs.get('predictor', 'forecast')} grid; "
        "times UTC; precipitation is the 6 h ending at each time",
        fontsize=10,
        color="0.35",
    )
    if synthetic:
        figure.text(
            0.98,
            0.965,
            SYNTHETIC_LABEL,
            ha="right",
            fontsize=12,
            weight="bold",
            color="white",
            bbox={"facecolor": "firebrick", "edgecolor": "none", "pad": 3},
        )
    figure.subplots_adjust(left=0.07, right=0.98, top=0.93, bottom=0.08, hspace=0.12)
    with atomic_output(path) as tmp:
        figure.savefig(tmp, format="png")
    return Path(path)


def _direction_arrows(ax, times, speed, direction) -> None:
    """Small arrows along the top of the wind panel pointing where the wind blows to."""
    stride = max(1, len(times) // 40)
    radians = np.radians(np.asarray(direction, dtype=np.float64))
    # From-direction → to-vector (u, v) of unit length.
    u, v = -np.sin(radians), -np.cos(radians)
    top = float(np.nanmax(speed)) * 1.15 if len(speed) else 1.0
    ax.set_ylim(0, top * 1.1 if top > 0 else 1.0)
    ax.quiver(
        times[::stride],
        np.full(len(times[::stride]), top),
        u[::stride],
        v[::stride],
        angles="uv",
        scale=40,
        width=0.0025,
        color="0.25",
    )
