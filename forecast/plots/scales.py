"""Colour scales of the maps: fixed per field where a style defines one, else fitted to the run.

A scale is chosen once per field and run (from every lead) so all leads of a run are drawn on
the same classes and compare. Forecast and truth share the field's scale. Error and difference
maps get a symmetric scale around 0 fitted to the 99th percentile of |difference| over the run
(robust to a few extreme cells), rounded to a "nice" class width.
"""

from __future__ import annotations

import dataclasses
import math

import matplotlib
import numpy as np
from matplotlib import colors

from forecast.plots.styles import FieldStyle

# Classes on each side of zero at most on a difference scale; field scales get about this many.
_DIFFERENCE_CLASSES = 8
_FIELD_CLASSES = 16
_NICE = (1.0, 2.0, 2.5, 5.0, 10.0)
NAN_COLOUR = (200, 200, 200)  # cells without data (e.g. a missing truth cell)


def nice_step(raw: float) -> float:
    """The smallest of 1, 2, 2.5, 5 × 10ᵏ that is ≥ `raw` (> 0)."""
    exponent = math.floor(math.log10(raw))
    for factor in _NICE:
        step = factor * 10.0**exponent
        if step >= raw * (1 - 1e-9):
            return step
    return 10.0 ** (exponent + 1)


@dataclasses.dataclass(frozen=True)
class ColourScale:
    """Colour classes of a map.

    Attributes:
        bounds: class boundaries in display units, ascending.
        cmap: matplotlib colormap name.
        extend: "both", "max" (below the first bound is `under_color`) or "neither".
        under_color: colour below the first bound, e.g. white for "dry"; None for the colormap's.
    """

    bounds: tuple[float, ...]
    cmap: str
    extend: str = "both"
    under_color: str | None = None

    def colormap_and_norm(self) -> tuple[colors.Colormap, colors.BoundaryNorm]:
        """What matplotlib draws the colour bar with."""
        cmap = matplotlib.colormaps[self.cmap]
        if self.under_color:
            cmap = cmap.with_extremes(under=self.under_color)
        return cmap, colors.BoundaryNorm(self.bounds, cmap.N, extend=self.extend)

    def lookup_table(self) -> np.ndarray:
        """uint8 RGB of each class index `np.digitize(value, bounds)` (0 … len(bounds)), then
        one more for NaN: the colours the colour bar shows, so map and legend agree."""
        cmap, norm = self.colormap_and_norm()
        edges = np.asarray(self.bounds, dtype=np.float64)
        width = float(edges[-1] - edges[0]) or 1.0
        probes = np.concatenate(
            [[edges[0] - width], (edges[1:] + edges[:-1]) / 2, [edges[-1] + width]]
        )
        rgb = (np.asarray(cmap(norm(probes)))[:, :3] * 255).round().astype(np.uint8)
        return np.vstack([rgb, np.asarray(NAN_COLOUR, dtype=np.uint8)[None]])

    def classify(self, values: np.ndarray) -> np.ndarray:
        """Class index of every value (uint8); NaN gets the last index of `lookup_table`."""
        values = np.asarray(values, dtype=np.float32)
        edges = np.asarray(self.bounds, dtype=np.float64)
        steps = np.diff(edges)
        if steps.size and np.allclose(steps, steps[0], rtol=1e-6, atol=0):
            # Evenly spaced classes (all but precipitation): arithmetic, 5× faster than a search.
            scaled = values - np.float32(edges[0])
            scaled /= np.float32(steps[0])
            np.floor(scaled, out=scaled)
            scaled += 1
            index = np.clip(scaled, 0, edges.size, out=scaled)  # ±inf land in the end classes
            np.copyto(index, edges.size + 1, where=np.isnan(index))
            index = index.astype(np.uint8)
            # Values exactly on the first/last boundary, as np.digitize places them.
            return index
        index = np.digitize(values, edges).astype(np.uint8)
        index[~np.isfinite(values)] = edges.size + 1
        return index


def _finite_sample(values: np.ndarray, limit: int = 2_000_000) -> np.ndarray:
    flat = np.asarray(values, dtype=np.float64).ravel()
    if flat.size > limit:  # a strided sample is plenty for percentiles
        flat = flat[:: flat.size // limit + 1]
    return flat[np.isfinite(flat)]


def field_scale(style: FieldStyle, values: np.ndarray | None = None) -> ColourScale:
    """The scale of a field: the style's fixed classes, else ~16 nice classes over the 1st–99th
    percentile of `values` (display units, every lead of the run and the truth)."""
    extend = "max" if style.under_color else "both"
    if style.bounds:
        return ColourScale(tuple(style.bounds), style.cmap, extend, style.under_color)
    sample = _finite_sample(values) if values is not None else np.array([])
    if sample.size == 0:
        return ColourScale((0.0, 1.0), style.cmap, extend, style.under_color)
    low, high = np.percentile(sample, [1, 99])
    if high <= low:
        high = low + max(abs(low) * 1e-3, 1e-6)
    step = nice_step((high - low) / _FIELD_CLASSES)
    first, last = math.floor(low / step) * step, math.ceil(high / step) * step
    bounds = tuple(float(b) for b in np.arange(first, last + step / 2, step))
    return ColourScale(bounds, style.cmap, extend, style.under_color)


def difference_scale(differences: np.ndarray | None, *, floor: float = 0.01) -> ColourScale:
    """Symmetric classes around 0 fitted to the 99th percentile of |`differences`|.

    Args:
        differences: display units, every lead of the run (NaN ignored).
        floor: the smallest half-width (identical runs still get a legible scale).
    """
    sample = _finite_sample(differences) if differences is not None else np.array([])
    limit = float(np.percentile(np.abs(sample), 99)) if sample.size else 0.0
    limit = max(limit, floor)
    step = nice_step(limit / _DIFFERENCE_CLASSES)
    n = max(2, math.ceil(limit / step - 1e-9))
    bounds = tuple(float(b) for b in step * np.arange(-n, n + 1))
    return ColourScale(bounds, "RdBu_r", "both")
