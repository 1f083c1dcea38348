"""The forecast archive: one Zarr with (init_time, lead_time), appended per run, idempotent."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from forecast.data.synthetic import synthetic_era5
from forecast.errors import InvalidInputError
from forecast.io import append_to_archive, open_archive
from forecast.io.archive import forecast_from_archive
from forecast.io.atomic import leftover_temporaries
from forecast.predictor import PersistencePredictor


def _forecast(init: str, steps: int = 3, **attrs) -> xr.Dataset:
    init_time = pd.Timestamp(init)
    inputs = synthetic_era5(
        [init_time - pd.Timedelta(hours=6), init_time],
        grid_deg=10.0,
        levels=(500, 850),
        variables=["2m_temperature", "temperature"],
    )
    forecast = PersistencePredictor().forecast(inputs, steps=steps)
    forecast.attrs.update(attrs)
    return forecast


def test_runs_append_along_init_time_in_the_weatherbench2_layout(tmp_path):
    store = tmp_path / "archive.zarr"
    first, second = _forecast("2026-11-16T00"), _forecast("2026-11-16T12")
    append_to_archive(second, store)
    append_to_archive(first, store)  # a backfill arrives after a later run
    archive = open_archive(store)
    assert dict(archive["temperature"].sizes) == {
        "init_time": 2,
        "lead_time": 3,
        "level": 2,
        "lat": 19,
        "lon": 36,
    }
    assert archive["temperature"].chunks is not None  # lazy
    np.testing.assert_array_equal(
        archive["init_time"].values,
        pd.to_datetime(["2026-11-16T00", "2026-11-16T12"]).to_numpy(),
    )
    np.testing.assert_array_equal(archive["valid_time"].values[1], second["time"].values)
    for forecast in (first, second):
        back = forecast_from_archive(archive, forecast.attrs["init_time"]).load()
        xr.testing.assert_identical(back, forecast)
    assert leftover_temporaries(tmp_path) == []


def test_appending_the_same_init_twice_keeps_one_copy_with_the_new_values(tmp_path):
    store = tmp_path / "archive.zarr"
    run = _forecast("2026-11-16T00")
    append_to_archive(run, store)
    append_to_archive(_forecast("2026-11-16T06"), store)
    rerun = run + 1.0
    rerun.attrs = run.attrs
    append_to_archive(rerun, store)
    archive = open_archive(store)
    assert archive.sizes["init_time"] == 2
    back = forecast_from_archive(archive, "2026-11-16T00Z").load()
    xr.testing.assert_identical(back, rerun)


def test_shorter_run_is_padded_and_longer_or_foreign_runs_are_refused(tmp_path):
    store = tmp_path / "archive.zarr"
    append_to_archive(_forecast("2026-11-16T00", steps=3), store)
    append_to_archive(_forecast("2026-11-16T06", steps=2), store)
    short = open_archive(store).sel(init_time="2026-11-16T06")
    assert bool(short["temperature"].isel(lead_time=2).isnull().all())
    assert forecast_from_archive(open_archive(store), "2026-11-16T06").sizes["time"] == 2
    with pytest.raises(InvalidInputError, match="beyond"):
        append_to_archive(_forecast("2026-11-16T12", steps=4), store)
    with pytest.raises(InvalidInputError, match="predictor"):
        append_to_archive(_forecast("2026-11-16T12", predictor="graphcast"), store)
    with pytest.raises(InvalidInputError, match="no run initialised"):
        forecast_from_archive(open_archive(store), "2026-11-17T00")
