"""Cartopy maps of forecast fields and forecast errors, rendered off-screen (Agg) to PNG.

A `MapCanvas` draws the figure, projection, coastlines and colour bar once; each frame then swaps
only the data, contours, arrows and titles. `render_field_map` and `render_error_map` are one-shot
wrappers; `forecast.plots.products` reuses a canvas across the lead times of a run.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import tempfile
import warnings
from pathlib import Path

import cartopy.crs as ccrs
import cartopy.feature as cfeature
import matplotlib
import numpy as np
import pandas as pd
import xarray as xr
from matplotlib import colors, ticker
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from forecast.errors import InvalidInputError
from forecast.plots import natural_earth
from forecast.plots.styles import FieldStyle, style_for
from forecast.verify.weights import area_weights

logger = logging.getLogger(__name__)

FIGSIZE = (10.0, 5.4)  # inches
DPI = 100  # → 1000 × 540 px PNGs
SYNTHETIC_LABEL = "SYNTHETIC DATA"
NO_COASTLINES_NOTE = "Coastlines unavailable: Natural Earth shapes not installed"
# Grids narrower than this (degrees of longitude) get the 10m coastline, wider ones 110m.
_FINE_COASTLINE_SPAN = 60.0
# About this many wind arrows across the map.
_ARROWS_ACROSS = 30
_ARROW_REFERENCE = 20.0  # m/s, the quiver key
_TITLE_CHARS = 55  # longest title at full size that clears the caption


class CoastlinesUnavailableWarning(UserWarning):
    """A map was drawn without coastlines because the Natural Earth shapes are missing."""


def _ensure_cartopy_configured() -> None:
    # Point cartopy at the offline shapes and forbid downloads, unless this process (the
    # service, a test) configured it already.
    if natural_earth.configured_data_dir() is None:
        natural_earth.configure_cartopy()


def _grid(lat: np.ndarray, lon: np.ndarray) -> tuple[ccrs.PlateCarree, np.ndarray, bool, float]:
    """Map CRS, longitudes relative to its centre, whether the grid is global, the centre."""
    lon = np.asarray(lon, dtype=np.float64) % 360.0
    if lon.size < 2 or lat.size < 2:
        raise InvalidInputError(f"grid too small to map: {lat.size} lat × {lon.size} lon")
    step = float(np.median(np.diff(np.sort(lon))))
    is_global = abs(lon.size * step - 360.0) < step / 2
    if is_global:
        centre = 0.0
    else:
        # Centre the map on the region so that it never straddles the map's edge: a grid that is
        # contiguous in −180…180 (e.g. Europe) is centred there, else in 0…360 (e.g. the Pacific).
        wrapped = np.sort((lon + 180.0) % 360.0 - 180.0)
        if np.max(np.diff(wrapped)) <= 1.5 * step:
            centre = float((wrapped[0] + wrapped[-1]) / 2)
        else:
            centre = float((lon.min() + lon.max()) / 2)
    relative = (lon - centre + 180.0) % 360.0 - 180.0
    return ccrs.PlateCarree(central_longitude=centre), relative, is_global, centre


def _edges(centres: np.ndarray, low: float, high: float) -> np.ndarray:
    """Cell edges of sorted cell centres, clipped to [low, high] so nothing wraps."""
    mid = (centres[1:] + centres[:-1]) / 2
    first = centres[0] - (mid[0] - centres[0])
    last = centres[-1] + (centres[-1] - mid[-1])
    return np.clip(np.concatenate([[first], mid, [last]]), low, high)


def weighted_rmse(difference: np.ndarray, lat: np.ndarray) -> float:
    """Area-weighted root-mean-square of `difference` (lat, lon), ignoring NaNs.

    Uses the verification's WeatherBench2 cell-area weights, so the RMSE in an error map's title
    agrees with the run's scores.
    """
    order = np.argsort(lat)
    weights = np.empty(len(lat))
    weights[order] = area_weights(np.asarray(lat, dtype=np.float64)[order])
    weights = np.broadcast_to(weights[:, None], difference.shape)
    valid = np.isfinite(difference)
    if not valid.any():
        return float("nan")
    return float(np.sqrt(np.sum(weights[valid] * difference[valid] ** 2) / np.sum(weights[valid])))


def _format_time(value) -> str:
    return pd.Timestamp(value).strftime("%a %d %b %Y %H UTC")


def time_caption(*, init_time: str | None, valid_time, lead_hours: float | None) -> str:
    """ "Init … T+024 h / Valid …" caption for the top right of a map."""
    parts = []
    if init_time:
        parts.append(f"Init {_format_time(init_time)}")
    if lead_hours is not None:
        parts.append(f"T+{lead_hours:03.0f} h")
    first = "   ".join(parts)
    valid = f"Valid {_format_time(valid_time)}" if valid_time is not None else ""
    return "\n".join(p for p in (first, valid) if p)


class MapCanvas:
    """One reusable figure for a variable on a grid: axes, coastlines, colour bar drawn once.

    Args:
        lat, lon: the grid's cell centres (degrees; any order, longitudes in any convention).
        style: presentation of the variable (units, fixed colour scale).
        error: draw forecast − truth on a diverging scale centred on 0 instead of the field.
        synthetic: add the "SYNTHETIC DATA" label.
        footer: small print at the bottom left (predictor, checkpoint, data source).
    """

    def __init__(
        self,
        lat: np.ndarray,
        lon: np.ndarray,
        *,
        style: FieldStyle,
        error: bool = False,
        synthetic: bool = False,
        footer: str | None = None,
    ) -> None:
        _ensure_cartopy_configured()
        lat = np.asarray(lat, dtype=np.float64)
        self.style = style
        self.error = error
        self.crs, rel_lon, self.is_global, self.central_longitude = _grid(lat, lon)
        self._lon_order = np.argsort(rel_lon)
        self._lat_order = np.argsort(lat)
        self.lat = lat[self._lat_order]
        self.lon = rel_lon[self._lon_order]
        self._contours = None
        self._quiver = None

        self.figure = Figure(figsize=FIGSIZE, dpi=DPI)
        FigureCanvasAgg(self.figure)
        self.ax = self.figure.add_axes((0.03, 0.07, 0.86, 0.79), projection=self.crs)
        if self.is_global:
            self.ax.set_global()
        else:
            self.ax.set_extent((self.lon[0], self.lon[-1], self.lat[0], self.lat[-1]), crs=self.crs)
        self.notes: list[str] = []
        self._add_coastlines()

        self.cmap, self.norm = self._colour_scale()
        lon_edges = _edges(self.lon, -180.0, 180.0)
        lat_edges = _edges(self.lat, -90.0, 90.0)
        blank = np.ma.masked_all((self.lat.size, self.lon.size))
        self.mesh = self.ax.pcolormesh(
            lon_edges, lat_edges, blank, cmap=self.cmap, norm=self.norm, transform=self.crs
        )
        self.mesh.set_zorder(0)
        # The map keeps its aspect ratio inside its box; put the colour bar against the map itself.
        self.ax.apply_aspect()
        box = self.ax.get_position()
        cax = self.figure.add_axes((box.x1 + 0.015, box.y0 + 0.02, 0.018, box.height - 0.04))
        extend = "both" if error or style.under_color is None else "max"
        cbar = self.figure.colorbar(self.mesh, cax=cax, extend=extend)
        cbar.set_label(f"forecast − truth ({style.units})" if error else style.units)
        cbar.ax.tick_params(labelsize=8)
        cbar.ax.yaxis.set_major_formatter(ticker.StrMethodFormatter("{x:g}"))

        self.title = self.figure.text(0.03, 0.965, "", fontsize=12, weight="bold", va="top")
        self.caption = self.figure.text(0.89, 0.965, "", fontsize=9, ha="right", va="top")
        self.footer = self.figure.text(0.03, 0.02, footer or "", fontsize=7, color="0.35")
        if self.notes:
            self.figure.text(
                0.89, 0.02, "; ".join(self.notes), fontsize=7, color="firebrick", ha="right"
            )
        if synthetic:
            self.figure.text(
                0.03,
                0.918,
                SYNTHETIC_LABEL,
                fontsize=10,
                weight="bold",
                color="white",
                va="top",
                bbox={"facecolor": "firebrick", "edgecolor": "none", "pad": 3},
            )
            self.ax.text(
                0.5,
                0.5,
                SYNTHETIC_LABEL,
                transform=self.ax.transAxes,
                fontsize=48,
                color="0.3",
                alpha=0.12,
                rotation=20,
                ha="center",
                va="center",
                zorder=5,
            )

    def _colour_scale(self) -> tuple[colors.Colormap, colors.Normalize | None]:
        style = self.style
        if self.error:
            cmap = matplotlib.colormaps["RdBu_r"]
            limit = style.error_limit
            bounds = np.linspace(-limit, limit, 17)
            return cmap, colors.BoundaryNorm(bounds, cmap.N, extend="both")
        cmap = matplotlib.colormaps[style.cmap]
        if style.under_color:
            cmap = cmap.with_extremes(under=style.under_color)
        if not style.bounds:
            return cmap, None  # unknown variable: autoscale per frame
        extend = "max" if style.under_color else "both"
        return cmap, colors.BoundaryNorm(style.bounds, cmap.N, extend=extend)

    def _add_coastlines(self) -> None:
        span = 360.0 if self.is_global else float(self.lon[-1] - self.lon[0])
        preferred = ("10m", "110m") if span < _FINE_COASTLINE_SPAN else ("110m", "10m")
        scale = next(
            (s for s in preferred if natural_earth.available(s, "physical", "coastline")), None
        )
        if scale is None:
            warnings.warn(NO_COASTLINES_NOTE, CoastlinesUnavailableWarning, stacklevel=3)
            logger.warning(
                "%s (cartopy data dir: %s)", NO_COASTLINES_NOTE, natural_earth.default_data_dir()
            )
            self.notes.append(NO_COASTLINES_NOTE)
            self.coastline_scale = None
            return
        self.coastline_scale = scale
        coast = cfeature.NaturalEarthFeature("physical", "coastline", scale)
        self.ax.add_feature(coast, facecolor="none", edgecolor="black", linewidth=0.6, zorder=3)
        if natural_earth.available(scale, "cultural", "admin_0_boundary_lines_land"):
            borders = cfeature.NaturalEarthFeature("cultural", "admin_0_boundary_lines_land", scale)
            self.ax.add_feature(borders, facecolor="none", edgecolor="0.4", linewidth=0.3, zorder=3)

    def _reorder(self, values: np.ndarray) -> np.ndarray:
        values = np.asarray(values, dtype=np.float64)
        if values.shape != (self._lat_order.size, self._lon_order.size):
            raise InvalidInputError(
                f"frame shape {values.shape} does not match the grid "
                f"({self._lat_order.size} lat × {self._lon_order.size} lon)"
            )
        return values[self._lat_order][:, self._lon_order]

    def draw(
        self,
        values: np.ndarray,
        *,
        title: str,
        caption: str = "",
        u: np.ndarray | None = None,
        v: np.ndarray | None = None,
    ) -> None:
        """Show one frame.

        Args:
            values: (lat, lon) in display units, in the grid order given to the constructor.
            title: bold title at the top left.
            caption: time caption at the top right (see `time_caption`).
            u, v: wind components (m/s, same grid) for arrows.
        """
        data = self._reorder(values)
        self.mesh.set_array(np.ma.masked_invalid(data))
        if self.norm is None:
            finite = data[np.isfinite(data)]
            if finite.size:
                self.mesh.set_clim(*np.percentile(finite, [1, 99]))
        self.title.set_text(title)
        # Long titles shrink rather than run into the time caption at the top right.
        self.title.set_fontsize(
            12 if len(title) <= _TITLE_CHARS else 12 * _TITLE_CHARS / len(title)
        )
        self.caption.set_text(caption)
        self._draw_contours(data)
        if u is not None and v is not None:
            self._draw_arrows(self._reorder(u), self._reorder(v))

    def _draw_contours(self, data: np.ndarray) -> None:
        if self._contours is not None:
            self._contours.remove()
            self._contours = None
        interval = self.style.contour_interval
        if self.error or interval is None or not np.isfinite(data).any():
            return
        low = np.floor(np.nanmin(data) / interval) * interval
        levels = np.arange(low, np.nanmax(data) + interval, interval)
        lon, field = self.lon, data
        if self.is_global:
            # Close the contours across the date line with a cyclic column.
            lon = np.append(lon, lon[0] + 360.0)
            field = np.concatenate([data, data[:, :1]], axis=1)
        self._contours = self.ax.contour(
            lon, self.lat, field, levels=levels, colors="black", linewidths=0.5, transform=self.crs
        )
        self._contours.set_zorder(2)
        self.ax.clabel(self._contours, levels[::2], fontsize=6, fmt="%.0f", inline=True)

    def _draw_arrows(self, u: np.ndarray, v: np.ndarray) -> None:
        stride = max(1, int(np.ceil(self.lon.size / _ARROWS_ACROSS)))
        sel = (slice(stride // 2, None, stride), slice(stride // 2, None, stride))
        if self._quiver is None:
            lon2, lat2 = np.meshgrid(self.lon[sel[1]], self.lat[sel[0]])
            # Fixed scale (m/s per axes width) so arrow lengths compare across frames.
            self._quiver = self.ax.quiver(
                lon2,
                lat2,
                u[sel],
                v[sel],
                transform=self.crs,
                scale=_ARROW_REFERENCE * 25,  # a 20 m/s arrow spans 1/25 of the map
                scale_units="width",
                width=0.002,
                color="0.15",
                zorder=4,
            )
            self.ax.quiverkey(
                self._quiver,
                0.97,
                -0.05,
                _ARROW_REFERENCE,
                f"{_ARROW_REFERENCE:.0f} m/s",
                labelpos="W",
                fontproperties={"size": 8},
            )
        else:
            self._quiver.set_UVC(u[sel], v[sel])

    def save(self, path: Path) -> Path:
        """Write the current frame as PNG atomically (temporary file, then rename)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=".png")
        try:
            self.figure.canvas.draw()
            rgb = np.asarray(self.figure.canvas.buffer_rgba())[..., :3]
            # A 256-colour palette PNG: the maps use a few dozen colours, so this is visually
            # lossless, ~3× smaller than RGBA and faster to encode than matplotlib's PNG.
            image = Image.fromarray(rgb).quantize(colors=256, method=Image.Quantize.FASTOCTREE)
            with os.fdopen(fd, "wb") as handle:
                image.save(handle, format="PNG")
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path

    def texts(self) -> list[str]:
        """Every text drawn on the figure (titles, labels, notes), for checks before saving."""
        found = [t.get_text() for t in self.figure.texts]
        found += [t.get_text() for t in self.ax.texts]
        return found


def _field_info(field: xr.DataArray) -> tuple[str, int | None, np.ndarray, np.ndarray]:
    missing = [dim for dim in ("lat", "lon") if dim not in field.dims]
    extra = [dim for dim in field.dims if dim not in ("lat", "lon")]
    if missing or extra:
        raise InvalidInputError(
            f"map of {field.name!r} needs a (lat, lon) field; got dims {tuple(field.dims)}"
        )
    level = int(field["level"].values) if "level" in field.coords else None
    return str(field.name), level, field["lat"].values, field["lon"].values


def _lead_hours(field: xr.DataArray, init_time: str | None) -> float | None:
    if "lead_time" in field.coords:
        return float(pd.Timedelta(field["lead_time"].values) / pd.Timedelta(hours=1))
    if init_time and "time" in field.coords:
        return float(
            (pd.Timestamp(field["time"].values) - pd.Timestamp(init_time)) / pd.Timedelta(hours=1)
        )
    return None


def _resolve_style(field: xr.DataArray, style: FieldStyle | None, cmap: str | None) -> FieldStyle:
    name, level, _, _ = _field_info(field)
    resolved = style or style_for(name, level, units=field.attrs.get("units"))
    if cmap is not None:
        resolved = dataclasses.replace(resolved, cmap=cmap)
    return resolved


def render_field_map(
    field: xr.DataArray,
    *,
    path: Path,
    title: str | None = None,
    style: FieldStyle | None = None,
    cmap: str | None = None,
    init_time: str | None = None,
    synthetic: bool | None = None,
    wind: tuple[xr.DataArray, xr.DataArray] | None = None,
    footer: str | None = None,
) -> Path:
    """Render one (lat, lon) field to a PNG map.

    Args:
        field: archive units (K, Pa, m² s⁻², m); named after its variable, with optional scalar
            coords `level`, `time` (valid) and `lead_time`.
        path: PNG to write (atomically).
        title: defaults to the style's label and units.
        style: presentation; defaults to `style_for(field.name, level)`.
        cmap: colormap override.
        init_time: ISO init time for the caption (default: `field.attrs['init_time']`).
        synthetic: add the SYNTHETIC DATA label (default: `field.attrs['synthetic'] == 1`).
        wind: (u, v) in m/s on the same grid, drawn as arrows.
        footer: small print at the bottom.

    Returns:
        `path`.
    """
    _, _, lat, lon = _field_info(field)
    style = _resolve_style(field, style, cmap)
    init_time = init_time or field.attrs.get("init_time")
    if synthetic is None:
        synthetic = int(field.attrs.get("synthetic", 0)) == 1
    canvas = MapCanvas(lat, lon, style=style, synthetic=synthetic, footer=footer)
    caption = time_caption(
        init_time=init_time,
        valid_time=field["time"].values if "time" in field.coords else None,
        lead_hours=_lead_hours(field, init_time),
    )
    u, v = (None, None) if wind is None else (wind[0].values, wind[1].values)
    canvas.draw(
        style.to_display(field.values),
        title=title or f"{style.label} ({style.units})",
        caption=caption,
        u=u,
        v=v,
    )
    return canvas.save(path)


def render_error_map(
    forecast: xr.DataArray,
    truth: xr.DataArray,
    *,
    path: Path,
    title: str | None = None,
    style: FieldStyle | None = None,
    init_time: str | None = None,
    synthetic: bool | None = None,
    footer: str | None = None,
) -> Path:
    """Render forecast − truth on a diverging scale centred on 0, RMSE in the title.

    The RMSE is area-weighted (as the verification scores) over the map, in display units.

    Args:
        forecast, truth: (lat, lon) fields on the same grid, archive units.
        path: PNG to write (atomically).
        title, style, init_time, synthetic, footer: as for `render_field_map`.

    Returns:
        `path`.

    Raises:
        InvalidInputError: the two fields are not on the same grid.
    """
    _, _, lat, lon = _field_info(forecast)
    _field_info(truth)
    same_shape = truth["lat"].shape == lat.shape and truth["lon"].shape == lon.shape
    if not (same_shape and np.allclose(truth["lat"], lat) and np.allclose(truth["lon"], lon)):
        raise InvalidInputError(f"truth for {forecast.name!r} is not on the forecast's grid")
    style = _resolve_style(forecast, style, None)
    init_time = init_time or forecast.attrs.get("init_time")
    if synthetic is None:
        synthetic = int(forecast.attrs.get("synthetic", 0)) == 1
    difference = style.difference_to_display(forecast.values - truth.values)
    canvas = MapCanvas(lat, lon, style=style, error=True, synthetic=synthetic, footer=footer)
    caption = time_caption(
        init_time=init_time,
        valid_time=forecast["time"].values if "time" in forecast.coords else None,
        lead_hours=_lead_hours(forecast, init_time),
    )
    canvas.draw(
        difference,
        title=title or error_title(style, weighted_rmse(difference, lat)),
        caption=caption,
    )
    return canvas.save(path)


def error_title(style: FieldStyle, rmse: float) -> str:
    """Title of an error map: the field and its RMSE (the colour bar says forecast − truth)."""
    return f"{style.label} error ({style.units}),  RMSE {rmse:.2f}"
