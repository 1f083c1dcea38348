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


def render_score_curves(
    scores: Mapping[str, Curves],
    *,
    title: str,
    path: Path,
    units: str = "",
    synthetic: bool = False,
) -> Path:
    """One panel per metric (e.g. RMSE, ACC, bias) against lead time, model and baselines.

    Args:
      scores: metric name → predictor → {lead_hours: value}; NaN/None points are skipped
        (e.g. the climatology's undefined ACC).
      title: figure title (variable, level, region, init time).
      path: PNG to write.
      units: units of RMSE/bias/MAE (shown on their axes).
      synthetic: stamp "SYNTHETIC DATA" on the figure.

    Returns:
      `path`.
    """
    metrics = list(scores)
    figure = Figure(figsize=(4.2 * max(len(metrics), 1), 3.6))
    axes = figure.subplots(1, max(len(metrics), 1), squeeze=False)[0]
    for ax, metric in zip(axes, metrics, strict=False):
        for predictor, points in scores[metric].items():
            x, y = _finite(points)
            if x.size == 0:
                continue
            style = PREDICTOR_STYLE.get(predictor, {"label": predictor})
            ax.plot(x, y, markersize=3.5, linewidth=1.6, **style)
        label = METRIC_LABEL.get(metric, metric)
        if units and metric in ("rmse", "bias", "mae"):
            label += f" [{units}]"
        ax.set_ylabel(label)
        ax.set_xlabel("lead time [h]")
        if metric == "bias":
            ax.axhline(0.0, color="black", linewidth=0.6)
        if metric == "acc":
            ax.axhline(0.6, color="black", linewidth=0.6, linestyle=":")  # usual "useful" limit
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:  # empty when no predictor has this metric yet
            ax.legend(fontsize=8)
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
        ax.plot([t for t, _ in points], [v for _, v in points], label=label, markersize=3, **style)
        all_times += [t for t, _ in points]
    label = METRIC_LABEL.get(metric, metric)
    ax.set_ylabel(label + (f" [{units}]" if units and metric in ("rmse", "bias", "mae") else ""))
    ax.set_xlabel("init time")
    ax.grid(alpha=0.3)
    if ax.lines:
        ax.legend(fontsize=8, ncol=2)
    else:
        ax.text(0.5, 0.5, "no verified runs yet", ha="center", va="center", transform=ax.transAxes)
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
    limit: float = 50.0,
    synthetic: bool = False,
) -> Path:
    """Heatmap of the model's % change in a score against a baseline, by field and lead.

    Args:
      change: (row label e.g. "z500", lead_hours) → 100·(model − baseline)/baseline; for RMSE
        negative is better (blue), positive worse (red). Missing cells are blank.
      title: e.g. "RMSE vs persistence, global".
      path: PNG to write.
      limit: colour range ±limit %.
      synthetic: stamp "SYNTHETIC DATA".
    """
    rows = list(dict.fromkeys(r for r, _ in change))
    leads = sorted({lead for _, lead in change})
    grid = np.full((len(rows), len(leads)), np.nan)
    for (row, lead), value in change.items():
        if value is not None and math.isfinite(value):
            grid[rows.index(row), leads.index(lead)] = value
    figure = Figure(figsize=(max(7.5, 0.45 * len(leads) + 3.0), max(3.0, 0.32 * len(rows) + 1.6)))
    ax = figure.subplots()
    image = ax.imshow(
        np.ma.masked_invalid(grid), cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto"
    )
    ax.set_xticks(range(len(leads)), [str(h) for h in leads], fontsize=7)
    ax.set_yticks(range(len(rows)), rows, fontsize=8)
    ax.set_xlabel("lead time [h]")
    if len(leads) <= 20 and len(rows) <= 40:
        for i in range(len(rows)):
            for j in range(len(leads)):
                if np.isfinite(grid[i, j]):
                    ax.text(j, i, f"{grid[i, j]:+.0f}", ha="center", va="center", fontsize=6)
    figure.colorbar(image, ax=ax, label="% change (negative: model better)")
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
