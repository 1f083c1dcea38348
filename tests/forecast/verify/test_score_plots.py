"""Verification plots (forecast/plots/scores.py): PNGs written atomically with the right content."""

from __future__ import annotations

import matplotlib.image as mpimg
import numpy as np
import pandas as pd

from forecast.plots import scores as plots
from tests.forecast.verify import factories


def _image(path):
    data = mpimg.imread(path)
    assert data.ndim == 3 and data.shape[0] > 100 and data.shape[1] > 100
    assert data[..., :3].std() > 0.01  # not blank
    return data


def test_score_curves_with_baselines(tmp_path):
    leads = [6, 12, 24, 48]
    scores = {
        "rmse": {"model": {h: h / 10 for h in leads}, "persistence": {h: h / 5 for h in leads}},
        "acc": {
            "model": {h: 1 - h / 100 for h in leads},
            "climatology": {h: float("nan") for h in leads},
        },
        "bias": {"model": {h: 0.1 for h in leads}},
    }
    path = plots.render_score_curves(
        scores, title="z500 global", path=tmp_path / "c.png", units="m² s⁻²", synthetic=True
    )
    assert path.exists() and not list(tmp_path.glob(".*"))  # no temporary left behind
    _image(path)


def test_history_and_empty_history(tmp_path):
    inits = pd.date_range("2026-11-01", periods=10, freq="12h")
    series = {
        "model 24 h": [(t, 1.0 + 0.1 * i) for i, t in enumerate(inits)],
        "persistence 24 h": [(t, 2.0) for t in inits],
        "model 72 h": [(t, 3.0) for t in inits[:5]],
    }
    _image(
        plots.render_history(
            series, metric="rmse", title="t850", path=tmp_path / "h.png", units="K"
        )
    )
    _image(plots.render_history({}, metric="rmse", title="empty", path=tmp_path / "e.png"))


def test_scorecard_heatmap(tmp_path):
    change = {
        (row, lead): (-20.0 if row == "z500" else 15.0)
        for row in ("z500", "t850", "t2m")
        for lead in (6, 24, 72)
    }
    change[("t2m", 72)] = float("nan")
    data = _image(
        plots.render_scorecard(change, title="RMSE vs persistence", path=tmp_path / "s.png")
    )
    # Both a blue (better) and a red (worse) cell are drawn.
    rgb = data[..., :3].reshape(-1, 3)
    assert (rgb[:, 2] > rgb[:, 0] + 0.2).any() and (rgb[:, 0] > rgb[:, 2] + 0.2).any()


def test_error_maps_only_where_truth_exists(tmp_path):
    times = pd.date_range("2026-11-16", periods=4, freq="6h")
    truth = factories.model_layout(times, seed=1, step=10.0).astype(np.float32)
    forecast = factories.forecast_layout(
        factories.model_layout(pd.date_range("2026-11-16", periods=6, freq="6h"), seed=1),
        times[0],
        5,
    )
    paths = plots.render_error_maps(
        forecast,
        truth,
        tmp_path,
        fields=[("2m_temperature", None), ("geopotential", 500), ("absent", None)],
    )
    names = sorted(p.path.name for p in paths)
    assert names == [
        "error_map_2m_temperature_006h.png", "error_map_2m_temperature_012h.png", "error_map_2m_temperature_018h.png",
        "error_map_geopotential_500hPa_006h.png", "error_map_geopotential_500hPa_012h.png", "error_map_geopotential_500hPa_018h.png",
    ]  # fmt: skip
    assert {(p.kind, p.variable, p.level) for p in paths} == {
        ("error_map", "2m_temperature", None),
        ("error_map", "geopotential", 500),
    }
    _image(tmp_path / paths[0].path)
