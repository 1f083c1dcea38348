"""Tests of the year/day progress features and `add_derived_forcings`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from forecast.errors import InvalidInputError
from forecast.model import derived_forcings as df

PROGRESS_NAMES = ("year_progress_sin", "year_progress_cos", "day_progress_sin", "day_progress_cos")


@pytest.fixture(scope="module")
def example_batch(vectors_dir: Path) -> xr.Dataset:
    return xr.load_dataset(vectors_dir / "A" / "example_batch.nc")


@pytest.fixture(scope="module")
def reference_forcings(vectors_dir: Path) -> xr.Dataset:
    return xr.load_dataset(vectors_dir / "A" / "derived_forcings.nc")


def test_progress_features_bit_exact(example_batch, reference_forcings) -> None:
    out = df.add_derived_forcings(example_batch.drop_vars(df.TISR), PROGRESS_NAMES)
    for name in PROGRESS_NAMES:
        ours, ref = out[name], reference_forcings[name]
        assert ours.dims == ref.dims, name
        assert ours.dtype == np.float32, name
        np.testing.assert_array_equal(ours.values, ref.values, err_msg=name)
    assert out["year_progress"].dims == ("batch", "time")
    assert out["day_progress"].dims == ("batch", "time", "lon")


def test_tisr_in_data_is_kept(example_batch, reference_forcings) -> None:
    out = df.add_derived_forcings(example_batch, [df.TISR, *PROGRESS_NAMES])
    np.testing.assert_array_equal(out[df.TISR].values, reference_forcings[df.TISR].values)


def test_tisr_derived_when_absent(example_batch) -> None:
    small = example_batch.drop_vars(df.TISR).isel(time=slice(0, 2))
    out = df.add_derived_forcings(small, [df.TISR])
    assert out[df.TISR].dims == ("batch", "time", "lat", "lon")
    assert out[df.TISR].dtype == np.float32
    assert out[df.TISR].attrs["derived"] == "forecast.model.solar_radiation"
    # The dataset's TISR is the formula × (1 + 0.02·smooth field): within 6% where the sun
    # is up, and night (zero) exactly where the formula has night.
    ours = out[df.TISR].values
    ref = example_batch[df.TISR].isel(time=slice(0, 2)).values
    np.testing.assert_array_equal(ours == 0, ref == 0)
    day = ours > 1e4
    assert np.abs(ref[day] / ours[day] - 1).max() < 0.06
    assert "year_progress" not in out  # only what was asked for


def test_present_family_is_not_recomputed(example_batch) -> None:
    ds = example_batch.drop_vars(df.TISR)
    ds["year_progress"] = xr.zeros_like(ds["datetime"], dtype=np.float32)
    ds["year_progress_sin"] = xr.full_like(ds["datetime"], 7.0, dtype=np.float32)
    out = df.add_derived_forcings(ds, PROGRESS_NAMES)
    assert (out["year_progress_sin"] == 7.0).all()
    assert "day_progress_sin" in out


def test_plain_day_progress_missing_recomputes_family(example_batch) -> None:
    ds = example_batch.drop_vars(df.TISR)
    ds["day_progress_sin"] = xr.zeros_like(ds["datetime"], dtype=np.float32)
    out = df.add_derived_forcings(ds, ["day_progress_sin"])
    assert out["day_progress_sin"].dims == ("batch", "time", "lon")
    assert np.abs(out["day_progress_sin"]).max() > 0.5


def test_no_derived_forcing_requested_returns_input(example_batch) -> None:
    assert df.add_derived_forcings(example_batch, ["2m_temperature"]) is example_batch


def test_model_layout_time_axis() -> None:
    times = np.array(["2022-01-01T00", "2022-01-01T06"], dtype="datetime64[ns]")
    lon = np.arange(0, 360, 90, dtype=np.float32)
    ds = xr.Dataset(coords={"time": times, "lon": lon})
    out = df.add_derived_forcings(ds, ["day_progress_cos"])
    assert out["day_progress_cos"].dims == ("time", "lon")
    # 00 UTC at lon 0: progress 0 → cos 1; 06 UTC at lon 90: progress 0.5 → cos −1.
    assert out["day_progress_cos"].values[0, 0] == 1.0
    assert out["day_progress_cos"].values[1, 1] == pytest.approx(-1.0)


def test_known_values() -> None:
    seconds = df.seconds_since_epoch(np.array(["1970-01-01T12:00:00.9"], dtype="datetime64[ns]"))
    assert seconds.tolist() == [43200]  # truncated, not rounded
    assert df.day_progress(seconds, np.array([0.0, 180.0])).tolist() == [[0.5, 0.0]]
    one_year = int(round(df.AVG_DAYS_PER_YEAR * df.SECONDS_PER_DAY))
    assert df.year_progress(np.array([one_year // 4])) == pytest.approx(0.25, abs=1e-6)


def test_missing_datetime_is_a_clear_error() -> None:
    ds = xr.Dataset(coords={"time": np.array([0, 6], dtype="timedelta64[h]")})
    with pytest.raises(InvalidInputError, match="datetime"):
        df.add_derived_forcings(ds, ["year_progress_sin"])


def test_missing_lon_is_a_clear_error() -> None:
    ds = xr.Dataset(coords={"time": np.array(["2022-01-01"], dtype="datetime64[ns]")})
    with pytest.raises(InvalidInputError, match="'lon'"):
        df.add_derived_forcings(ds, ["day_progress_sin"])


def test_non_datetime_values_rejected() -> None:
    with pytest.raises(InvalidInputError, match="datetime64"):
        df.seconds_since_epoch(np.array([1.0, 2.0]))
