"""Tests of the one-step network: parameter layout, channel stacking, fused edge MLP."""

from __future__ import annotations

from pathlib import Path

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import xarray as xr

from forecast.model import build, checkpoint, extraction, graphcast, normalization, typed_graph_net
from forecast.model.graphcast import GraphArrays
from forecast.model.xarray_jax import dataset_to_fields
from tests.forecast.model.graphcast_helpers import vector_a_graphs


@pytest.fixture(scope="module")
def vector_a(vectors_dir: Path) -> dict:
    directory = vectors_dir / "A"
    ckpt = checkpoint.load(directory / "checkpoint.npz")
    task = ckpt.task_config
    stats = normalization.load_stats(directory, task.pressure_levels)
    # The first three times: the reference's step-1 inputs (0 h, 6 h) and target (12 h).
    batch = xr.load_dataset(directory / "example_batch.nc").isel(time=slice(0, 3))
    inputs, _, forcings = extraction.extract_inputs_targets_forcings(batch, task, slice("6h", "6h"))
    return {
        "ckpt": ckpt,
        "stats": stats,
        "graphs": GraphArrays.from_graphs(vector_a_graphs(vectors_dir)),
        "inputs": dataset_to_fields(inputs, task.input_variables),
        "forcings": dataset_to_fields(forcings, task.forcing_variables),
        "dir": directory,
    }


def test_fresh_parameters_have_the_checkpoint_layout(vector_a: dict) -> None:
    ckpt = vector_a["ckpt"]
    params = build.init_params(
        ckpt.model_config,
        ckpt.task_config,
        vector_a["stats"],
        vector_a["graphs"],
        vector_a["inputs"],
        vector_a["forcings"],
    )
    assert set(params) == set(ckpt.params)
    for module, leaves in ckpt.params.items():
        assert {k: v.shape for k, v in params[module].items()} == {
            k: v.shape for k, v in leaves.items()
        }, module
        assert all(v.dtype == np.float32 for v in params[module].values())


def test_stacked_inputs_match_the_reference_channels(vector_a: dict) -> None:
    stats = vector_a["stats"]

    @jax.jit
    def stacked(inputs, forcings):
        normalize = normalization.InputsAndResiduals(None, stats)._normalize
        cast = {k: v.astype(jnp.bfloat16) for k, v in normalize(inputs).items()}
        cast_f = {k: v.astype(jnp.bfloat16) for k, v in normalize(forcings).items()}
        data = jnp.concatenate(
            [graphcast._stack(cast, 1, 46, 90), graphcast._stack(cast_f, 1, 46, 90)], axis=-1
        )
        return jnp.transpose(data, (1, 2, 0, 3)).reshape(46 * 90, 1, -1).astype(jnp.float32)

    ours = np.asarray(stacked(vector_a["inputs"], vector_a["forcings"]))
    reference = np.load(vector_a["dir"] / "intermediates.npz")[
        "step1_grid_node_input_features_bf16_as_f32"
    ]
    assert ours.shape == reference.shape == (4140, 1, 183)
    # SPEC §15.17: jit may flip a handful of bf16 roundings (2 of 757 620 in the reference).
    assert np.count_nonzero(ours != reference) <= 10


def test_fused_edge_mlp_is_equivalent_within_bf16_noise(vector_a: dict) -> None:
    ckpt = vector_a["ckpt"]

    def run(fuse: bool) -> dict:
        def forward(inputs, forcings):
            return build.build_one_step(
                ckpt.model_config,
                ckpt.task_config,
                vector_a["stats"],
                vector_a["graphs"],
                fuse_edge_first_layer=fuse,
                float32_accumulation=fuse,
            )(inputs, forcings)

        apply = jax.jit(hk.without_apply_rng(hk.transform(forward)).apply)
        return apply(ckpt.params, vector_a["inputs"], vector_a["forcings"])

    fused, plain = run(True), run(False)
    for name, diffs in vector_a["stats"].diffs_stddev.items():
        if name not in fused:
            continue
        scale = diffs.reshape(-1, 1, 1) if diffs.ndim else diffs
        delta = np.abs(np.asarray(fused[name]) - np.asarray(plain[name])) / scale
        assert delta.max() <= 0.3, name
        assert delta.mean() <= 0.05, name
    assert any(
        np.any(np.asarray(fused[n]) != np.asarray(plain[n])) for n in fused
    )  # genuinely a different computation


def test_float32_accumulated_linear_rounds_once() -> None:
    """`SplitLinear` on one array: the bf16 products summed in float32, rounded once, plus
    the bias; `hk.Linear` (the reference) takes the same parameters and agrees to bf16 noise."""
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.standard_normal((4096, 1, 64)), jnp.bfloat16)

    def transformed(linear_class):
        return hk.transform(lambda x: linear_class(32, name="linear_0")(x))

    ours_fn, reference_fn = transformed(typed_graph_net.SplitLinear), transformed(hk.Linear)
    params = ours_fn.init(jax.random.PRNGKey(0), x)
    assert jax.tree.map(np.shape, reference_fn.init(jax.random.PRNGKey(0), x)) == jax.tree.map(
        np.shape, params
    )
    params["linear_0"]["b"] = jnp.asarray(rng.standard_normal(32), jnp.bfloat16)
    ours, reference = (
        np.asarray(jax.jit(f.apply)(params, None, x), np.float32) for f in (ours_fn, reference_fn)
    )
    w, b = (np.asarray(params["linear_0"][k], np.float64) for k in ("w", "b"))
    # Float32 sums of 64 bf16 products are within an ulp of the exact ones.
    exact = jnp.asarray(np.asarray(x, np.float64) @ w, jnp.float32)
    expected = np.asarray(exact.astype(jnp.bfloat16) + jnp.asarray(b, jnp.bfloat16), np.float32)
    assert np.mean(ours == expected) > 0.99
    np.testing.assert_allclose(ours, reference, rtol=2**-7, atol=2**-6)
