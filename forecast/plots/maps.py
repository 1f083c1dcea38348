"""Cartopy maps of forecast fields and forecast errors, rendered off-screen (Agg) to PNG.

A `MapCanvas` draws the figure, projection, coastlines and colour bar once; each frame then swaps
only the data, contours, arrows and titles. `render_field_map` and `render_error_map` are one-shot
wrappers; `forecast.plots.products` reuses a canvas across the lead times of a run.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import warnings
import zlib
from pathlib import Path

import cartopy.crs as ccrs
import cartopy.feature as cfeature
import contourpy
import matplotlib
import matplotlib.cm
import numpy as np
import pandas as pd
import xarray as xr
from matplotlib import ticker
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image, ImageDraw, ImageFont

from forecast.errors import InvalidInputError
from forecast.io.atomic import atomic_output
from forecast.plots import natural_earth
from forecast.plots.regions import MapRegion
from forecast.plots.scales import ColourScale, difference_scale, field_scale
from forecast.plots.styles import FieldStyle, style_for
from forecast.verify.weights import area_weights

logger = logging.getLogger(__name__)

# Pixel layout of a map: sharp on a 1440-px screen (global maps ~1400 × 790 px).
_MAP_WIDTH = 1240
_MAP_MAX_HEIGHT = 700
_MARGIN_LEFT, _MARGIN_RIGHT, _MARGIN_TOP, _MARGIN_BOTTOM = 24, 136, 88, 48
_FRAME_DPI = 100
# zlib level 1 with run-length matching: the palette maps are runs of class colours, so RLE
# deflates them ~10 % smaller than the default strategy, and faster.
_PNG_LEVEL = 1
_PNG_STRATEGY = zlib.Z_RLE
# What a frame draws in on top of the colour classes (solid lines; text is antialiased on paper).
_TITLE_INK = (15, 15, 15)
_CONTOUR_INK = (20, 20, 20)
_ARROW_INK = (30, 30, 30)  # also the time caption
_PAPER = (255, 255, 255)  # the frame's background and the contour labels' boxes
_INKS = (_TITLE_INK, _CONTOUR_INK, _ARROW_INK, _PAPER)
_PALETTE_SIZE = 255  # index 255 is left free: the lookup table's "not seen yet" mark
_ARROW_PIXELS = 36  # length of a 20 m/s arrow
SYNTHETIC_LABEL = "SYNTHETIC DATA"
NO_COASTLINES_NOTE = "Coastlines unavailable: Natural Earth shapes not installed"
# Grids narrower than this (degrees of longitude) get the 10m coastline, wider ones 110m.
_FINE_COASTLINE_SPAN = 80.0
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
    """One reusable map of a field on a grid and region, drawn as a raster.

    Everything that does not change between frames is prepared once: the pixel → grid-cell
    index of the plate carrée projection (computed once per grid, window and size, and shared
    by every canvas on that grid), the coastline/border/watermark overlay, and the frame with
    its colour bar, footer and labels. A frame then costs one class lookup per grid cell, one
    gather per pixel, the contours/arrows, two lines of text and the PNG encoding: a few tens of
    milliseconds at 0.25°, where a full matplotlib redraw costs about a second.

    Args:
        lat, lon: the grid's cell centres (degrees; any order, longitudes in any convention).
        style: presentation of the variable (units, label, contours).
        error: draw a difference (forecast − truth, or run − run): diverging scale around 0.
        synthetic: label the map "SYNTHETIC DATA".
        footer: small print at the bottom (predictor, checkpoint, inputs).
        region: window to show (`forecast.plots.regions`); None shows the grid's own extent.
        scale: colour classes; default: the style's fixed ones (fields) or ±`style.error_limit`.
        difference_label: colour-bar label of a difference map (default "forecast − truth").
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
        region: MapRegion | None = None,
        scale: ColourScale | None = None,
        difference_label: str = "forecast − truth",
    ) -> None:
        _ensure_cartopy_configured()
        lat = np.asarray(lat, dtype=np.float64)
        self.style = style
        self.error = error
        self.synthetic = synthetic
        self.footer_text = footer or ""
        self.region = region
        if region is None:
            self.crs, rel_lon, self.is_global, self.central_longitude = _grid(lat, lon)
        else:
            _, _, grid_global, _ = _grid(lat, lon)
            self.central_longitude = (region.lon_min + region.lon_max) / 2.0
            self.crs = ccrs.PlateCarree(central_longitude=self.central_longitude)
            rel_lon = (
                np.asarray(lon, dtype=np.float64) % 360.0 - self.central_longitude + 180.0
            ) % 360.0 - 180.0
            self.is_global = grid_global and region.is_global
            self._grid_global = grid_global
        self._lon_order = np.argsort(rel_lon, kind="stable")
        self._lat_order = np.argsort(lat, kind="stable")
        # The same orders as views where they are one (ascending or descending grids): frames
        # reordered for contours and arrows then cost no copy.
        self._lat_take, self._lon_take = _as_slice(self._lat_order), _as_slice(self._lon_order)
        self.lat = lat[self._lat_order]
        self.lon = rel_lon[self._lon_order]
        if region is None:
            if self.is_global:
                self.extent = (-180.0, 180.0, -90.0, 90.0)
            else:
                half_x = float(np.median(np.diff(self.lon))) / 2 if self.lon.size > 1 else 0.5
                half_y = float(np.median(np.diff(self.lat))) / 2 if self.lat.size > 1 else 0.5
                self.extent = (
                    float(self.lon[0] - half_x),
                    float(self.lon[-1] + half_x),
                    max(-90.0, float(self.lat[0] - half_y)),
                    min(90.0, float(self.lat[-1] + half_y)),
                )
        else:
            half_span = (region.lon_max - region.lon_min) / 2.0
            self.extent = (-half_span, half_span, region.lat_min, region.lat_max)
        self.width, self.height = _map_size(self.extent)
        self.scale = scale or (
            difference_scale(None, floor=style.error_limit) if error else field_scale(style)
        )
        self._lut = self.scale.lookup_table()
        wrap = self.is_global or (region is not None and self._grid_global)
        self._rows, self._cols = pixel_index(
            self.lat, self.lon, self.extent, self.width, self.height, wrap
        )
        # The same index in the caller's (unsorted) grid order: frames need no reordering.
        self._source_rows = self._lat_order[np.maximum(self._rows, 0)]
        self._source_cols = self._lon_order[np.maximum(self._cols, 0)]
        self.notes: list[str] = []
        self.coastline_scale: str | None = None
        self._overlay = self._build_overlay()
        self.difference_label = difference_label
        self._frame, self._box = self._build_frame()
        self._map: Image.Image | None = None
        self._palette: CanvasPalette | None = None  # built on the first save
        self.arrow_count = 0
        self.title_text = ""
        self.caption_text = ""

    # --- prepared once -------------------------------------------------------------------

    def _coastline_scale(self) -> str | None:
        x0, x1 = self.extent[:2]
        span = x1 - x0
        preferred = ("10m", "110m") if span < _FINE_COASTLINE_SPAN else ("50m", "110m", "10m")
        return next(
            (s for s in preferred if natural_earth.available(s, "physical", "coastline")), None
        )

    def _build_overlay(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Coastlines, borders and the watermark as (pixel indices, RGB, alpha) to blend."""
        scale = self._coastline_scale()
        if scale is None:
            warnings.warn(NO_COASTLINES_NOTE, CoastlinesUnavailableWarning, stacklevel=3)
            logger.warning(
                "%s (cartopy data dir: %s)", NO_COASTLINES_NOTE, natural_earth.default_data_dir()
            )
            self.notes.append(NO_COASTLINES_NOTE)
        self.coastline_scale = scale
        key = (self.extent, self.width, self.height, self.central_longitude, scale, self.synthetic)
        return _overlay(*key)

    def _build_frame(self) -> tuple[np.ndarray, tuple[int, int, int, int]]:
        """The figure around the map (colour bar, footer, badges) as an RGB array."""
        total_w = _MARGIN_LEFT + self.width + _MARGIN_RIGHT
        total_h = _MARGIN_TOP + self.height + _MARGIN_BOTTOM
        figure = Figure(figsize=(total_w / _FRAME_DPI, total_h / _FRAME_DPI), dpi=_FRAME_DPI)
        FigureCanvasAgg(figure)
        box = (_MARGIN_LEFT, _MARGIN_TOP, _MARGIN_LEFT + self.width, _MARGIN_TOP + self.height)
        bar_h = min(self.height - 10, 520)
        bar_y = _MARGIN_TOP + (self.height - bar_h) / 2
        cax = figure.add_axes(
            (
                (box[2] + 18) / total_w,
                1 - (bar_y + bar_h) / total_h,
                20 / total_w,
                bar_h / total_h,
            )
        )
        cmap, norm = self.scale.colormap_and_norm()
        mappable = matplotlib.cm.ScalarMappable(norm=norm, cmap=cmap)
        cbar = figure.colorbar(mappable, cax=cax, extend=self.scale.extend, spacing="uniform")
        units = self.style.units
        self.colourbar_label = f"{self.difference_label} ({units})" if self.error else units
        cbar.set_label(self.colourbar_label, fontsize=13)
        cbar.ax.tick_params(labelsize=12)
        cbar.ax.yaxis.set_major_formatter(ticker.StrMethodFormatter("{x:g}"))
        # A number on every class boundary (every other one when there are many), so a colour
        # can be read off; uneven classes (precipitation) are drawn evenly spaced.
        bounds = list(self.scale.bounds)
        cbar.set_ticks(bounds[::2] if len(bounds) > 18 else bounds)
        figure.text(
            _MARGIN_LEFT / total_w, 14 / total_h, self.footer_text, fontsize=12, color="0.25"
        )
        if self.notes:
            figure.text(
                box[2] / total_w,
                14 / total_h,
                "; ".join(self.notes),
                fontsize=12,
                color="firebrick",
                ha="right",
            )
        figure.canvas.draw()
        frame = np.array(figure.canvas.buffer_rgba())[..., :3]
        image = Image.fromarray(frame)
        draw = ImageDraw.Draw(image)
        # The map's border, and the SYNTHETIC badge under the title.
        draw.rectangle((box[0] - 1, box[1] - 1, box[2], box[3]), outline=(60, 60, 60))
        if self.synthetic:
            font = _font(15, bold=True)
            left, top = _MARGIN_LEFT, 56
            w = int(draw.textlength(SYNTHETIC_LABEL, font=font))
            draw.rectangle((left, top - 3, left + w + 12, top + 19), fill=(178, 34, 34))
            draw.text((left + 6, top), SYNTHETIC_LABEL, font=font, fill=(255, 255, 255))
        if self.style.label.endswith("wind") and not self.error:
            self._arrow_key(draw, box)
        return np.asarray(image), box

    def _arrow_key(self, draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int]) -> None:
        y = box[3] + 22
        x1 = box[2]
        x0 = x1 - _ARROW_PIXELS
        _arrow(draw, x0, y, x1, y, fill=(40, 40, 40))
        text = f"{_ARROW_REFERENCE:.0f} m/s"
        font = _font(13)
        draw.text(
            (x0 - 8 - draw.textlength(text, font=font), y - 8), text, font=font, fill=(40, 40, 40)
        )

    # --- per frame -----------------------------------------------------------------------

    def _reorder(self, values: np.ndarray) -> np.ndarray:
        values = np.asarray(values)
        if values.shape != (self._lat_order.size, self._lon_order.size):
            raise InvalidInputError(
                f"frame shape {values.shape} does not match the grid "
                f"({self._lat_order.size} lat × {self._lon_order.size} lon)"
            )
        return values[self._lat_take][:, self._lon_take]

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
        values = np.asarray(values)
        if values.shape != (self._lat_order.size, self._lon_order.size):
            raise InvalidInputError(
                f"frame shape {values.shape} does not match the grid "
                f"({self._lat_order.size} lat × {self._lon_order.size} lon)"
            )
        # Gather the pixels' cells straight from the caller's grid order (the map has fewer
        # pixels than a 0.25° grid has cells), then classify: two takes along axes, cheaper
        # than 2-D fancy indexing.
        pixels = self.scale.classify(
            values.take(self._source_rows, axis=0).take(self._source_cols, axis=1)
        )
        outside = (self._rows < 0)[:, None] | (self._cols < 0)[None, :]
        if outside.any():
            pixels[outside] = len(self._lut) - 1
        rgb = self._lut.take(pixels, axis=0)
        index, colour, alpha = self._overlay
        if index.size:
            flat = rgb.reshape(-1, 3)
            flat[index] = (flat[index] * (1.0 - alpha) + colour * alpha).astype(np.uint8)
        image = Image.fromarray(rgb)
        draw = ImageDraw.Draw(image)
        if self.style.contour_interval is not None and not self.error:
            self._draw_contours(draw, self._reorder(values))
        if u is not None and v is not None:
            self._draw_arrows(draw, self._reorder(u), self._reorder(v))
        self._map = image
        self.title_text = title
        self.caption_text = caption

    def _to_pixels(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x0, x1, y0, y1 = self.extent
        return (x - x0) / (x1 - x0) * self.width, (y1 - y) / (y1 - y0) * self.height

    def _draw_contours(self, draw: ImageDraw.ImageDraw, data: np.ndarray) -> None:
        interval = self.style.contour_interval
        if self.error or interval is None or not np.isfinite(data).any():
            return
        # Contour a ≤1° version of the field: smooth lines, and cheap at 0.25°.
        step_deg = float(np.median(np.diff(self.lat))) if self.lat.size > 1 else 1.0
        stride = max(1, int(round(1.0 / max(step_deg, 1e-6))))
        lat, lon, field = self.lat, self.lon, data
        if stride > 1:  # block means: a smoothed field, not an aliased sample
            ny, nx = (lat.size // stride) * stride, (lon.size // stride) * stride
            lat = lat[:ny].reshape(-1, stride).mean(axis=1)
            lon = lon[:nx].reshape(-1, stride).mean(axis=1)
            field = data[:ny, :nx].reshape(ny // stride, stride, nx // stride, stride)
            field = field.mean(axis=(1, 3))
        if self.is_global:
            lon = np.append(lon, lon[0] + 360.0)  # close contours across the seam
            field = np.concatenate([field, field[:, :1]], axis=1)
        low = np.floor(np.nanmin(field) / interval) * interval
        levels = np.arange(low, np.nanmax(field) + interval, interval)
        generator = contourpy.contour_generator(
            lon, lat, np.ma.masked_invalid(field), line_type=contourpy.LineType.Separate
        )
        font = _font(11)
        placed: list[tuple[float, float, float, float]] = []
        for k, level in enumerate(levels):
            for line in generator.lines(level):
                px, py = self._to_pixels(line[:, 0], line[:, 1])
                points = list(zip(px.tolist(), py.tolist(), strict=True))
                if len(points) < 2:
                    continue
                draw.line(points, fill=_CONTOUR_INK, width=1)
                if k % 2 or len(points) < 25:
                    continue
                self._label(draw, font, f"{level:.0f}", points[len(points) // 2], placed)

    def _label(self, draw, font, text, at, placed) -> None:
        x, y = at
        w = draw.textlength(text, font=font)
        box = (x - w / 2 - 2, y - 7, x + w / 2 + 2, y + 7)
        if box[0] < 0 or box[1] < 0 or box[2] > self.width or box[3] > self.height:
            return
        if any(
            not (box[2] < b[0] or box[0] > b[2] or box[3] < b[1] or box[1] > b[3]) for b in placed
        ):
            return
        placed.append(box)
        draw.rectangle(box, fill=_PAPER)
        draw.text((box[0] + 2, box[1]), text, font=font, fill=_CONTOUR_INK)

    def _draw_arrows(self, draw: ImageDraw.ImageDraw, u: np.ndarray, v: np.ndarray) -> None:
        spacing = max(24, self.width // _ARROWS_ACROSS)
        self.arrow_count = 0
        for py in range(spacing // 2, self.height, spacing):
            row = self._rows[py]
            if row < 0:
                continue
            for px in range(spacing // 2, self.width, spacing):
                col = self._cols[px]
                if col < 0:
                    continue
                du, dv = float(u[row, col]), float(v[row, col])
                if not (np.isfinite(du) and np.isfinite(dv)):
                    continue
                k = _ARROW_PIXELS / _ARROW_REFERENCE
                _arrow(draw, px, py, px + du * k, py - dv * k, fill=_ARROW_INK)
                self.arrow_count += 1

    def image(self) -> Image.Image:
        """The whole figure of the current frame."""
        if self._map is None:
            raise InvalidInputError("nothing drawn yet: call draw() before save()")
        frame = Image.fromarray(self._frame)
        frame.paste(self._map, self._box[:2])
        draw = ImageDraw.Draw(frame)
        right = self._box[2]
        caption_font = _font(15)
        lines = self.caption_text.split("\n") if self.caption_text else []
        caption_w = max((draw.textlength(t, font=caption_font) for t in lines), default=0)
        for i, text in enumerate(lines):
            w = draw.textlength(text, font=caption_font)
            draw.text((right - w, 14 + 20 * i), text, font=caption_font, fill=_ARROW_INK)
        room = right - _MARGIN_LEFT - caption_w - 24
        size = 22
        title_font = _font(size, bold=True)
        while size > 12 and draw.textlength(self.title_text, font=title_font) > room:
            size -= 1
            title_font = _font(size, bold=True)
        draw.text((_MARGIN_LEFT, 14), self.title_text, font=title_font, fill=_TITLE_INK)
        return frame

    def save(self, path: Path) -> Path:
        """Write the current frame as PNG atomically (temporary file, then rename)."""
        path = Path(path)
        # A 255-colour palette PNG: the maps use a few dozen colours plus the antialiasing of
        # lines and text; quantising and encoding 1 byte a pixel costs a third of encoding RGB
        # and the file is 2.5× smaller, which is what prefetching 40 leads downloads.
        if self._palette is None:
            self._palette = CanvasPalette.for_canvas(self)
        image = self._palette.quantize(self.image())
        with atomic_output(path) as tmp:
            image.save(tmp, format="PNG", compress_level=_PNG_LEVEL, compress_type=_PNG_STRATEGY)
        return path

    def texts(self) -> list[str]:
        """Every text on the figure (titles, labels, notes), for checks before saving."""
        found = [self.title_text, self.caption_text, self.footer_text, self.colourbar_label]
        found += self.notes
        if self.synthetic:
            found.append(SYNTHETIC_LABEL)
        return [text for text in found if text]


class CanvasPalette:
    """The 255 colours every frame of one canvas is saved in, and an exact RGB → index lookup.

    Every colour a frame can hold is known when the canvas is built: the frame around the map,
    the colour classes, the coastlines/borders/watermark blended over each class, and the inks
    of contours, arrows and text. So the palette is chosen once per canvas, not per frame (an
    adaptive quantiser costs ~10 ms a frame and shifts even the class colours: it changed ~90 %
    of a map's pixels by ~3 levels). The class and ink colours are entries of their own, so
    those pixels stay exact; the rest (antialiasing) come from an octree of the canvas's other
    colours. Pixels map to their nearest entry through a 2²⁴-entry table filled on first sight
    of a colour: a frame costs one table lookup per pixel. The table is allocated zeroed
    (lazily, by the OS), so only the pages of colours seen take memory.

    Saving the same product therefore gives the same PNG whatever else the process drew.
    """

    def __init__(self, exact: np.ndarray, others: np.ndarray) -> None:
        """`exact`: (n, 3) uint8 colours kept as they are; `others`: (m, 3) pixels whose
        colours the rest of the palette approximates (an octree over them)."""
        exact = np.unique(np.asarray(exact, dtype=np.uint8).reshape(-1, 3), axis=0)
        if len(exact) >= _PALETTE_SIZE:
            raise InvalidInputError(f"{len(exact)} exact colours do not fit a palette")
        rest = _PALETTE_SIZE - len(exact)
        colours = [exact]
        others = np.asarray(others, dtype=np.uint8).reshape(-1, 3)
        if others.size:
            octree = Image.fromarray(others[None]).quantize(
                colors=rest, method=Image.Quantize.FASTOCTREE
            )
            palette = np.asarray(octree.getpalette(), dtype=np.uint8).reshape(-1, 3)
            used = sorted(i for _, i in octree.getcolors(256))  # the entries it assigned
            colours.append(palette[used])
        self.colours = np.concatenate(colours)[:_PALETTE_SIZE]
        self._floats = self.colours.astype(np.float32)
        self._norms = (self._floats**2).sum(axis=1)
        self._palette_bytes = self.colours.tobytes()
        # 24-bit colour (R | G << 8 | B << 16, the little-endian RGBX word) → index + 1; 0: unseen.
        self._table = np.zeros(1 << 24, dtype=np.uint8)
        # The exact colours last: they win over an octree entry of the same colour.
        self._table[_rgb_keys(self.colours[len(exact) :])] = (
            np.arange(len(exact), len(self.colours)) + 1
        )
        self._table[_rgb_keys(exact)] = np.arange(len(exact)) + 1

    @classmethod
    def for_canvas(cls, canvas: MapCanvas) -> CanvasPalette:
        """The palette of everything `canvas` can draw."""
        frame = canvas._frame
        x0, y0, x1, y1 = canvas._box
        around = [frame[:y0], frame[y1:], frame[y0:y1, :x0], frame[y0:y1, x1:]]
        lut = canvas._lut
        _, colour, alpha = canvas._overlay
        # The overlay's pixels blended over each class as `draw` blends them: few distinct
        # (colour, alpha) pairs, blended once each and repeated as often as they occur.
        rgba = np.hstack([colour, alpha * 255.0]).round().astype(np.uint32)
        keys = rgba[:, 0] | rgba[:, 1] << 8 | rgba[:, 2] << 16 | rgba[:, 3] << 24
        pairs, counts = np.unique(keys, return_counts=True)
        colour = np.stack([pairs & 255, pairs >> 8 & 255, pairs >> 16 & 255], axis=1)
        colour = colour.astype(np.float32)
        alpha = (pairs >> 24).astype(np.float32)[:, None] / 255.0  # as `_overlay` makes it
        blends = [
            np.repeat((c[None] * (1.0 - alpha) + colour * alpha).astype(np.uint8), counts, axis=0)
            for c in lut
        ]
        # Antialiased text on paper: each ink's ramp to white (weighted like a line of text).
        ramps = [
            np.repeat(_ramp(ink, _PAPER), 64, axis=0)
            for ink in (_TITLE_INK, _CONTOUR_INK, _ARROW_INK)
        ]
        others = np.concatenate([part.reshape(-1, 3) for part in around] + blends + ramps)
        return cls(np.concatenate([lut, np.asarray(_INKS, dtype=np.uint8)]), others)

    def quantize(self, image: Image.Image) -> Image.Image:
        """`image` (RGB) as a palette image of these colours, each pixel its nearest entry."""
        keys = np.frombuffer(image.tobytes("raw", "RGBX"), dtype=np.uint32) & np.uint32(0xFFFFFF)
        index = self._table.take(keys)
        if not index.all():
            self._learn(np.unique(keys[index == 0]))
            index = self._table.take(keys)
        index -= 1
        quantized = Image.frombuffer("P", image.size, index, "raw", "P", 0, 1)
        quantized.putpalette(self._palette_bytes)
        return quantized

    def _learn(self, keys: np.ndarray) -> None:
        """Enter the nearest palette entry (Euclidean RGB) of each new colour in the table."""
        rgb = np.stack([keys & 255, (keys >> 8) & 255, keys >> 16], axis=1).astype(np.float32)
        distance = self._norms[None, :] - 2.0 * (rgb @ self._floats.T)
        self._table[keys] = (np.argmin(distance, axis=1) + 1).astype(np.uint8)


def _rgb_keys(colours: np.ndarray) -> np.ndarray:
    """24-bit keys (R | G << 8 | B << 16) of (n, 3) uint8 colours."""
    c = np.asarray(colours, dtype=np.uint32).reshape(-1, 3)
    return c[:, 0] | (c[:, 1] << 8) | (c[:, 2] << 16)


def _ramp(ink: tuple[int, int, int], paper: tuple[int, int, int], steps: int = 17) -> np.ndarray:
    """The colours of `ink` antialiased onto `paper`: `steps` blends from one to the other."""
    weight = np.linspace(0.0, 1.0, steps)[:, None]
    blend = np.asarray(ink, dtype=np.float64) * (1 - weight) + np.asarray(paper) * weight
    return blend.round().astype(np.uint8)


def _as_slice(order: np.ndarray) -> np.ndarray | slice:
    """`order` (a permutation) as a slice when it is the identity or its reverse."""
    n = order.size
    if np.array_equal(order, np.arange(n)):
        return slice(None)
    if np.array_equal(order, np.arange(n)[::-1]):
        return slice(None, None, -1)
    return order


def _map_size(extent: tuple[float, float, float, float]) -> tuple[int, int]:
    """Pixel size of the map area: as wide as allowed, plate carrée aspect, height capped."""
    x0, x1, y0, y1 = extent
    aspect = (y1 - y0) / (x1 - x0)
    width = _MAP_WIDTH
    height = int(round(width * aspect))
    if height > _MAP_MAX_HEIGHT:
        height = _MAP_MAX_HEIGHT
        width = int(round(height / aspect))
    return width, max(height, 120)


@functools.lru_cache(maxsize=64)
def _pixel_index_cached(
    lat_key: bytes, lon_key: bytes, extent: tuple, width: int, height: int, wrap: bool
) -> tuple[np.ndarray, np.ndarray]:
    lat = np.frombuffer(lat_key, dtype=np.float64)
    lon = np.frombuffer(lon_key, dtype=np.float64)
    x0, x1, y0, y1 = extent
    xs = x0 + (np.arange(width) + 0.5) * (x1 - x0) / width
    ys = y1 - (np.arange(height) + 0.5) * (y1 - y0) / height

    def nearest(axis: np.ndarray, points: np.ndarray, periodic: bool) -> np.ndarray:
        if axis.size == 1:
            return np.zeros(points.size, dtype=np.intp)
        if periodic:
            points = (points - axis[0]) % 360.0 + axis[0]
        mid = (axis[1:] + axis[:-1]) / 2
        index = np.searchsorted(mid, points)
        if periodic:
            # Past the last centre, the first one (360° on) may be nearer.
            last = index == axis.size - 1
            nearer_first = (axis[0] + 360.0 - points) < (points - axis[-1])
            index[last & nearer_first] = 0
        else:
            half = float(np.median(np.diff(axis))) / 2
            index[(points < axis[0] - half) | (points > axis[-1] + half)] = -1
        return index.astype(np.intp)

    cols = nearest(lon, xs, wrap)
    rows = nearest(lat, ys, False)
    if lat.size > 1:  # poles: the first/last row reaches ±90
        half = float(np.median(np.diff(lat))) / 2
        rows[(ys >= lat[-1]) & (ys <= 90.0) & (lat[-1] + half >= 89.0)] = lat.size - 1
        rows[(ys <= lat[0]) & (ys >= -90.0) & (lat[0] - half <= -89.0)] = 0
    return rows, cols


def pixel_index(
    lat: np.ndarray,
    lon: np.ndarray,
    extent: tuple[float, float, float, float],
    width: int,
    height: int,
    wrap: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """Row and column of the nearest grid cell for every pixel row and column of a map.

    Plate carrée maps pixels to lat/lon separably, so the projection transform of a grid and
    window is two index vectors; computed once and cached per process (the "transform once per
    grid" of the renderer). -1 marks pixels outside a regional grid.

    Args:
        lat, lon: ascending cell centres, lon relative to the map's central longitude.
        extent: (x0, x1, y0, y1) of the window in the same coordinates.
        width, height: the map's size in pixels.
        wrap: the grid is global in longitude (periodic).
    """
    return _pixel_index_cached(
        np.ascontiguousarray(lat, dtype=np.float64).tobytes(),
        np.ascontiguousarray(lon, dtype=np.float64).tobytes(),
        tuple(float(e) for e in extent),
        int(width),
        int(height),
        bool(wrap),
    )


@functools.lru_cache(maxsize=32)
def _overlay(
    extent: tuple, width: int, height: int, centre: float, scale: str | None, synthetic: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Coastlines/borders/watermark rendered once per window into (indices, rgb, alpha)."""
    figure = Figure(figsize=(width / _FRAME_DPI, height / _FRAME_DPI), dpi=_FRAME_DPI)
    figure.patch.set_alpha(0.0)
    FigureCanvasAgg(figure)
    crs = ccrs.PlateCarree(central_longitude=centre)
    ax = figure.add_axes((0, 0, 1, 1), projection=crs)
    ax.set_extent(extent, crs=crs)
    ax.set_aspect("auto")
    ax.set_axis_off()
    ax.patch.set_alpha(0.0)
    if scale is not None:
        coast = cfeature.NaturalEarthFeature("physical", "coastline", scale)
        ax.add_feature(coast, facecolor="none", edgecolor="black", linewidth=0.7)
        if natural_earth.available(scale, "cultural", "admin_0_boundary_lines_land"):
            borders = cfeature.NaturalEarthFeature("cultural", "admin_0_boundary_lines_land", scale)
            ax.add_feature(borders, facecolor="none", edgecolor="0.35", linewidth=0.4)
    if synthetic:
        ax.text(
            0.5,
            0.5,
            SYNTHETIC_LABEL,
            transform=ax.transAxes,
            fontsize=min(60, height / 6),
            color="0.3",
            alpha=0.14,
            rotation=15 if height > 200 else 0,
            ha="center",
            va="center",
        )
    figure.canvas.draw()
    rgba = np.asarray(figure.canvas.buffer_rgba()).reshape(-1, 4)
    if rgba.shape[0] != width * height:  # rounding of the figure size: resample to the map
        image = Image.fromarray(np.asarray(figure.canvas.buffer_rgba())).resize((width, height))
        rgba = np.asarray(image).reshape(-1, 4)
    index = np.flatnonzero(rgba[:, 3] > 0)
    alpha = rgba[index, 3:4].astype(np.float32) / 255.0
    # Agg's buffer is straight (not premultiplied) RGBA: blend as colour·α + map·(1 − α).
    colour = rgba[index, :3].astype(np.float32)
    return index, colour, alpha


def _arrow(draw: ImageDraw.ImageDraw, x0: float, y0: float, x1: float, y1: float, *, fill) -> None:
    draw.line((x0, y0, x1, y1), fill=fill, width=1)
    dx, dy = x1 - x0, y1 - y0
    length = (dx * dx + dy * dy) ** 0.5
    if length < 3:
        return
    ux, uy = dx / length, dy / length
    head = min(6.0, length / 2.5)
    for side in (1, -1):
        hx = x1 - head * (ux + side * 0.5 * uy)
        hy = y1 - head * (uy - side * 0.5 * ux)
        draw.line((x1, y1, hx, hy), fill=fill, width=1)


@functools.lru_cache(maxsize=16)
def _font(size: int, bold: bool = False) -> ImageFont.FreeTypeFont:
    """DejaVu Sans (shipped with matplotlib) at `size` px."""
    from matplotlib import font_manager

    path = font_manager.findfont(
        font_manager.FontProperties(family="DejaVu Sans", weight="bold" if bold else "normal")
    )
    return ImageFont.truetype(path, size)


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
    display = style.to_display(field.values)
    canvas = MapCanvas(
        lat, lon, style=style, synthetic=synthetic, footer=footer, scale=field_scale(style, display)
    )
    caption = time_caption(
        init_time=init_time,
        valid_time=field["time"].values if "time" in field.coords else None,
        lead_hours=_lead_hours(field, init_time),
    )
    u, v = (None, None) if wind is None else (wind[0].values, wind[1].values)
    canvas.draw(
        display,
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
    canvas = MapCanvas(
        lat,
        lon,
        style=style,
        error=True,
        synthetic=synthetic,
        footer=footer,
        scale=difference_scale(difference),
    )
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


def map_layout(region: MapRegion) -> dict:
    """Where the map sits in a PNG of `region` on a global grid, for clicks → lat/lon.

    Returns:
        `{"image": [W, H], "box": [x0, y0, x1, y1], "extent": [lon0, lon1, lat0, lat1]}`
        (pixels from the top left; longitudes in degrees east, lon0 may be < −180 never).
    """
    half = (region.lon_max - region.lon_min) / 2.0
    width, height = _map_size((-half, half, region.lat_min, region.lat_max))
    return {
        "image": [_MARGIN_LEFT + width + _MARGIN_RIGHT, _MARGIN_TOP + height + _MARGIN_BOTTOM],
        "box": [_MARGIN_LEFT, _MARGIN_TOP, _MARGIN_LEFT + width, _MARGIN_TOP + height],
        "extent": [region.lon_min, region.lon_max, region.lat_min, region.lat_max],
    }
