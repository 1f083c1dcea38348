"""Autoregressive wrapper: roll a one-step predictor over several target times (SPEC §13).

After each step the input window slides by one frame: the new frame of every time-dependent
input is the float32 prediction (targets that are inputs) or the target-time forcing (forcings
that are inputs). Static inputs are passed unchanged. Targets that are not inputs (precipitation
in TASK_13_PRECIP_OUT) are predicted but never fed back.

This wrapper traces all steps into one computation (`hk.scan`), which is what training needs
(gradients through the feedback). Long *inference* rollouts use `forecast.model.rollout`, which
jits one step and keeps memory flat in lead time.
"""

from __future__ import annotations

from collections.abc import Iterable

import haiku as hk
import jax
import jax.numpy as jnp

from forecast.errors import InvalidInputError
from forecast.model import predictor_base
from forecast.model.predictor_base import Fields
from forecast.model.xarray_jax import dims_of_array


def time_dependent(name: str, values: jax.Array) -> bool:
    """Whether a field has a time axis (static fields do not)."""
    return "time" in dims_of_array(name, values.ndim)


def validate_feedback(
    input_names: Iterable[str],
    static_names: Iterable[str],
    target_names: Iterable[str],
    forcing_names: Iterable[str],
) -> None:
    """Every time-dependent input must be refreshed by a target or a forcing.

    Raises:
      InvalidInputError: naming the inputs that nothing would update.
    """
    refreshed = set(target_names) | set(forcing_names)
    orphans = sorted(set(input_names) - set(static_names) - refreshed)
    if orphans:
        raise InvalidInputError(f"time-dependent inputs {orphans} are neither targets nor forcings")
    both = sorted(set(target_names) & set(forcing_names))
    if both:
        raise InvalidInputError(f"variables {both} are both targets and forcings")


def next_window(window: Fields, predictions: Fields, forcings: Fields) -> Fields:
    """Slides the input window by one frame (see module docstring).

    Args:
      window: the current inputs (time-dependent ones with a time axis of the window length).
      predictions: one-step predictions `(B, 1, ...)`, float32.
      forcings: the forcings of the same target time `(B, 1, ...)`.
    """
    result = {}
    for name, values in window.items():
        if not time_dependent(name, values):
            result[name] = values
            continue
        frame = predictions[name] if name in predictions else forcings[name]
        result[name] = jnp.concatenate([values[:, 1:], frame.astype(values.dtype)], axis=1)
    return result


class Predictor(predictor_base.Predictor):
    """Rolls the inner one-step predictor over every time of the forcings.

    Args:
      predictor: the one-step predictor (physical units).
      gradient_checkpointing: recompute each step's activations in the backward pass
        (`hk.remat`): memory O(1 step) instead of O(steps) when differentiating; no numerical
        effect.
    """

    def __init__(
        self, predictor: predictor_base.Predictor, *, gradient_checkpointing: bool = False
    ) -> None:
        self._predictor = predictor
        self._gradient_checkpointing = gradient_checkpointing

    def __call__(self, inputs: Fields, forcings: Fields) -> Fields:
        """Predictions for every forcing time, `(B, T, ...)`."""
        static, window = _split_static(inputs)

        def step(window: Fields, forcing_k: Fields) -> tuple[Fields, Fields]:
            forcing_k = _add_time_axis(forcing_k)
            predictions = self._one_step({**window, **static}, forcing_k)
            return next_window(window, predictions, forcing_k), _drop_time_axis(predictions)

        _, stacked = hk.scan(step, window, _time_major(forcings))
        return _batch_major(stacked)

    def loss(self, inputs: Fields, targets: Fields, forcings: Fields) -> jax.Array:
        """Mean over target times of the one-step losses, predictions fed back."""
        static, window = _split_static(inputs)

        def step(window: Fields, xs: tuple[Fields, Fields]) -> tuple[Fields, jax.Array]:
            forcing_k, target_k = (_add_time_axis(x) for x in xs)
            full = {**window, **static}
            loss = self._one_step_loss(full, target_k, forcing_k)
            predictions = self._one_step(full, forcing_k)
            return next_window(window, predictions, forcing_k), loss

        _, losses = hk.scan(step, window, (_time_major(forcings), _time_major(targets)))
        return jnp.mean(losses)

    def _one_step(self, inputs: Fields, forcings: Fields) -> Fields:
        if self._gradient_checkpointing:
            return hk.remat(self._predictor.__call__)(inputs, forcings)
        return self._predictor(inputs, forcings)

    def _one_step_loss(self, inputs: Fields, targets: Fields, forcings: Fields) -> jax.Array:
        if self._gradient_checkpointing:
            return hk.remat(self._predictor.loss)(inputs, targets, forcings)
        return self._predictor.loss(inputs, targets, forcings)


def _split_static(inputs: Fields) -> tuple[Fields, Fields]:
    static = {n: v for n, v in inputs.items() if not time_dependent(n, v)}
    window = {n: v for n, v in inputs.items() if time_dependent(n, v)}
    return static, window


def _time_major(fields: Fields) -> Fields:
    """(B, T, ...) → (T, B, ...) for scanning over time (canonical time axis is 1)."""
    return {name: jnp.moveaxis(values, 1, 0) for name, values in fields.items()}


def _batch_major(fields: Fields) -> Fields:
    return {name: jnp.moveaxis(values, 0, 1) for name, values in fields.items()}


def _add_time_axis(fields: Fields) -> Fields:
    return {name: values[:, None] for name, values in fields.items()}


def _drop_time_axis(fields: Fields) -> Fields:
    return {name: values[:, 0] for name, values in fields.items()}
