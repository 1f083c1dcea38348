"""The one place that composes GraphCast with its wrappers, in the reference's order.

    GraphCast → Bfloat16Cast → InputsAndResiduals → autoregressive.Predictor

Both builders must be called inside `hk.transform` (parameters are created/read by haiku).
`build_one_step` is what the flat-memory rollout jits; `build_predictor` adds the
autoregressive layer and is what training differentiates:

    def loss_fn(inputs, targets, forcings):
        return build_predictor(model_config, task_config, stats, graphs).loss(
            inputs, targets, forcings)
    loss = hk.transform(loss_fn)          # params in the checkpoint layout, float32
    grads = jax.grad(loss.apply)(params, None, inputs, targets, forcings)

Inputs/targets/forcings are `Fields` in physical units (see `predictor_base`;
`xarray_jax.dataset_to_fields` converts Datasets).
"""

from __future__ import annotations

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np

from forecast.model import autoregressive, casting, graphcast, normalization
from forecast.model.chunking import ChunkPlan
from forecast.model.config import ModelConfig, TaskConfig
from forecast.model.graphcast import GraphArrays
from forecast.model.predictor_base import Predictor


def build_one_step(
    model_config: ModelConfig,
    task_config: TaskConfig,
    stats: normalization.NormStats,
    graphs: GraphArrays,
    *,
    grid_lat: np.ndarray | None = None,
    bfloat16: bool = True,
    fuse_edge_first_layer: bool = True,
    float32_accumulation: bool = True,
    chunks: ChunkPlan | None = None,
) -> Predictor:
    """One 6 h step in physical units (float32 in, float32 out).

    Args:
      model_config, task_config: from the checkpoint.
      stats: normalisation statistics for the task's levels.
      graphs: graph arrays for the data's grid (may be jit arguments).
      grid_lat: grid-row latitudes for the loss's area weights.
      bfloat16: run the network in bf16 as the reference does (False: float32 throughout).
      fuse_edge_first_layer: see `typed_graph_net.SplitLinear`.
      float32_accumulation: every linear layer accumulates in float32 (`GraphCast`).
      chunks: grid stages in chunks (graphs padded by `chunking.pad_graphs`); None: whole.
    """
    # The network itself: works in normalised units and whatever dtype it is handed.
    predictor: Predictor = graphcast.GraphCast(
        model_config,
        task_config,
        graphs,
        grid_lat=grid_lat,
        fuse_edge_first_layer=fuse_edge_first_layer,
        float32_accumulation=float32_accumulation,
        chunks=chunks,
    )
    # bf16 sits right around the network so normalisation, residual add and feedback all
    # stay float32 (bf16 has ~3 significant digits; residuals would lose the state).
    predictor = casting.Bfloat16Cast(predictor, enabled=bfloat16)
    # Normalisation outside the cast: statistics applied in float32; outputs become residuals
    # added to the float32 last input frame.
    return normalization.InputsAndResiduals(predictor, stats)


def build_predictor(
    model_config: ModelConfig,
    task_config: TaskConfig,
    stats: normalization.NormStats,
    graphs: GraphArrays,
    *,
    grid_lat: np.ndarray | None = None,
    bfloat16: bool = True,
    fuse_edge_first_layer: bool = True,
    float32_accumulation: bool = True,
    gradient_checkpointing: bool = True,
) -> Predictor:
    """Multi-step predictor for training (and short rollouts), see the module docstring."""
    one_step = build_one_step(
        model_config,
        task_config,
        stats,
        graphs,
        grid_lat=grid_lat,
        bfloat16=bfloat16,
        fuse_edge_first_layer=fuse_edge_first_layer,
        float32_accumulation=float32_accumulation,
    )
    # Outermost: feeds float32 physical-unit predictions back as inputs, as inference does;
    # checkpointing keeps backward-pass memory at one step's activations.
    return autoregressive.Predictor(one_step, gradient_checkpointing=gradient_checkpointing)


def build_edge_embedder(
    model_config: ModelConfig,
    task_config: TaskConfig,
    graphs: GraphArrays,
    *,
    bfloat16: bool = True,
    fuse_edge_first_layer: bool = True,
    float32_accumulation: bool = True,
    chunks: ChunkPlan | None = None,
    products: bool = False,
):
    """`() -> GraphArrays.edge_embeddings` (inside `hk.transform`), with the step's casting.

    The edge embeddings depend only on weights and graphs: a rollout computes them once and
    passes them in `GraphArrays.edge_embeddings`; results are identical to computing them in
    every step. With `products`, the function returns `GraphArrays.edge_products` instead
    (chunked and fused only; see `GraphCast.edge_products`).
    """
    network = graphcast.GraphCast(
        model_config,
        task_config,
        graphs,
        fuse_edge_first_layer=fuse_edge_first_layer,
        float32_accumulation=float32_accumulation,
        chunks=chunks,
    )
    method = network.edge_products if products else network.embed_edges
    if not bfloat16:
        return lambda: method(jnp.float32)

    def embed():
        # Same placement as `casting.Bfloat16Cast` around the network in `build_one_step`.
        with casting.bfloat16_params():
            return method(jnp.bfloat16)

    return embed


def init_params(
    model_config: ModelConfig,
    task_config: TaskConfig,
    stats: normalization.NormStats,
    graphs: GraphArrays,
    inputs: dict,
    forcings: dict,
    *,
    seed: int = 0,
) -> dict:
    """Fresh float32 parameters in the checkpoint layout (haiku's default initialisers).

    Args:
      inputs, forcings: example `Fields` of one step (their shapes fix the input width).
      seed: PRNG seed.
    """

    def forward(inputs, forcings):
        return build_one_step(model_config, task_config, stats, graphs)(inputs, forcings)

    transformed = hk.transform(forward)
    params = jax.jit(transformed.init)(jax.random.PRNGKey(seed), inputs, forcings)
    return jax.tree_util.tree_map(np.asarray, hk.data_structures.to_mutable_dict(params))
