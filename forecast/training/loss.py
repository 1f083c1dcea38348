"""The GraphCast training loss as a pure function of parameters, for `jax.grad`.

The loss itself lives in the model's predictors (`forecast.model.build.build_predictor`):
`InputsAndResiduals.loss` turns targets into residuals normalised by `diffs_stddev`
(predictions and targets are compared in those units), `graphcast.weighted_mse` weights
squared errors by latitude-row area (cos φ, mean 1), by pressure level (∝ p, mean 1) and by
variable (2 m temperature and atmospheric variables 1, other surface variables 0.1), and
`autoregressive.Predictor.loss` averages the per-step losses over the lead times of a
multi-step rollout, predictions fed back, with `hk.remat` on every step (gradient
checkpointing: backward memory of one step, not of the whole rollout). This module only
wraps that in `hk.transform` and documents the weights so they can be checked.
"""

from __future__ import annotations

from collections.abc import Callable

import haiku as hk
import jax
import numpy as np

from forecast import variables
from forecast.model import build, normalization
from forecast.model.config import ModelConfig, TaskConfig
from forecast.model.graphcast import GraphArrays
from forecast.model.predictor_base import Fields

LossFn = Callable[[dict, GraphArrays, Fields, Fields, Fields], jax.Array]


def make_loss(
    model_config: ModelConfig,
    task_config: TaskConfig,
    stats: normalization.NormStats,
    grid_lat: np.ndarray,
    *,
    bfloat16: bool = False,
) -> LossFn:
    """`loss(params, graphs, inputs, targets, forcings) -> scalar`, differentiable in params.

    Args:
        model_config, task_config: the network and task.
        stats: normalisation statistics for the task's levels.
        grid_lat: latitudes of the grid rows (area weights).
        bfloat16: run the network in bf16 as at inference; False (float32) trains ~1.5×
            faster on CPUs, which emulate bf16.

    Returns:
        The pure loss function; `targets`/`forcings` hold K ≥ 1 lead times.
    """

    def loss_fn(graphs: GraphArrays, inputs: Fields, targets: Fields, forcings: Fields):
        predictor = build.build_predictor(
            model_config,
            task_config,
            stats,
            graphs,
            grid_lat=grid_lat,
            bfloat16=bfloat16,
            gradient_checkpointing=True,
        )
        return predictor.loss(inputs, targets, forcings)

    return hk.without_apply_rng(hk.transform(loss_fn)).apply


def variable_weight(name: str) -> float:
    """Per-variable loss weight (GraphCast paper): 0.1 for surface targets other than 2 m T."""
    if name in variables.TARGET_SURFACE_VARS and name != "2m_temperature":
        return 0.1
    return 1.0


def level_weights(levels: tuple[int, ...]) -> np.ndarray:
    """Per-level weights ∝ pressure, normalised to mean 1."""
    levels_arr = np.asarray(levels, dtype=np.float64)
    return levels_arr / levels_arr.mean()


def latitude_weights(lat: np.ndarray) -> np.ndarray:
    """Per-row area weights cos φ, normalised to mean 1 (as the model's loss uses)."""
    weights = np.cos(np.deg2rad(np.asarray(lat, dtype=np.float64)))
    return weights / weights.mean()
