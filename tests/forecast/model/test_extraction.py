"""Tests of input/target/forcing extraction (SPEC §4) and its error messages."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from forecast.data.layout import from_example_batch
from forecast.errors import InvalidInputError
from forecast.model import config, extraction
from forecast.model.solar_radiation import toa_incident_solar_radiation

TASK = config.TASK_13


@pytest.fixture(scope="module")
def batch(vectors_dir: Path) -> xr.Dataset:
    return xr.load_dataset(vectors_dir / "A" / "example_batch.nc")


def test_matches_reference_extraction(batch: xr.Dataset, vectors_dir: Path) -> None:
    inputs, targets, forcings = extraction.extract_inputs_targets_forcings(
        batch, TASK, slice("6h", "24h")
    )
    hours = lambda ds: list(pd.to_timedelta(ds["time"].values) / pd.Timedelta("1h"))  # noqa: E731
    assert hours(inputs) == [-6, 0]
    assert hours(targets) == hours(forcings) == [6, 12, 18, 24]
    assert list(inputs.data_vars) == list(TASK.input_variables)
    assert list(targets.data_vars) == list(TASK.target_variables)
    assert list(forcings.data_vars) == list(TASK.forcing_variables)
    assert "datetime" not in inputs.coords
    assert inputs["land_sea_mask"].dims == ("lat", "lon")
    derived = xr.load_dataset(vectors_dir / "A" / "derived_forcings.nc")
    for name in derived.data_vars:
        both = xr.concat([inputs[name], forcings[name]], dim="time")
        # Bit-exact: the dataset's TISR is used as given, progress features follow SPEC §5.1.
        np.testing.assert_array_equal(both.values, derived[name].values, err_msg=name)
    # Unsorted/extra levels in the data: selection by label in the task's order.
    shuffled = batch.isel(level=list(range(12, -1, -1)))
    again, _, _ = extraction.extract_inputs_targets_forcings(shuffled, TASK, slice("6h", "24h"))
    np.testing.assert_array_equal(again["temperature"].values, inputs["temperature"].values)


def test_lead_time_list_and_open_slice(batch: xr.Dataset) -> None:
    _, targets, _ = extraction.extract_inputs_targets_forcings(batch, TASK, ["12h", "24h"])
    assert list(pd.to_timedelta(targets["time"].values).total_seconds() / 3600) == [12, 24]
    _, targets, _ = extraction.extract_inputs_targets_forcings(batch, TASK, slice(None, "12h"))
    assert targets.sizes["time"] == 2


def test_at_init_derives_target_forcings(batch: xr.Dataset) -> None:
    model_layout = from_example_batch(batch.isel(time=slice(0, 2)))
    inputs, forcings = extraction.extract_inputs_and_forcings_at_init(model_layout, TASK, 3)
    assert list(pd.to_timedelta(inputs["time"].values) / pd.Timedelta("1h")) == [-6, 0]
    assert list(pd.to_timedelta(forcings["time"].values) / pd.Timedelta("1h")) == [6, 12, 18]
    np.testing.assert_array_equal(
        inputs["toa_incident_solar_radiation"].values,
        batch["toa_incident_solar_radiation"].isel(time=slice(0, 2)).values,
    )
    valid = pd.to_datetime(["2022-01-01T12:00", "2022-01-01T18:00", "2022-01-02T00:00"])
    expected = toa_incident_solar_radiation(
        valid.to_numpy(), batch["lat"].values, batch["lon"].values
    )
    np.testing.assert_array_equal(forcings["toa_incident_solar_radiation"].values[0], expected)
    assert forcings["year_progress_sin"].dims == ("batch", "time")


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda b: b.drop_vars("geopotential"), r"input variable\(s\) \['geopotential'\] missing"),
        (lambda b: b.isel(level=slice(1, None)), r"level\(s\) \[50\]"),
        (lambda b: b.isel(time=slice(0, 4)), "too few times"),
        (lambda b: b.drop_vars("level"), "level"),
    ],
    ids=["missing-variable", "missing-level", "too-few-times", "no-level-axis"],
)
def test_bad_datasets_name_the_problem(batch: xr.Dataset, mutate, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        extraction.extract_inputs_targets_forcings(mutate(batch), TASK, slice("6h", "24h"))


def test_nan_is_named_with_its_time(batch: xr.Dataset) -> None:
    bad = batch.copy(deep=True)
    bad["toa_incident_solar_radiation"][0, 3] = np.nan  # dataset time 18h = lead 12h
    with pytest.raises(InvalidInputError, match=r"forcing variable 'toa_incident.*12:00:00"):
        extraction.extract_inputs_targets_forcings(bad, TASK, slice("6h", "24h"))
    with pytest.raises(InvalidInputError, match="steps"):
        extraction.extract_inputs_and_forcings_at_init(batch, TASK, 0)
