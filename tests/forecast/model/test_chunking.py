"""Chunked grid stages: same predictions as unchunked (to bf16 rounding), planning, padding."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import jax
import numpy as np
import pytest
import xarray as xr

from forecast.errors import InvalidInputError
from forecast.model import checkpoint, chunking, config, extraction, normalization
from forecast.model.graphcast import GraphArrays
from forecast.model.graphs import build_graphs
from forecast.model.rollout import Rollout
from tests.forecast.model.graphcast_helpers import (
    random_checkpoint,
    synthetic_batch,
    tiny_model_config,
    vector_a_graphs,
)
from tests.forecast.model.test_rollout import assert_within_tolerance

GRID_5 = (np.arange(-90, 91, 5, dtype=np.float32), np.arange(0, 360, 5, dtype=np.float32))


@pytest.fixture(scope="module")
def vector_a(vectors_dir: Path) -> tuple:
    directory = vectors_dir / "A"
    ckpt = checkpoint.load(directory / "checkpoint.npz")
    batch = xr.load_dataset(directory / "example_batch.nc")
    inputs, _, forcings = extraction.extract_inputs_targets_forcings(
        batch, ckpt.task_config, slice("6h", "24h")
    )
    return directory, inputs, forcings, xr.load_dataset(directory / "predictions.nc")


@pytest.mark.parametrize("fuse", [False, True], ids=["reference-op-order", "optimised"])
def test_chunked_vector_a_within_tolerance_of_reference_and_unchunked(
    vectors_dir: Path, vector_a: tuple, tmp_path: Path, fuse: bool, caplog
) -> None:
    directory, inputs, forcings, reference = vector_a
    graphs = vector_a_graphs(vectors_dir)

    def rollout(chunk_size: int | None) -> Rollout:
        return Rollout.from_files(
            directory / "checkpoint.npz",
            directory,
            graphs_provider=lambda lat, lon: graphs,
            fuse_edge_first_layer=fuse,
            float32_accumulation=fuse,
            precompute_edge_embeddings=fuse,
            compilation_cache_dir=tmp_path / "jax_cache",
            grid_chunk_size=chunk_size,
        )

    whole = rollout(None)
    unchunked = whole.run(inputs, forcings)
    assert whole.chunk_plan is None  # 4° fits any budget
    chunked_rollout = rollout(1000)
    with caplog.at_level(logging.INFO, logger="forecast.model.chunking"):
        chunked = chunked_rollout.run(inputs, forcings)
    # 4140 grid nodes in 5 even chunks (padded to 4140 exactly), logged.
    plan = chunked_rollout.chunk_plan
    assert (plan.grid_nodes, plan.grid2mesh_edges, plan.num_grid_nodes) == (828, 1316, 4140)
    assert "5 chunks of 828 grid nodes" in caplog.text
    stats = chunked_rollout.stats.diffs_stddev
    assert_within_tolerance(chunked, reference, stats)
    assert_within_tolerance(chunked, unchunked, stats)
    # Not a copy of the unchunked path: the chunk bodies round differently somewhere.
    assert any(
        not np.array_equal(chunked[n].values, unchunked[n].values) for n in reference.data_vars
    )


def test_chunked_equals_unchunked_with_padding_and_wide_latents(
    tmp_path: Path, shared_dir: Path
) -> None:
    """A 5° grid (2664 nodes) in 7 chunks of 381 (padded to 2667), latent 64, 2 steps; the
    chunks with the grid-edge products computed in the step and precomputed."""
    task = config.TASK_13_PRECIP_OUT
    stats = normalization.load_stats(
        shared_dir / "data" / "graphcast-stats-official", task.pressure_levels
    )
    path = tmp_path / "ckpt.npz"
    lat, lon = GRID_5
    random_checkpoint(
        path, tiny_model_config(mesh_size=2, latent_size=64), task, stats, lat=lat, lon=lon
    )
    batch = synthetic_batch(task, stats, lat=lat, lon=lon, num_times=2, seed=3)
    results = {}
    for chunk_size, products in ((None, False), (400, False), (400, True)):
        rollout = Rollout(
            checkpoint.load(path),
            stats,
            compilation_cache_dir=tmp_path / "jax",
            grid_chunk_size=chunk_size,
            precompute_edge_products=products,
        )
        results[chunk_size, products] = rollout.forecast_from_init(batch, steps=2)
        if chunk_size is not None:
            assert rollout.chunk_plan.padded_grid_nodes == 2667
            assert rollout.chunk_plan.num_chunks == 7
            assert rollout.chunk_plan.edge_products is products
            assert (rollout._graphs.edge_products is not None) is products
    unchunked = results[None, False]
    for products in (False, True):
        chunked = results[400, products]
        assert_within_tolerance(chunked, unchunked, stats.diffs_stddev)
        for name in unchunked.data_vars:
            assert np.isfinite(chunked[name].values).all(), name
    # The precomputed products are used: their extra bf16 rounding shows somewhere.
    assert any(
        not np.array_equal(results[400, True][n].values, results[400, False][n].values)
        for n in unchunked.data_vars
    )


def test_memory_flat_in_lead_time_when_chunked(tmp_path: Path, shared_dir: Path) -> None:
    task = config.TASK_13_PRECIP_OUT
    stats = normalization.load_stats(
        shared_dir / "data" / "graphcast-stats-official", task.pressure_levels
    )
    path = tmp_path / "ckpt.npz"
    lat, lon = GRID_5
    random_checkpoint(path, tiny_model_config(), task, stats, lat=lat, lon=lon)
    rollout = Rollout(
        checkpoint.load(path), stats, compilation_cache_dir=tmp_path / "jax", grid_chunk_size=500
    )
    batch = synthetic_batch(task, stats, lat=lat, lon=lon, num_times=2)
    rollout.forecast_from_init(batch, steps=1)
    live = sum(a.nbytes for a in jax.live_arrays())
    rollout.forecast_from_init(batch, steps=6)
    assert sum(a.nbytes for a in jax.live_arrays()) == live
    assert rollout._step._cache_size() == 1


def _sizes(**overrides) -> chunking.GraphSizes:
    """The 0.25°/mesh 6 graph sizes (vectors/graphs/official_grids.json), latent 512."""
    values = dict(
        grid_nodes=1038240,
        mesh_nodes=40962,
        grid2mesh_edges=1618818,
        mesh_edges=327660,
        mesh2grid_edges=3114720,
        latent=512,
        channels=186 + 83,
    )
    values.update(overrides)
    return chunking.GraphSizes(**values)


def test_plan_follows_the_budget(caplog) -> None:
    sizes = _sizes()
    smallest = chunking.plan_for_chunk_size(
        chunking.MIN_CHUNK,
        num_grid_nodes=sizes.grid_nodes,
        num_grid2mesh_edges=1618818,
    )
    floor = chunking.step_bytes(sizes, smallest)
    assert floor < chunking.step_bytes(sizes, None)
    with caplog.at_level(logging.INFO, logger="forecast.model.chunking"):
        roomy = chunking.choose_plan(sizes, budget_bytes=chunking.step_bytes(sizes, None))
        wide = chunking.choose_plan(sizes, budget_bytes=floor + 3 * 10**9)
        narrow = chunking.choose_plan(sizes, budget_bytes=floor + 10**9)
    assert roomy is None
    assert wide is not None and narrow is not None
    assert chunking.MIN_CHUNK < narrow.grid_nodes < wide.grid_nodes
    for plan, extra in ((wide, 3e9), (narrow, 1e9)):
        assert chunking.step_bytes(sizes, plan) <= floor + extra
        assert plan.padded_grid_nodes - plan.num_grid_nodes < plan.num_chunks
        assert plan.num_chunks * plan.grid2mesh_edges >= sizes.grid2mesh_edges
        assert f"{plan.num_chunks} chunks of {plan.grid_nodes} grid nodes" in caplog.text
    assert "unchunked" in caplog.text
    # An explicit size wins over any budget; a hopeless budget still runs, with a warning.
    assert chunking.choose_plan(sizes, chunk_size=65536, budget_bytes=1).grid_nodes <= 65536
    with caplog.at_level(logging.WARNING, logger="forecast.model.chunking"):
        assert chunking.choose_plan(sizes, budget_bytes=10**6) == smallest
    assert "exceeds the budget" in caplog.text


def test_edge_products_kept_when_asked_or_when_they_fit(caplog) -> None:
    sizes = _sizes()
    plan = chunking.plan_for_chunk_size(
        32445, num_grid_nodes=sizes.grid_nodes, num_grid2mesh_edges=sizes.grid2mesh_edges
    )
    without = chunking.step_bytes(sizes, plan)
    extra = chunking.edge_products_bytes(sizes)
    # 1.6 M + 3.1 M grid edges × 512 channels × 2 bytes.
    assert extra == (1618818 + 3114720) * 512 * 2
    with_products = dataclasses.replace(plan, edge_products=True)
    assert chunking.step_bytes(sizes, with_products) == without + extra

    def choose(requested, budget):
        return chunking.choose_plan(
            sizes, chunk_size=32445, budget_bytes=budget, edge_products=requested
        ).edge_products

    with caplog.at_level(logging.INFO, logger="forecast.model.chunking"):
        assert choose(None, without + extra) is True
        assert choose(None, without + extra - 1) is False
        assert choose(True, 1) is True
        assert choose(False, 10**15) is False
    assert f"grid-edge products kept ({extra / 1e9:.2f} GB)" in caplog.text
    assert "grid-edge products computed per chunk" in caplog.text
    # Choosing the chunk size too: the products come first whenever they fit at all.
    smallest = chunking.plan_for_chunk_size(
        chunking.MIN_CHUNK,
        num_grid_nodes=sizes.grid_nodes,
        num_grid2mesh_edges=sizes.grid2mesh_edges,
    )
    floor = chunking.step_bytes(sizes, dataclasses.replace(smallest, edge_products=True))
    kept = chunking.choose_plan(sizes, budget_bytes=floor + 10**9, edge_products=None)
    assert kept.edge_products and kept.grid_nodes > chunking.MIN_CHUNK
    assert chunking.step_bytes(sizes, kept) <= floor + 10**9
    assert not chunking.choose_plan(sizes, budget_bytes=floor - 1, edge_products=None).edge_products


def test_available_memory_reads_the_device() -> None:
    available, source = chunking.available_memory_bytes()
    assert available > 0
    expected = "MemAvailable" if jax.devices()[0].platform == "cpu" else "memory_stats"
    assert expected in source


def test_pad_graphs_pads_to_whole_chunks_and_rejects_other_layouts() -> None:
    graphs = GraphArrays.from_graphs(
        build_graphs(*GRID_5, mesh_size=1, radius_query_fraction_edge_length=0.6)
    )
    plan = chunking.plan_for_chunk_size(
        1000,
        num_grid_nodes=2664,
        num_grid2mesh_edges=graphs.grid2mesh.senders.size,
    )
    padded = chunking.pad_graphs(graphs, plan)
    assert padded.grid_node_features.shape[0] == plan.padded_grid_nodes
    assert padded.mesh2grid.senders.size == 3 * plan.padded_grid_nodes
    extra = padded.grid2mesh.receivers[graphs.grid2mesh.receivers.size :]
    assert padded.grid2mesh.senders.size == plan.num_chunks * plan.grid2mesh_edges
    assert (extra == graphs.mesh_node_features.shape[0]).all()
    shuffled = graphs._replace(
        mesh2grid=graphs.mesh2grid._replace(receivers=graphs.mesh2grid.receivers[::-1].copy())
    )
    with pytest.raises(InvalidInputError, match="receiver-major"):
        chunking.pad_graphs(shuffled, plan)
