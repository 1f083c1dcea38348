"""Tests of the flat-memory rollout: parity with the reference, tasks, grids, memory, errors."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import jax
import numpy as np
import pytest
import xarray as xr

from forecast import variables
from forecast.errors import InvalidInputError
from forecast.model import checkpoint, config, extraction, normalization
from forecast.model.rollout import Rollout, default_cache_dir
from tests.forecast.model.graphcast_helpers import (
    random_checkpoint,
    require_reference_float32_trig,
    synthetic_batch,
    tiny_model_config,
    vector_a_graphs,
)

# Tolerances of vectors/README.md, in diffs_stddev units.
MAX_STEP1, MAX_LATER, MEAN_ALL = 0.3, 0.5, 0.05
GRID_15 = (np.arange(-90, 91, 15, dtype=np.float32), np.arange(0, 360, 15, dtype=np.float32))


def assert_within_tolerance(ours: xr.Dataset, reference: xr.Dataset, diffs: dict) -> None:
    """Per variable and lead: max |Δ| ≤ 0.3 (step 1) / 0.5 (later), mean |Δ| ≤ 0.05."""
    assert set(ours.data_vars) == set(reference.data_vars)
    for name in reference.data_vars:
        scale = diffs[name].reshape(-1, 1, 1) if diffs[name].ndim else diffs[name]
        ref = reference[name].transpose("time", "batch", ...).values
        delta = np.abs(ours[name].transpose("time", "batch", ...).values - ref) / scale
        for step in range(delta.shape[0]):
            limit = MAX_STEP1 if step == 0 else MAX_LATER
            assert delta[step].max() <= limit, (name, step + 1, float(delta[step].max()))
            assert delta[step].mean() <= MEAN_ALL, (name, step + 1, float(delta[step].mean()))


@pytest.fixture(scope="module")
def official_stats_dir(shared_dir: Path) -> Path:
    return shared_dir / "data" / "graphcast-stats-official"


@pytest.fixture(scope="module")
def vector_a_data(vectors_dir: Path) -> tuple:
    directory = vectors_dir / "A"
    ckpt = checkpoint.load(directory / "checkpoint.npz")
    batch = xr.load_dataset(directory / "example_batch.nc")
    inputs, _, forcings = extraction.extract_inputs_targets_forcings(
        batch, ckpt.task_config, slice("6h", "24h")
    )
    reference = xr.load_dataset(directory / "predictions.nc")
    return directory, inputs, forcings, reference


@pytest.mark.parametrize("fuse", [False, True], ids=["reference-op-order", "optimised"])
def test_vector_a_rollout_matches_reference(
    vectors_dir: Path, vector_a_data: tuple, tmp_path: Path, fuse: bool
) -> None:
    directory, inputs, forcings, reference = vector_a_data
    graphs = vector_a_graphs(vectors_dir)
    rollout = Rollout.from_files(
        directory / "checkpoint.npz",
        directory,
        graphs_provider=lambda lat, lon: graphs,
        fuse_edge_first_layer=fuse,
        float32_accumulation=fuse,
        precompute_edge_embeddings=fuse,
        compilation_cache_dir=tmp_path / "jax_cache",
    )
    calls = []
    ours = rollout.run(inputs, forcings, progress=lambda k, n: calls.append((k, n)))
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert ours["geopotential"].dims == ("time", "batch", "level", "lat", "lon")
    np.testing.assert_array_equal(ours["time"].values, reference["time"].values)
    assert_within_tolerance(ours, reference, rollout.stats.diffs_stddev)
    assert any((tmp_path / "jax_cache").iterdir()), "persistent compilation cache not written"
    assert rollout.identity["checkpoint"] == "checkpoint.npz"
    assert len(rollout.identity["checkpoint_sha256"]) == 64
    if not fuse:
        require_reference_float32_trig(vectors_dir)  # last: a skip hides nothing else
        # Same bf16 operations in the same order as the reference: bit-identical on CPU.
        for name in reference.data_vars:
            np.testing.assert_array_equal(
                ours[name].transpose(*reference[name].dims).values, reference[name].values, name
            )


@pytest.fixture(scope="module")
def precip_out_rollout(tmp_path_factory, official_stats_dir: Path) -> Rollout:
    """Tiny random model for TASK_13_PRECIP_OUT on a 15° grid."""
    task = config.TASK_13_PRECIP_OUT
    stats = normalization.load_stats(official_stats_dir, task.pressure_levels)
    path = tmp_path_factory.mktemp("ckpt") / "precip_out.npz"
    random_checkpoint(path, tiny_model_config(), task, stats, lat=GRID_15[0], lon=GRID_15[1])
    return Rollout.from_files(
        path, official_stats_dir, compilation_cache_dir=tmp_path_factory.mktemp("jax")
    )


def test_precipitation_as_target_only(precip_out_rollout: Rollout, official_stats_dir) -> None:
    stats = precip_out_rollout.stats
    task = config.TASK_13_PRECIP_OUT
    batch = synthetic_batch(task, stats, lat=GRID_15[0], lon=GRID_15[1], num_times=2)
    batch = batch.drop_vars("total_precipitation_6hr")  # a precip-out model never reads it
    forecast = precip_out_rollout.forecast_from_init(batch, steps=3)
    assert set(forecast.data_vars) == set(task.target_variables)
    assert forecast.sizes["time"] == 3
    for name in forecast.data_vars:
        assert np.isfinite(forecast[name].values).all(), name
    # A direct target: mean + stddev · (network output), never a residual on an input.
    precip = forecast["total_precipitation_6hr"].values
    assert np.abs(precip - stats.mean["total_precipitation_6hr"]).max() < 50 * float(
        stats.stddev["total_precipitation_6hr"]
    )


def test_memory_is_flat_in_lead_time(precip_out_rollout: Rollout) -> None:
    stats = precip_out_rollout.stats
    task = config.TASK_13_PRECIP_OUT
    batch = synthetic_batch(task, stats, lat=GRID_15[0], lon=GRID_15[1], num_times=2)
    precip_out_rollout.forecast_from_init(batch, steps=1)
    live_after_1 = len(jax.live_arrays())
    bytes_after_1 = sum(a.nbytes for a in jax.live_arrays())
    forecast = precip_out_rollout.forecast_from_init(batch, steps=8)
    assert forecast.sizes["time"] == 8
    # No per-lead buffer survives on the device: the same arrays as after 1 step.
    assert len(jax.live_arrays()) == live_after_1
    assert sum(a.nbytes for a in jax.live_arrays()) == bytes_after_1
    # One shape, one compilation, whatever the number of steps.
    assert precip_out_rollout._step._cache_size() == 1
    # Predictions live on the host.
    assert all(isinstance(v.data, np.ndarray) for v in forecast.data_vars.values())


@pytest.mark.slow
def test_37_levels_on_a_non_official_grid(tmp_path: Path, official_stats_dir: Path) -> None:
    task = config.TASK  # 37 levels
    # Offset grid without poles, 12° × 10°: not an official grid.
    lat = np.arange(-84, 85, 12, dtype=np.float32)
    lon = np.arange(5, 360, 10, dtype=np.float32)
    stats = normalization.load_stats(official_stats_dir, task.pressure_levels)
    path = tmp_path / "tiny37.npz"
    random_checkpoint(path, tiny_model_config(mesh_size=2), task, stats, lat=lat, lon=lon)
    rollout = Rollout.from_files(path, official_stats_dir, compilation_cache_dir=tmp_path / "c")
    batch = synthetic_batch(task, stats, lat=lat, lon=lon, num_times=2, with_tisr=True)
    forecast = rollout.forecast_from_init(batch, steps=2)
    assert forecast["temperature"].sizes == {
        "time": 2,
        "batch": 1,
        "level": 37,
        "lat": lat.size,
        "lon": lon.size,
    }
    assert list(forecast["level"].values) == list(variables.PRESSURE_LEVELS_37)
    assert np.isfinite(forecast["temperature"].values).all()


def test_third_party_checkpoint_runs(shared_dir: Path, official_stats_dir: Path, tmp_path) -> None:
    path = shared_dir / "data" / "third-party-checkpoint" / "fine_tuned_model.npz"
    rollout = Rollout.from_files(path, official_stats_dir, compilation_cache_dir=tmp_path)
    lat = np.arange(-90, 91, 10, dtype=np.float32)
    lon = np.arange(0, 360, 10, dtype=np.float32)
    batch = synthetic_batch(
        rollout.checkpoint.task_config, rollout.stats, lat=lat, lon=lon, num_times=2
    )
    forecast = rollout.forecast_from_init(batch, steps=2)
    assert forecast.sizes["time"] == 2
    for name in forecast.data_vars:
        assert np.isfinite(forecast[name].values).all(), name


def test_wrong_grid_and_width_are_named(vectors_dir: Path, vector_a_data: tuple) -> None:
    directory, inputs, forcings, _ = vector_a_data
    rollout = Rollout.from_files(directory / "checkpoint.npz", directory)
    coarse = inputs.isel(lat=slice(None, None, 2)), forcings.isel(lat=slice(None, None, 2))
    with pytest.raises(InvalidInputError, match="wrong grid.*lat spacing 8.*resolution is 4"):
        rollout.run(*coarse)
    # The same weights told they serve a task without precipitation input: 184 ≠ 186.
    mislabelled = dataclasses.replace(rollout.checkpoint, task_config=config.TASK_13_PRECIP_OUT)
    other = Rollout(mislabelled, rollout.stats)
    with pytest.raises(InvalidInputError, match="184 channels.*expects 186"):
        other.run(inputs.drop_vars("total_precipitation_6hr"), forcings)


def test_cache_dir_follows_environment(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GCF_JAX_CACHE_DIR", str(tmp_path / "x"))
    assert default_cache_dir() == tmp_path / "x"
    monkeypatch.delenv("GCF_JAX_CACHE_DIR")
    monkeypatch.setenv("GCF_VAR_DIR", str(tmp_path / "var"))
    assert default_cache_dir() == tmp_path / "var" / "jax_cache"


def test_spilled_rollout_equals_in_memory_and_leaves_no_files(
    vectors_dir: Path, vector_a_data: tuple, tmp_path: Path
) -> None:
    directory, inputs, forcings, reference = vector_a_data
    graphs = vector_a_graphs(vectors_dir)

    def rollout(**kwargs) -> Rollout:
        return Rollout.from_files(
            directory / "checkpoint.npz",
            directory,
            graphs_provider=lambda lat, lon: graphs,
            compilation_cache_dir=tmp_path / "jax_cache",
            **kwargs,
        )

    in_memory = rollout().run(inputs, forcings)
    spill_dir = tmp_path / "spill"
    spilled = rollout(spill_dir=spill_dir).run(inputs, forcings)
    for name in reference.data_vars:
        # Backed by a file mapping, not anonymous memory; same numbers.
        assert isinstance(spilled[name].variable._data, np.memmap), name
        np.testing.assert_array_equal(spilled[name].values, in_memory[name].values, name)
    assert list(spill_dir.iterdir()) == []  # unlinked at once: nothing to clean up


def _rss_file_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssFile:"):
            return int(line.split()[1]) / 1024
    pytest.skip("no RssFile in /proc/self/status")


def test_written_leads_of_a_spilled_forecast_leave_the_resident_set(tmp_path: Path) -> None:
    from forecast.model.rollout import _drop_written_pages

    array = np.lib.format.open_memmap(tmp_path / "lead.npy", mode="w+", dtype=np.float32,
                                      shape=(4, 4_000_000))  # fmt: skip
    before = _rss_file_mb()
    array[:] = 1.0  # 64 MB of dirty file-backed pages in this process's RSS
    assert _rss_file_mb() - before > 50
    _drop_written_pages(array)
    assert _rss_file_mb() - before < 10
    assert float(array.sum()) == 16_000_000.0  # written back: the data are all there
