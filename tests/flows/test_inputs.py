"""Init-time resolution and the guardrails as the flow calls them."""

from __future__ import annotations

import datetime as dt

import pytest

from flows import inputs
from forecast.data.layout import to_example_batch
from forecast.data.synthetic import synthetic_era5
from forecast.errors import InvalidInputError
from forecast.variables import PRESSURE_LEVELS


def test_explicit_init_time_becomes_aware_utc():
    assert inputs.resolve_init_time("2026-11-16T06:00", source="synthetic") == dt.datetime(
        2026, 11, 16, 6, tzinfo=dt.UTC
    )


def test_init_time_off_the_cycle_is_refused():
    with pytest.raises(InvalidInputError, match="not on a 6-hourly cycle"):
        inputs.resolve_init_time("2026-11-16T05:00", source="synthetic")


def test_latest_synthetic_init_time_is_on_a_cycle():
    resolved = inputs.resolve_init_time(None, source="synthetic")
    assert resolved.tzinfo is not None and resolved.hour % 6 == 0


@pytest.fixture(scope="module")
def good_inputs(tmp_path_factory):
    path = tmp_path_factory.mktemp("inputs") / "inputs.nc"
    world = synthetic_era5(
        ["2026-11-15T18:00", "2026-11-16T00:00"], grid_deg=10.0, levels=PRESSURE_LEVELS[13]
    )
    to_example_batch(world).to_netcdf(path)
    return path


def test_good_inputs_pass_and_report_what_was_checked(good_inputs):
    checked = inputs.validate_inputs(good_inputs, levels=13, grid_deg=10.0)
    assert checked["grid_deg"] == 10.0 and checked["magnitudes_checked"] is False
    assert "temperature" in checked["variables_checked"]


def test_wrong_grid_is_named(good_inputs):
    with pytest.raises(InvalidInputError, match="grid"):
        inputs.validate_inputs(good_inputs, levels=13, grid_deg=1.0)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(InvalidInputError, match="does not exist"):
        inputs.validate_inputs(tmp_path / "gone.nc", levels=13, grid_deg=10.0)


def test_unreadable_file_is_named(tmp_path):
    junk = tmp_path / "junk.nc"
    junk.write_text("not netcdf")
    with pytest.raises(InvalidInputError, match="unreadable"):
        inputs.validate_inputs(junk, levels=13, grid_deg=10.0)


def test_an_open_data_run_validates_against_the_operational_inputs():
    from forecast.model.config import TASK_13_PRECIP_OUT

    from_checkpoint = inputs.task_input_variables("stats/demo_operational/checkpoint.npz", "cds")
    assert from_checkpoint == tuple(TASK_13_PRECIP_OUT.input_variables)
    assert "total_precipitation_6hr" not in inputs.task_input_variables("", "opendata")
    assert "total_precipitation_6hr" in inputs.task_input_variables("", "synthetic")
