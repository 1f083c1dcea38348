"""The fast scorer: its sums give the metrics' exact values for the model and both baselines,
windows of runs merge additively, and bad inputs are refused clearly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from forecast.errors import InvalidInputError
from forecast.verify import evaluation, metrics
from forecast.verify.climatology import climatology_at
from forecast.verify.regions import REGIONS, LatLonBox
from tests.forecast.verify import factories

RTOL = 1e-6
TIMES = pd.date_range("2026-12-28", periods=24, freq="6h")  # crosses the new year
REGIONS_PLUS = dict(REGIONS, pacific=LatLonBox(-40.0, 40.0, 150.0, -120.0))


@pytest.fixture(scope="module")
def world():
    truth = factories.model_layout(TIMES, seed=5)
    clim = factories.climatology(truth, seed=6)
    runs = [
        factories.forecast_layout(truth, init, 8, seed=20 + n) for n, init in enumerate(TIMES[:6])
    ]
    sums = [
        evaluation.score_run(run, truth, climatology=clim, regions=REGIONS_PLUS) for run in runs
    ]
    return truth, clim, runs, sums


def field(ds: xr.Dataset, variable: str, level: int) -> xr.Dataset:
    x = ds[[variable]]
    return x.sel(level=level) if "level" in x[variable].dims else x


def per_field_check(sums, forecast, truth, clim, predictor):
    scores = evaluation.scores_from_sums(sums).sel(predictor=predictor)
    truth_v = truth.sel(time=forecast["time"])
    for region_name, region in REGIONS_PLUS.items():
        mse = metrics.MSE().compute_chunk(forecast, truth_v, region)
        bias = metrics.Bias().compute_chunk(forecast, truth_v, region)
        mae = metrics.MAE().compute_chunk(forecast, truth_v, region)
        acc = metrics.ACC(climatology=clim).compute_chunk(forecast, truth_v, region)
        s = scores.sel(region=region_name)
        for j in range(s.sizes["field"]):
            var, level = str(s["variable"][j].values), int(s["level"][j].values)
            got = s.isel(field=j)
            if var.endswith("wind_vector"):
                u, v = ("10m_u", "10m_v") if var.startswith("10m") else ("u", "v")
                wv = metrics.WindVectorMSE(f"{u}_component_of_wind", f"{v}_component_of_wind", var)
                expected = field(wv.compute_chunk(forecast, truth_v, region), var, level)[var]
                np.testing.assert_allclose(got["mse"].values, expected.values, rtol=RTOL)
                continue
            np.testing.assert_allclose(
                got["mse"].values, field(mse, var, level)[var].values, rtol=RTOL
            )
            np.testing.assert_allclose(
                got["rmse"].values, np.sqrt(field(mse, var, level)[var].values), rtol=RTOL
            )
            np.testing.assert_allclose(
                got["bias"].values, field(bias, var, level)[var].values, rtol=RTOL, atol=1e-9
            )
            np.testing.assert_allclose(
                got["mae"].values, field(mae, var, level)[var].values, rtol=RTOL
            )
            expected_acc = field(acc, var, level)[var].values
            if predictor == "climatology":
                assert np.isnan(got["acc"].values).all() and np.isnan(expected_acc).all()
            else:
                np.testing.assert_allclose(got["acc"].values, expected_acc, rtol=RTOL)


def test_model_scores_equal_the_metrics(world):
    truth, clim, runs, sums = world
    per_field_check(sums[2], runs[2], truth, clim, "model")


def test_persistence_baseline_is_the_init_state_at_every_lead(world):
    truth, clim, runs, sums = world
    run = runs[1]
    init = pd.Timestamp(run.attrs["init_time"])
    persisted = xr.concat([truth.sel(time=init)] * run.sizes["time"], dim="time")
    persisted = persisted.assign_coords(time=run["time"], lead_time=run["lead_time"])
    per_field_check(sums[1], persisted, truth, clim, "persistence")


def test_climatology_baseline_is_the_climatology_at_each_valid_time(world):
    truth, clim, runs, sums = world
    run = runs[3]
    as_forecast = climatology_at(clim, run["time"], list(run.data_vars)).transpose(*run.dims)
    per_field_check(sums[3], as_forecast, truth, clim, "climatology")


def test_windows_merge_exactly(world):
    truth, clim, runs, sums = world
    by_init = xr.concat(
        [s.expand_dims(init_time=[pd.Timestamp(s.attrs["init_time"])]) for s in sums],
        dim="init_time",
        coords="different",
        compat="equals",
    )
    # Windows of 1, 2 and 3 init times, merged by addition.
    parts = [by_init.isel(init_time=slice(a, b)) for a, b in [(0, 1), (1, 3), (3, 6)]]
    merged = evaluation.scores_from_totals(
        evaluation.merge_totals(*(evaluation.window_totals(p) for p in parts))
    )
    batch = evaluation.scores_from_totals(evaluation.window_totals(by_init))
    for name in evaluation.SCORES:
        xr.testing.assert_allclose(merged[name], batch[name], rtol=1e-12)
    # …and equal the metrics' init-time aggregates computed from all the fields at once.
    stacked = factories.by_init(runs)
    truth_v = factories.truth_like(stacked, truth)
    model = merged.sel(predictor="model")
    for region_name in ("global", "europe", "pacific"):
        region = REGIONS_PLUS[region_name]
        rmse = metrics.RMSE().compute(stacked, truth_v, region)
        acc = metrics.ACC(climatology=clim).compute(stacked, truth_v, region)
        bias = metrics.Bias().compute(stacked, truth_v, region)
        for var, level in [
            ("2m_temperature", 0),
            ("geopotential", 500),
            ("v_component_of_wind", 850),
        ]:
            j = int(
                np.flatnonzero(
                    (model["variable"] == var).values & (model["level"] == level).values
                )[0]
            )
            got = model.sel(region=region_name).isel(field=j)
            np.testing.assert_allclose(
                got["rmse"].values, field(rmse, var, level)[var].values, rtol=RTOL
            )
            np.testing.assert_allclose(
                got["acc"].values, field(acc, var, level)[var].values, rtol=RTOL
            )
            np.testing.assert_allclose(
                got["bias"].values, field(bias, var, level)[var].values, rtol=RTOL
            )


def test_perfect_forecast_and_persistence_at_lead_zero():
    truth = factories.model_layout(TIMES[:6], seed=1)
    clim = factories.climatology(truth)
    run = factories.forecast_layout(truth, TIMES[1], 4, noise=0.0, lead0=True)
    for name in run.data_vars:
        run[name] = truth[name].sel(time=run["time"])  # forecast == truth
    scores = evaluation.scores_from_sums(evaluation.score_run(run, truth, climatology=clim))
    model = scores.sel(predictor="model")
    assert float(model["rmse"].max()) == 0.0
    np.testing.assert_allclose(
        model["acc"].where(~model["variable"].str.endswith("vector"), 1.0), 1.0, rtol=1e-12
    )
    persistence = scores.sel(predictor="persistence", lead_time=pd.Timedelta(0))
    assert float(persistence["rmse"].max()) == 0.0
    assert float(scores.sel(predictor="persistence")["rmse"].isel(lead_time=1).min()) > 0


def test_float32_fields_score_within_1e5_of_float64():
    truth64 = factories.model_layout(TIMES[:8], seed=2, step=2.5)
    clim = factories.climatology(truth64, days=np.unique(TIMES[:8].day_of_year))
    run64 = factories.forecast_layout(truth64, TIMES[1], 6)
    s64 = evaluation.scores_from_sums(evaluation.score_run(run64, truth64, climatology=clim))
    s32 = evaluation.scores_from_sums(
        evaluation.score_run(
            run64.astype(np.float32),
            truth64.astype(np.float32),
            climatology=clim.astype(np.float32),
        )
    )
    for name in ("rmse", "mae", "acc"):
        xr.testing.assert_allclose(s32[name], s64[name], rtol=1e-5)


def test_only_leads_with_truth_are_scored_and_missing_baselines_are_noted():
    truth = factories.model_layout(TIMES[:5], seed=3)
    run = factories.forecast_layout(factories.model_layout(TIMES[:12], seed=3), TIMES[2], 8)
    sums = evaluation.score_run(run, truth.isel(time=slice(1, None)))
    assert [int(h) for h in sums["lead_time"].values / np.timedelta64(1, "h")] == [6, 12]
    assert list(sums["predictor"].values) == ["model", "persistence"]
    assert "climatology baseline not scored" in sums.attrs["notes"]
    assert np.isnan(sums["sum_fa"].values).all()
    sums = evaluation.score_run(run, truth.isel(time=slice(3, None)), baselines=("persistence",))
    assert list(sums["predictor"].values) == ["model"]
    assert "persistence not scored" in sums.attrs["notes"]


def test_bad_inputs_are_refused_with_the_reason():
    truth = factories.model_layout(TIMES[:8], seed=4)
    run = factories.forecast_layout(truth, TIMES[1], 4)
    with pytest.raises(InvalidInputError, match="no overlapping valid times"):
        evaluation.score_run(run, truth.isel(time=slice(0, 2)))
    with pytest.raises(InvalidInputError, match="grid mismatch"):
        evaluation.score_run(run, factories.model_layout(TIMES[:8], step=5.0))
    with pytest.raises(InvalidInputError, match="2m_temperature"):
        evaluation.score_run(run, truth.drop_vars("2m_temperature"))
    with pytest.raises(InvalidInputError, match=r"levels \[850\]"):
        evaluation.score_run(run, truth.sel(level=[500]))
    with pytest.raises(InvalidInputError, match="lacks variables"):
        evaluation.score_run(run, truth, variables=["temperature"])
    coarse = factories.climatology(factories.model_layout(TIMES[:2], step=5.0), days=[362, 363])
    with pytest.raises(InvalidInputError, match="climatology has 37"):
        evaluation.score_run(run, truth, climatology=coarse)
    clim = factories.climatology(truth, days=[362, 363])
    with pytest.raises(InvalidInputError, match="climatology lacks pressure levels"):
        evaluation.score_run(run, truth, climatology=clim.sel(level=[850]))
    with pytest.raises(InvalidInputError, match=r"climatology has no \(day of year, hour\)"):
        evaluation.score_run(run, truth, climatology=clim.sel(dayofyear=[362]))
