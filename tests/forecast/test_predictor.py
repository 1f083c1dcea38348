"""Tests of the service-facing predictor interface (persistence baseline, forecast layout)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from forecast.data.layout import to_example_batch
from forecast.errors import InvalidInputError
from forecast.predictor import ForecastPredictor, PersistencePredictor, load_predictor


def _model_layout_dataset(num_times: int = 3, seed: int = 0) -> xr.Dataset:
    rng = np.random.default_rng(seed)
    times = pd.date_range("2026-11-15T12:00", periods=num_times, freq="6h")
    lat = np.linspace(-90, 90, 5, dtype=np.float32)
    lon = np.arange(0, 360, 60, dtype=np.float32)
    level = np.array([500, 850, 1000], dtype=np.int32)
    surf = (num_times, lat.size, lon.size)
    atmos = (num_times, level.size, lat.size, lon.size)
    ds = xr.Dataset(
        {
            "2m_temperature": (("time", "lat", "lon"), rng.normal(280, 5, surf)),
            "total_precipitation_6hr": (("time", "lat", "lon"), rng.gamma(1, 1e-3, surf)),
            "temperature": (("time", "level", "lat", "lon"), rng.normal(250, 10, atmos)),
            "land_sea_mask": (("lat", "lon"), rng.uniform(0, 1, surf[1:])),
        },
        coords={"time": times, "lat": lat, "lon": lon, "level": level},
        attrs={"source": "synthetic", "synthetic": 1, "synthetic_seed": seed},
    )
    return ds.astype(np.float32)


def test_persistence_is_a_forecast_predictor() -> None:
    assert isinstance(PersistencePredictor(), ForecastPredictor)
    assert isinstance(load_predictor("persistence"), PersistencePredictor)


@pytest.mark.parametrize("example_batch", [False, True])
def test_persistence_repeats_init_state_in_forecast_layout(example_batch: bool) -> None:
    ds = _model_layout_dataset()
    calls: list[tuple[int, int]] = []
    inputs = to_example_batch(ds) if example_batch else ds
    fc = PersistencePredictor().forecast(
        inputs, steps=4, progress=lambda k, n: calls.append((k, n))
    )

    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert set(fc.data_vars) == {"2m_temperature", "total_precipitation_6hr", "temperature"}
    assert fc["temperature"].dims == ("time", "level", "lat", "lon")
    assert fc["2m_temperature"].dims == ("time", "lat", "lon")
    init = pd.Timestamp("2026-11-16T00:00")
    expected_times = init + pd.to_timedelta([6, 12, 18, 24], unit="h")
    np.testing.assert_array_equal(fc["time"].values, expected_times.to_numpy())
    np.testing.assert_array_equal(
        fc["lead_time"].values, pd.to_timedelta([6, 12, 18, 24], unit="h").to_numpy()
    )
    for k in range(4):
        for name in fc.data_vars:
            np.testing.assert_array_equal(
                fc[name].isel(time=k).values, ds[name].isel(time=-1).values
            )
    assert fc.attrs["init_time"] == "2026-11-16T00:00:00"
    assert fc.attrs["predictor"] == "persistence"
    assert fc.attrs["source"] == "synthetic"
    assert fc.attrs["synthetic"] == 1
    assert fc.attrs["checkpoint"] == ""
    assert fc["temperature"].attrs["units"] == "K"


def test_persistence_rejects_nan_and_bad_steps() -> None:
    ds = _model_layout_dataset()
    ds["temperature"][-1, 0, 0, 0] = np.nan
    with pytest.raises(InvalidInputError, match="temperature"):
        PersistencePredictor().forecast(ds, steps=2)
    with pytest.raises(InvalidInputError, match="steps"):
        PersistencePredictor().forecast(_model_layout_dataset(), steps=0)


def test_persistence_rejects_inputs_without_forecast_variables() -> None:
    full = _model_layout_dataset()
    ds = full[["land_sea_mask"]].assign(toa_incident_solar_radiation=full["2m_temperature"])
    with pytest.raises(InvalidInputError, match="none of the persisted variables"):
        PersistencePredictor().forecast(ds, steps=1)


def test_load_predictor_needs_stats_for_checkpoint() -> None:
    with pytest.raises(InvalidInputError, match="stats"):
        load_predictor("some/checkpoint.npz")


def test_graphcast_predictor_forecasts_from_init(vectors_dir, tmp_path, monkeypatch) -> None:
    from forecast.data.layout import from_example_batch
    from forecast.predictor import GraphCastPredictor

    monkeypatch.setenv("GCF_JAX_CACHE_DIR", str(tmp_path / "jax_cache"))
    directory = vectors_dir / "A"
    batch = xr.load_dataset(directory / "example_batch.nc")
    # Model layout ending at the init time: no target-time forcings, so TISR and progress
    # features at the leads must be derived.
    inputs = from_example_batch(batch.isel(time=slice(0, 2)))
    inputs.attrs.update(source="synthetic", synthetic=1)
    predictor = load_predictor(str(directory / "checkpoint.npz"), directory)
    assert isinstance(predictor, GraphCastPredictor)
    assert isinstance(predictor, ForecastPredictor)
    calls = []
    fc = predictor.forecast(inputs, steps=3, progress=lambda k, n: calls.append((k, n)))
    assert calls == [(1, 3), (2, 3), (3, 3)]
    assert fc.attrs["init_time"] == "2022-01-01T06:00:00"
    assert fc.attrs["predictor"] == "graphcast"
    assert fc.attrs["checkpoint"] == "checkpoint.npz"
    assert fc.attrs["checkpoint_sha256"] == predictor.identity["checkpoint_sha256"]
    assert fc.attrs["checkpoint_description"].startswith("Synthetic test checkpoint")
    assert (fc.attrs["source"], fc.attrs["synthetic"]) == ("synthetic", 1)
    assert fc["geopotential"].dims == ("time", "level", "lat", "lon")
    np.testing.assert_array_equal(
        fc["lead_time"].values, pd.to_timedelta([6, 12, 18], unit="h").to_numpy()
    )
    for name in fc.data_vars:
        assert np.isfinite(fc[name].values).all(), name
    # Physically plausible: 6 h of a random-weights model stays near the init state.
    t2m_change = np.abs(fc["2m_temperature"].isel(time=0) - inputs["2m_temperature"].isel(time=-1))
    assert float(t2m_change.max()) < 50.0
