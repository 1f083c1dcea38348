"""Metric dataclasses against xskillscore's weighted versions and a direct NumPy evaluation of
WeatherBench2's formulas, on random fields (1e-6 relative)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr
import xskillscore as xs

from forecast.verify import metrics
from forecast.verify.regions import REGIONS, LatLonBox
from tests.forecast.verify import factories

RTOL = 1e-6
ALL_REGIONS = dict(REGIONS, box=LatLonBox(-30.0, 40.0, 160.0, -150.0))


@pytest.fixture(scope="module")
def data():
    times = pd.date_range("2026-02-25", periods=20, freq="6h")
    truth = factories.model_layout(times, seed=3)
    runs = [
        factories.forecast_layout(truth, init, 6, seed=10 + n) for n, init in enumerate(times[:4])
    ]
    forecast = factories.by_init(runs)
    return forecast, factories.truth_like(forecast, truth), factories.climatology(truth)


def wb2_weights(ds: xr.Dataset, region) -> np.ndarray:
    """WeatherBench2's weights written out independently: sin of cell bounds × region mask."""
    lat = ds["lat"].values.astype(float)
    bounds = np.deg2rad(np.concatenate([[-90.0], (lat[:-1] + lat[1:]) / 2, [90.0]]))
    w = np.sin(bounds[1:]) - np.sin(bounds[:-1])
    w = w / w.mean()
    return region.apply(w, lat, ds["lon"].values)


def wmean(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    return (x * w).sum(axis=(-2, -1)) / w.sum()


@pytest.mark.parametrize("region_name", list(ALL_REGIONS))
def test_mse_rmse_mae_bias_equal_xskillscore(data, region_name):
    forecast, truth, _ = data
    region = ALL_REGIONS[region_name]
    w = xr.DataArray(wb2_weights(forecast, region), dims=("lat", "lon"))
    dims = ["lat", "lon"]
    for name in forecast.data_vars:
        f, t = forecast[name], truth[name]
        xs_mse = xs.mse(f, t, dim=dims, weights=w)
        got = metrics.MSE().compute_chunk(forecast, truth, region)[name]
        xr.testing.assert_allclose(got, xs_mse.transpose(*got.dims), rtol=RTOL, atol=0)
        # RMSE over init times: root AFTER averaging the per-init MSE.
        got = metrics.RMSE().compute(forecast, truth, region)[name]
        expected = np.sqrt(xs_mse.mean("init_time"))
        xr.testing.assert_allclose(got, expected.transpose(*got.dims), rtol=RTOL, atol=0)
        # Single-init RMSE is xskillscore's weighted RMSE.
        one = metrics.RMSE().finalize(metrics.RMSE().compute_chunk(forecast, truth, region)[name])
        xs_rmse = xs.rmse(f, t, dim=dims, weights=w)
        xr.testing.assert_allclose(one, xs_rmse.transpose(*one.dims), rtol=RTOL, atol=0)
        got = metrics.MAE().compute_chunk(forecast, truth, region)[name]
        expected = xs.mae(f, t, dim=dims, weights=w)
        xr.testing.assert_allclose(got, expected.transpose(*got.dims), rtol=RTOL, atol=0)
        got = metrics.Bias().compute_chunk(forecast, truth, region)[name]
        expected = xs.me(f, t, dim=dims, weights=w)
        xr.testing.assert_allclose(got, expected.transpose(*got.dims), rtol=RTOL, atol=0)


@pytest.mark.parametrize("region_name", ["global", "tropics", "europe", "box"])
def test_acc_equals_direct_wb2_formula(data, region_name):
    forecast, truth, clim = data
    region = ALL_REGIONS[region_name]
    w = wb2_weights(forecast, region)
    valid = pd.DatetimeIndex(forecast["valid_time"].values.ravel())
    got = metrics.ACC(climatology=clim).compute(forecast, truth, region)
    per_init = metrics.ACC(climatology=clim).compute_chunk(forecast, truth, region)
    for name in ("2m_temperature", "geopotential"):
        # Climatology at each valid time's day of year and hour, looked up by hand.
        c = np.stack(
            [clim[name].sel(dayofyear=t.day_of_year, hour=t.hour).values for t in valid]
        ).reshape(forecast[name].shape)
        f = forecast[name].values
        a = truth[name].transpose(*forecast[name].dims).values
        fa, aa = f - c, a - c
        acc = wmean(fa * aa, w) / np.sqrt(wmean(fa**2, w) * wmean(aa**2, w))
        np.testing.assert_allclose(
            per_init[name].transpose(*forecast[name].dims[:-2]).values, acc, rtol=RTOL
        )
        # Aggregate: the mean over init times of the per-init ACC (WeatherBench2's ACC.compute).
        expected = acc.mean(axis=0)
        np.testing.assert_allclose(
            got[name].transpose(*forecast[name].dims[1:-2]).values, expected, rtol=RTOL
        )
        assert np.all(np.abs(acc) <= 1)


def test_wind_vector_rmse_equals_direct_formula(data):
    forecast, truth, _ = data
    w = wb2_weights(forecast, REGIONS["global"])
    metric = metrics.WindVectorRMSE("u_component_of_wind", "v_component_of_wind", "wind_vector")
    got = metric.compute(forecast, truth)["wind_vector"]
    dims = forecast["u_component_of_wind"].dims
    eu = (
        forecast["u_component_of_wind"].values
        - truth["u_component_of_wind"].transpose(*dims).values
    )
    ev = (
        forecast["v_component_of_wind"].values
        - truth["v_component_of_wind"].transpose(*dims).values
    )
    expected = np.sqrt(wmean(eu**2 + ev**2, w).mean(axis=0))
    np.testing.assert_allclose(got.transpose(*dims[1:-2]).values, expected, rtol=RTOL)


def test_perfect_forecast_scores_zero_rmse_and_acc_one(data):
    _, truth, clim = data
    perfect = truth.copy(deep=True)
    rmse = metrics.RMSE().compute(perfect, truth)
    acc = metrics.ACC(climatology=clim).compute(perfect, truth)
    for name in truth.data_vars:
        assert float(np.abs(rmse[name]).max()) == 0.0
        np.testing.assert_allclose(acc[name].values, 1.0, rtol=1e-12)


def test_acc_is_undefined_for_the_climatology_itself(data):
    forecast, truth, clim = data
    from forecast.verify.climatology import climatology_at

    as_clim = climatology_at(clim, forecast["valid_time"], list(forecast.data_vars))
    acc = metrics.ACC(climatology=clim).compute_chunk(as_clim.transpose(*forecast.dims), truth)
    assert bool(acc["2m_temperature"].isnull().all())


def test_metrics_from_sums_match_compute_chunk(data):
    forecast, truth, clim = data
    region = REGIONS["europe"]
    w = xr.DataArray(wb2_weights(forecast, region), dims=("lat", "lon"))
    from forecast.verify.climatology import climatology_at

    c = climatology_at(clim, forecast["valid_time"], list(forecast.data_vars))
    e, fa, aa = forecast - truth, forecast - c, truth - c
    sums = xr.Dataset(
        {
            "sum_w": w.sum(),
            "sum_e": (w * e).sum(("lat", "lon")).to_dataarray(),
            "sum_e2": (w * e**2).sum(("lat", "lon")).to_dataarray(),
            "sum_abs_e": (w * abs(e)).sum(("lat", "lon")).to_dataarray(),
            "sum_fa": (w * fa * aa).sum(("lat", "lon")).to_dataarray(),
            "sum_ff": (w * fa**2).sum(("lat", "lon")).to_dataarray(),
            "sum_aa": (w * aa**2).sum(("lat", "lon")).to_dataarray(),
        }
    )
    for key in ("mse", "bias", "mae", "acc"):
        metric = metrics.METRICS[key]
        if key == "acc":
            metric = metrics.ACC(climatology=clim)
        direct = metric.compute_chunk(forecast, truth, region).to_dataarray()
        from_sums = metric.from_sums(sums)
        xr.testing.assert_allclose(from_sums, direct.transpose(*from_sums.dims), rtol=RTOL)
