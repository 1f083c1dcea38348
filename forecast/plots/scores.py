"""Verification plots: score curves against lead time, verification history, scorecards, error maps.

Everything renders off-screen (Agg) to PNG with atomic writes. Inputs are plain mappings so the
same functions serve the verify flow (scores from a run's sums) and anything reading stored
scores. Error maps are drawn with `forecast.plots.maps` (the products' map canvas).
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib
import matplotlib.dates
import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from forecast.plots.products import Product, RunMaps, has_field, render_jobs
from forecast.plots.scales import nice_step
from forecast.plots.styles import FieldStyle

matplotlib.use("Agg", force=False)

DPI = 100
SYNTHETIC_LABEL = "SYNTHETIC DATA"
# One colour and marker per predictor, the same on every plot.
PREDICTOR_STYLE = {
    "model": {"color": "#1f4e9c", "marker": "o", "label": "model"},
    "persistence": {"color": "#c2571a", "marker": "s", "label": "persistence"},
    "climatology": {"color": "#6b6b6b", "marker": "^", "label": "climatology"},
}
METRIC_LABEL = {
    "rmse": "RMSE",
    "mse": "MSE",
    "bias": "bias (forecast − truth)",
    "mae": "MAE",
    "acc": "ACC (uncentred)",
}

# predictor → {lead_hours: value}
Curves = Mapping[str, Mapping[int, float]]


def _save(figure: Figure, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=".png")
    try:
        with os.fdopen(fd, "wb") as handle:
            FigureCanvasAgg(figure).print_png(handle)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _mark_synthetic(figure: Figure, synthetic: bool) -> None:
    if synthetic:
        figure.text(
            0.005, 0.005, SYNTHETIC_LABEL, ha="left", va="bottom", color="#b00020",
            fontsize=11, fontweight="bold",
        )  # fmt: skip


def _finite(points: Mapping[int, float]) -> tuple[np.ndarray, np.ndarray]:
    items = sorted((int(k), float(v)) for k, v in points.items() if v is not None)
    items = [(k, v) for k, v in items if math.isfinite(v)]
    return np.array([k for k, _ in items]), np.array([v for _, v in items])


def lead_label(hours: int) -> str:
    """ "+12 h" up to 72 h, then days ("+4 d", "+4.5 d"): how forecasters read leads."""
    hours = int(hours)
    return f"+{hours} h" if hours <= 72 else f"+{hours / 24:g} d"


def lead_ticks(max_lead: int, most: int = 12) -> list[int]:
    """Ticks at 6-h multiples (6, 12, 24 or 48 h apart), at most `most` of them, from 0."""
    step = next((s for s in (6, 12, 24, 48, 96) if max_lead / s <= most), 96)
    return list(range(0, int(max_lead) + 1, step))


def _lead_axis(ax, leads: Sequence[int]) -> None:
    if not len(leads):
        return
    ticks = lead_ticks(max(leads), most=6)
    ax.set_xticks(ticks, [lead_label(t) if t else "0" for t in ticks])
    ax.set_xticks(range(0, int(max(leads)) + 1, 6), minor=True)  # every model step
    ax.set_xlim(0, max(leads) + 3)
    ax.set_xlabel("lead time")


def _display(values: np.ndarray, metric: str, style: FieldStyle | None) -> np.ndarray:
    """Scores in SI → display units (RMSE, bias and MAE scale like differences; ACC is bare)."""
    if style is None or metric not in ("rmse", "bias", "mae", "mse"):
        return values
    if metric == "mse":
        return values * style.scale**2
    return style.difference_to_display(values)


def render_score_curves(
    scores: Mapping[str, Curves],
    *,
    title: str,
    path: Path,
    units: str = "",
    synthetic: bool = False,
    style: FieldStyle | None = None,
) -> Path:
    """One panel per metric (e.g. RMSE, ACC, bias) against lead time, model and baselines.

    Args:
      scores: metric name → predictor → {lead_hours: value}; NaN/None points are skipped
        (e.g. the climatology's undefined ACC).
      title: figure title (variable, level, region, init time).
      path: PNG to write.
      units: units of RMSE/bias/MAE (shown on their axes).
      synthetic: stamp "SYNTHETIC DATA" on the figure.
      style: the field's map style (`style_for`): scores given in SI units are drawn in its
        display units (°C, hPa, dam, m/s) and `units` defaults to its units.

    Returns:
      `path`.
    """
    if style is not None:
        units = style.units
    metrics = list(scores)
    all_leads: set[int] = set()
    figure = Figure(figsize=(5.2 * max(len(metrics), 1), 3.8))
    axes = figure.subplots(1, max(len(metrics), 1), squeeze=False)[0]
    for ax, metric in zip(axes, metrics, strict=False):
        for predictor, points in scores[metric].items():
            x, y = _finite(points)
            if x.size == 0:
                continue
            all_leads.update(int(h) for h in x)
            look = PREDICTOR_STYLE.get(predictor, {"label": predictor})
            ax.plot(x, _display(y, metric, style), markersize=3.5, linewidth=1.6, **look)
        label = METRIC_LABEL.get(metric, metric)
        if units and metric in ("rmse", "bias", "mae"):
            label += f" [{units}]"
        ax.set_ylabel(label)
        ax.set_xlabel("lead time")
        if metric == "bias":
            ax.axhline(0.0, color="black", linewidth=0.6)
        if metric == "acc":
            ax.axhline(0.6, color="black", linewidth=0.6, linestyle=":")  # usual "useful" limit
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:  # empty when no predictor has this metric yet
            ax.legend(fontsize=8)
    for ax in axes[: len(metrics)]:
        _lead_axis(ax, sorted(all_leads))
    figure.suptitle(title, fontsize=11)
    figure.tight_layout()
    _mark_synthetic(figure, synthetic)
    return _save(figure, path)


def render_history(
    series: Mapping[str, Sequence[tuple[pd.Timestamp, float]]],
    *,
    metric: str,
    title: str,
    path: Path,
    units: str = "",
    synthetic: bool = False,
) -> Path:
    """A score at fixed leads against init date (the verification history).

    Args:
      series: label (e.g. "model 24 h", "persistence 24 h") → [(init_time, value), ...].
        Labels starting with a predictor name take its colour; baselines are dashed.
      metric: the score shown (axis label).
      title, path, units, synthetic: as `render_score_curves`.
    """
    figure = Figure(figsize=(9.0, 4.0))
    ax = figure.subplots()
    linestyles = ["-", "--", ":", "-."]
    leads_seen: dict[str, int] = {}
    all_times: list[pd.Timestamp] = []
    for label, points in series.items():
        points = sorted((pd.Timestamp(t), float(v)) for t, v in points if v is not None)
        points = [(t, v) for t, v in points if math.isfinite(v)]
        if not points:
            continue
        predictor = label.split()[0]
        lead = label[len(predictor) :].strip()
        style = dict(PREDICTOR_STYLE.get(predictor, {}))
        style.pop("label", None)
        style["linestyle"] = linestyles[leads_seen.setdefault(lead, len(leads_seen)) % 4]
        if predictor != "model":
            style["alpha"] = 0.7
        # Few runs: big markers with their values, so two or three points read as data.
        few = len(points) <= 3
        ax.plot(
            [t for t, _ in points],
            [v for _, v in points],
            label=label,
            markersize=7 if few else 3,
            linewidth=1.6,
            **style,
        )
        if few:
            for t, v in points:
                ax.annotate(
                    f"{v:.3g}", (t, v), textcoords="offset points", xytext=(6, 4), fontsize=8,
                    color=style.get("color", "black"),
                )  # fmt: skip
        all_times += [t for t, _ in points]
    label = METRIC_LABEL.get(metric, metric)
    ax.set_ylabel(label + (f" [{units}]" if units and metric in ("rmse", "bias", "mae") else ""))
    ax.set_xlabel("init time (UTC)")
    ax.grid(alpha=0.3)
    if ax.lines:
        ax.legend(fontsize=8, ncol=2)
    else:
        ax.text(0.5, 0.5, "no verified runs yet", ha="center", va="center", transform=ax.transAxes)
    runs = len(set(all_times))
    if 0 < runs < 3:
        ax.text(
            0.01, 0.97, f"{runs} verified run{'s' if runs > 1 else ''} so far: the history "
            "fills in as each day's truth arrives", transform=ax.transAxes, fontsize=8,
            va="top", color="0.35",
        )  # fmt: skip
    if all_times:
        # At least two days shown, so a first verified run is not lost on a years-wide axis.
        start, end = min(all_times), max(all_times)
        pad = max(pd.Timedelta(days=1), (end - start) * 0.05)
        ax.set_xlim(start - pad, end + pad)
        locator = matplotlib.dates.AutoDateLocator()
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(matplotlib.dates.ConciseDateFormatter(locator))
    ax.set_title(title, fontsize=11)
    figure.tight_layout()
    _mark_synthetic(figure, synthetic)
    return _save(figure, path)


def render_scorecard(
    change: Mapping[tuple[str, int], float],
    *,
    title: str,
    path: Path,
    limit: float | None = None,
    synthetic: bool = False,
) -> Path:
    """Heatmap of the model's % change in a score against a baseline, by field and lead.

    Args:
      change: (row label e.g. "z500", lead_hours) → 100·(model − baseline)/baseline; for RMSE
        negative is better (blue), positive worse (red). Missing cells are blank.
      title: e.g. "RMSE vs persistence, global".
      path: PNG to write.
      limit: colour range ±limit %; default fitted to the values.
      synthetic: stamp "SYNTHETIC DATA".
    """
    rows = list(dict.fromkeys(r for r, _ in change))
    leads = sorted({lead for _, lead in change})
    grid = np.full((len(rows), len(leads)), np.nan)
    for (row, lead), value in change.items():
        if value is not None and math.isfinite(value):
            grid[rows.index(row), leads.index(lead)] = value
    finite = np.abs(grid[np.isfinite(grid)])
    if limit is None:
        # Fitted to the values (95th percentile of |change|, a nice number), so the cells use
        # the whole scale instead of all sitting at one saturated end.
        limit = nice_step(max(float(np.percentile(finite, 95)) if finite.size else 1.0, 1.0))
    figure = Figure(figsize=(max(7.5, 0.5 * len(leads) + 3.0), max(3.0, 0.42 * len(rows) + 1.8)))
    ax = figure.subplots()
    cmap = matplotlib.colormaps["RdBu_r"]
    image = ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, vmin=-limit, vmax=limit, aspect="auto")
    # Beyond 72 h only whole days are labelled (the cells between are the 6-h steps).
    names = [lead_label(h) if h <= 72 or h % 24 == 0 else "" for h in leads]
    ax.set_xticks(range(len(leads)), names, fontsize=8, rotation=90)
    ax.set_yticks(range(len(rows)), rows, fontsize=9)
    ax.set_xlabel("lead time")
    if len(leads) <= 40 and len(rows) <= 40:
        decimals = 1 if limit < 10 else 0
        for i in range(len(rows)):
            for j in range(len(leads)):
                if np.isfinite(grid[i, j]):
                    # White on dark cells, black on light ones: legible everywhere.
                    dark = abs(grid[i, j]) > 0.6 * limit
                    ax.text(
                        j, i, f"{grid[i, j]:+.{decimals}f}", ha="center", va="center",
                        fontsize=7 if len(leads) > 20 else 8, color="white" if dark else "black",
                    )  # fmt: skip
    figure.colorbar(image, ax=ax, label="% change (negative: model better)", extend="both")
    ax.set_title(title, fontsize=11)
    figure.tight_layout()
    _mark_synthetic(figure, synthetic)
    return _save(figure, path)


def render_error_maps(
    forecast: xr.Dataset,
    truth: xr.Dataset,
    out_dir: Path,
    *,
    fields: Sequence[tuple[str, int | None]],
    lead_hours: Sequence[int] | None = None,
) -> list[Product]:
    """Error maps (forecast − truth) per field and lead: the map viewer's "error" product.

    Drawn by `forecast.plots.products` (the one error-map path): a symmetric colour scale fitted
    to the run's errors over every lead with truth, area-weighted RMSE in the title, written
    under the names the viewer looks for.

    Args:
      forecast: forecast layout.
      truth: model layout; leads whose valid time it lacks are skipped.
      out_dir: directory for `error_map_<variable>[_<level>hPa]_<lead>h.png`.
      fields: (variable, level or None) pairs; absent ones are skipped.
      lead_hours: which leads (default: every lead with truth).

    Returns:
      One `Product` (kind "error_map", path relative to `out_dir`) per map written.
    """
    maps = RunMaps(forecast, truth=truth)
    present = [
        (variable, level)
        for variable, level in fields
        if has_field(forecast, variable, level) and has_field(truth, variable, level)
    ]
    jobs = maps.jobs(
        Path(out_dir),
        kinds=("error",),
        fields=present,
        regions=("global",),
        leads=None if lead_hours is None else [int(h) for h in lead_hours],
    )
    return render_jobs(jobs, workers=1)
