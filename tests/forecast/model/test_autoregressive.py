"""Tests of the autoregressive (training) wrapper against the step-by-step rollout."""

from __future__ import annotations

from pathlib import Path

import haiku as hk
import jax
import numpy as np
import pytest

from forecast.errors import InvalidInputError
from forecast.model import autoregressive, build, config, extraction, normalization
from forecast.model.graphcast import GraphArrays
from forecast.model.graphs import build_graphs
from forecast.model.rollout import Rollout
from forecast.model.xarray_jax import dataset_to_fields
from tests.forecast.model.graphcast_helpers import (
    random_checkpoint,
    synthetic_batch,
    tiny_model_config,
)

LAT = np.arange(-90, 91, 15, dtype=np.float32)
LON = np.arange(0, 360, 15, dtype=np.float32)


@pytest.fixture(scope="module")
def setup(shared_dir: Path, tmp_path_factory) -> dict:
    task = config.TASK_13
    stats_dir = shared_dir / "data" / "graphcast-stats-official"
    stats = normalization.load_stats(stats_dir, task.pressure_levels)
    model = tiny_model_config()
    path = tmp_path_factory.mktemp("ckpt") / "tiny.npz"
    ckpt = random_checkpoint(path, model, task, stats, lat=LAT, lon=LON, seed=3)
    batch = synthetic_batch(task, stats, lat=LAT, lon=LON, num_times=5, seed=1)
    inputs, targets, forcings = extraction.extract_inputs_targets_forcings(
        batch, task, slice("6h", "18h")
    )
    graphs = GraphArrays.from_graphs(
        build_graphs(LAT, LON, mesh_size=1, radius_query_fraction_edge_length=0.6)
    )
    return dict(
        task=task, stats=stats, model=model, ckpt=ckpt, path=path, stats_dir=stats_dir,
        inputs=inputs, targets=targets, forcings=forcings, graphs=graphs,
    )  # fmt: skip


def _transformed(setup: dict, method: str):
    def forward(*args):
        predictor = build.build_predictor(
            setup["model"], setup["task"], setup["stats"], setup["graphs"], grid_lat=LAT
        )
        return getattr(predictor, method)(*args)

    return hk.without_apply_rng(hk.transform(forward))


def test_scan_rollout_equals_step_by_step_rollout(setup: dict, tmp_path: Path) -> None:
    task = setup["task"]
    inputs = dataset_to_fields(setup["inputs"], task.input_variables)
    forcings = dataset_to_fields(setup["forcings"], task.forcing_variables)
    scanned = jax.jit(_transformed(setup, "__call__").apply)(setup["ckpt"].params, inputs, forcings)

    rollout = Rollout.from_files(setup["path"], setup["stats_dir"], compilation_cache_dir=tmp_path)
    stepped = rollout.run(setup["inputs"], setup["forcings"])
    for name in task.target_variables:
        ours = np.asarray(scanned[name])  # (B, T, ...)
        theirs = stepped[name].values.swapaxes(0, 1)  # (time, B, ...) → (B, T, ...)
        scale = setup["stats"].diffs_stddev[name]
        scale = scale.reshape(-1, 1, 1) if scale.ndim else scale
        assert np.abs(ours - theirs).max() / np.max(scale) < 0.05, name


@pytest.mark.slow
def test_loss_is_differentiable(setup: dict) -> None:
    task = setup["task"]
    inputs = dataset_to_fields(setup["inputs"], task.input_variables)
    targets = dataset_to_fields(setup["targets"], task.target_variables)
    forcings = dataset_to_fields(setup["forcings"], task.forcing_variables)
    loss_fn = _transformed(setup, "loss")
    loss, grads = jax.jit(jax.value_and_grad(loss_fn.apply))(
        setup["ckpt"].params, inputs, targets, forcings
    )
    assert np.isfinite(float(loss)) and float(loss) > 0
    leaves = jax.tree_util.tree_leaves(grads)
    assert all(np.isfinite(np.asarray(g)).all() for g in leaves)
    module = "mesh2grid_gnn/~_networks_builder/decoder_nodes_grid_nodes_mlp/~/linear_1"
    assert np.abs(np.asarray(grads[module]["w"])).max() > 0
    # A perfect prediction has zero loss: targets = the model's own rollout.
    predicted = jax.jit(_transformed(setup, "__call__").apply)(
        setup["ckpt"].params, inputs, forcings
    )
    perfect = jax.jit(loss_fn.apply)(setup["ckpt"].params, inputs, predicted, forcings)
    assert float(perfect) < 1e-3 * float(loss)


def test_feedback_validation_names_culprits() -> None:
    with pytest.raises(InvalidInputError, match="orphan"):
        autoregressive.validate_feedback(["orphan", "t"], [], ["t"], [])
    with pytest.raises(InvalidInputError, match="both targets and forcings"):
        autoregressive.validate_feedback(["t"], [], ["t"], ["t"])
    autoregressive.validate_feedback(["t", "lsm", "f"], ["lsm"], ["t"], ["f"])
