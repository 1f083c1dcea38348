"""Tests of the archive batches: same windows as the inference extraction, spans, stacking."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from forecast.errors import InvalidInputError
from forecast.model.config import TASK_13, TASK_13_PRECIP_OUT
from forecast.training.batches import ArchiveBatches, open_archive


@pytest.mark.parametrize("task", [TASK_13, TASK_13_PRECIP_OUT])
def test_example_equals_the_inference_extraction(small_archive: Path, task) -> None:
    batches = ArchiveBatches(open_archive(small_archive), task, rollout_steps=3)
    init = batches.init_times[2]
    fast = batches.example(init)
    reference = batches.example_via_extraction(init)
    for ours, theirs in zip(fast, reference, strict=True):
        assert list(ours) == list(theirs)
        for name in ours:
            assert ours[name].dtype == theirs[name].dtype, name
            np.testing.assert_array_equal(ours[name], theirs[name], err_msg=name)


def test_windows_stay_inside_the_span(small_archive: Path) -> None:
    archive = open_archive(small_archive)
    batches = ArchiveBatches(
        archive, TASK_13, rollout_steps=2, start="2026-01-01T12", end="2026-01-02T18"
    )
    # Inputs need t − 6 h ≥ start and targets t + 12 h ≤ end.
    assert batches.init_times[0] == pd.Timestamp("2026-01-01T18")
    assert batches.init_times[-1] == pd.Timestamp("2026-01-02T06")
    with pytest.raises(InvalidInputError, match="no complete window"):
        ArchiveBatches(archive, TASK_13, rollout_steps=20)


def test_gaps_are_skipped(small_archive: Path, tmp_path: Path) -> None:
    archive = xr.load_dataset(small_archive)
    gappy = archive.drop_isel(time=[4])  # no frame at 2026-01-02T00
    batches = ArchiveBatches(gappy, TASK_13, rollout_steps=1)
    for t in batches.init_times:
        assert not (t - pd.Timedelta("6h") <= pd.Timestamp("2026-01-02") <= t + pd.Timedelta("6h"))


def test_sampled_batches_stack_and_repeat(small_archive: Path) -> None:
    batches = ArchiveBatches(open_archive(small_archive), TASK_13, rollout_steps=2)
    a = batches.sample(np.random.default_rng(7), 3)
    b = batches.sample(np.random.default_rng(7), 3)
    assert a.init_times == b.init_times and len(set(a.init_times)) == 3
    assert a.inputs["temperature"].shape == (3, 2, 13, 19, 36)
    assert a.targets["2m_temperature"].shape == (3, 2, 19, 36)
    assert a.forcings["day_progress_sin"].shape == (3, 2, 36)
    assert a.inputs["land_sea_mask"].shape == (19, 36)  # statics carry no batch axis
    for i, init in enumerate(a.init_times):
        single = batches.example(init)
        np.testing.assert_array_equal(a.targets["geopotential"][i], single[1]["geopotential"][0])


def test_missing_variables_and_levels_are_named(small_archive: Path) -> None:
    archive = xr.open_dataset(small_archive)
    with pytest.raises(InvalidInputError, match="specific_humidity"):
        ArchiveBatches(archive.drop_vars("specific_humidity"), TASK_13, rollout_steps=1)
    with pytest.raises(InvalidInputError, match="850"):
        ArchiveBatches(archive.drop_sel(level=850), TASK_13, rollout_steps=1)
    with pytest.raises(InvalidInputError, match="not found"):
        open_archive(small_archive.with_name("nothing.nc"))


def test_a_weatherbench2_layout_zarr_gives_the_same_examples(small_archive: Path, tmp_path: Path):
    """The same world stored as WeatherBench 2 does (Zarr, `latitude` descending, `longitude`)."""
    wb2 = tmp_path / "era5.zarr"
    with xr.open_dataset(small_archive) as ds:
        flipped = ds.rename(lat="latitude", lon="longitude").sortby("latitude", ascending=False)
        flipped.chunk({"time": 1}).to_zarr(wb2, consolidated=True, zarr_format=2)
    archive = open_archive(wb2)
    assert archive["temperature"].chunks is None  # lazily indexed, no dask graph per read
    ours = ArchiveBatches(archive, TASK_13, rollout_steps=2)
    reference = ArchiveBatches(open_archive(small_archive), TASK_13, rollout_steps=2)
    init = reference.init_times[3]
    for got, want in zip(ours.example(init), reference.example(init), strict=True):
        assert list(got) == list(want)
        for name in got:
            np.testing.assert_array_equal(got[name], want[name], err_msg=name)
