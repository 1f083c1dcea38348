"""`forecast score`: JSON structure, regions, baselines and clear errors (exit code 1 for data, 2 for usage)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from forecast.cli import main
from forecast.data.layout import to_example_batch
from forecast.verify import evaluation, metrics
from forecast.verify.regions import LatLonBox
from tests.forecast.verify import factories

TIMES = pd.date_range("2026-11-16", periods=8, freq="6h")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("score")
    truth = factories.model_layout(TIMES, seed=7).astype(np.float32)
    forecast = factories.forecast_layout(truth, TIMES[1], 4)
    clim = factories.climatology(truth, days=np.unique(TIMES.day_of_year))
    paths = {name: root / f"{name}.nc" for name in ("truth", "forecast", "clim", "batch")}
    truth.to_netcdf(paths["truth"])
    forecast.to_netcdf(paths["forecast"])
    clim.to_netcdf(paths["clim"])
    to_example_batch(truth).to_netcdf(paths["batch"])
    return root, paths, truth, forecast, clim


def score(paths, out, *extra):
    return main(
        [
            "score",
            "--forecast",
            str(paths["forecast"]),
            "--truth",
            str(paths["truth"]),
            "--output",
            str(out),
            *extra,
        ]
    )


def test_json_structure_and_values(files):
    root, paths, truth, forecast, clim = files
    out = root / "scores.json"
    assert score(paths, out, "--climatology", str(paths["clim"])) == 0
    data = json.loads(out.read_text())
    assert set(data) == set(forecast.data_vars) | {"10m_wind_vector", "wind_vector"}
    assert set(data["2m_temperature"]) == {"surface"}
    assert set(data["geopotential"]) == {"500", "850"}
    assert set(data["geopotential"]["500"]) == {"6", "12", "18", "24"}
    assert set(data["geopotential"]["500"]["12"]) == {"mse", "rmse", "bias", "mae", "acc"}
    assert set(data["wind_vector"]["850"]["6"]) == {"mse", "rmse"}
    # Values are the metrics' (global region) on the file contents.
    t = truth.sel(time=forecast["time"])
    rmse = metrics.RMSE().finalize(metrics.RMSE().compute_chunk(forecast, t))
    acc = metrics.ACC(climatology=clim).compute_chunk(forecast, t)
    got = data["geopotential"]["500"]["12"]
    assert got["rmse"] == pytest.approx(
        float(rmse["geopotential"].sel(level=500).isel(time=1)), rel=1e-5
    )
    assert got["acc"] == pytest.approx(
        float(acc["geopotential"].sel(level=500).isel(time=1)), rel=1e-5
    )


def test_region_box_baseline_and_example_batch_truth(files):
    root, paths, truth, forecast, _ = files
    out = root / "box.json"
    paths = dict(paths, truth=paths["batch"])
    assert score(paths, out, "--box=-30,30,170,-170", "--predictor", "persistence") == 0
    data = json.loads(out.read_text())
    assert "acc" not in data["2m_temperature"]["surface"]["6"]  # no climatology given
    init = truth.sel(time=TIMES[1])
    persisted = forecast.copy()
    for name in persisted.data_vars:
        persisted[name] = forecast[name] * 0 + init[name]
    mse = metrics.MSE().compute_chunk(
        persisted, truth.sel(time=forecast["time"]), LatLonBox(-30, 30, 170, -170)
    )
    assert data["2m_temperature"]["surface"]["18"]["mse"] == pytest.approx(
        float(mse["2m_temperature"].isel(time=2)), rel=1e-5
    )


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda t: t.isel(time=slice(0, 2)), "no overlapping valid times"),
        (lambda t: t.isel(lat=slice(0, -1)), "grid mismatch"),
        (lambda t: t.drop_vars("geopotential"), "geopotential"),
    ],
)
def test_errors_are_one_line_with_exit_code_1(files, tmp_path, capsys, mutate, message):
    _, paths, truth, _, _ = files
    bad = tmp_path / "bad_truth.nc"
    mutate(truth).to_netcdf(bad)
    assert score(dict(paths, truth=bad), tmp_path / "x.json") == 1
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "x.json").exists()


def test_missing_file_unknown_region_and_bad_box(files, tmp_path, capsys):
    _, paths, *_ = files
    assert score(dict(paths, truth=tmp_path / "none.nc"), tmp_path / "x.json") == 1
    assert "truth file not found" in capsys.readouterr().err
    assert score(paths, tmp_path / "x.json", "--region", "mars") == 2
    assert "unknown region" in capsys.readouterr().err
    assert score(paths, tmp_path / "x.json", "--box", "1,2") == 2
    assert "LAT0,LAT1,LON0,LON1" in capsys.readouterr().err
    assert score(paths, tmp_path / "x.json", "--predictor", "climatology") == 2
    assert "needs --climatology" in capsys.readouterr().err


def test_scores_to_json_turns_nan_into_null():
    truth = factories.model_layout(TIMES, seed=1)
    forecast = factories.forecast_layout(truth, TIMES[0], 2)
    forecast["2m_temperature"][0, 0, 0] = np.nan
    scores = evaluation.scores_from_sums(evaluation.score_run(forecast, truth, baselines=()))
    from forecast.commands.score import scores_to_json

    data = scores_to_json(scores.sel(predictor="model", region="global"))
    assert data["2m_temperature"]["surface"]["6"]["rmse"] is None
    assert data["2m_temperature"]["surface"]["12"]["rmse"] > 0


def test_climatology_command_feeds_score(files, tmp_path, capsys):
    _, paths, *_ = files
    clim_path = tmp_path / "clim.nc"

    def climatology(days: str) -> int:
        args = ["--archive", str(paths["truth"]), "--output", str(clim_path), "--days", days]
        return main(["climatology", *args])

    assert climatology(",".join(str(d) for d in sorted(set(TIMES.day_of_year)))) == 0
    assert "archive times" in capsys.readouterr().out
    out = tmp_path / "s.json"
    assert score(paths, out, "--climatology", str(clim_path)) == 0
    acc = json.loads(out.read_text())["geopotential"]["500"]["6"]["acc"]
    assert -1.0 <= acc <= 1.0
    assert climatology("x") == 2
    assert "--days" in capsys.readouterr().err
