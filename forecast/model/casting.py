"""bfloat16 casting wrapper: the network computes in bf16, everything around it in float32.

Normalised inputs and forcings are rounded to bf16 on the way in, parameters are *stored*
float32 (checkpoint layout, optimiser state) and rounded to bf16 each time they are read, and
the network's bf16 outputs are converted back to float32 before un-normalisation (SPEC §7).
"""

from __future__ import annotations

import contextlib

import haiku as hk
import jax
import jax.numpy as jnp

from forecast.model.predictor_base import Fields, Predictor


class Bfloat16Cast(Predictor):
    """Runs the inner predictor in bf16 (see module docstring).

    Args:
      predictor: the inner predictor.
      enabled: False runs the inner predictor in float32 unchanged (for debugging/comparison).
    """

    def __init__(self, predictor: Predictor, *, enabled: bool = True) -> None:
        self._predictor = predictor
        self._enabled = enabled

    def __call__(self, inputs: Fields, forcings: Fields) -> Fields:
        """One step; outputs converted to float32."""
        if not self._enabled:
            return self._predictor(inputs, forcings)
        with bfloat16_params():
            outputs = self._predictor(_to_bf16(inputs), _to_bf16(forcings))
        return {name: value.astype(jnp.float32) for name, value in outputs.items()}

    def loss(self, inputs: Fields, targets: Fields, forcings: Fields) -> jax.Array:
        """The inner loss with bf16 inputs/targets, returned as float32."""
        if not self._enabled:
            return self._predictor.loss(inputs, targets, forcings)
        with bfloat16_params():
            loss = self._predictor.loss(_to_bf16(inputs), _to_bf16(targets), _to_bf16(forcings))
        return loss.astype(jnp.float32)


def _to_bf16(fields: Fields) -> Fields:
    return {
        name: value.astype(jnp.bfloat16) if jnp.issubdtype(value.dtype, jnp.floating) else value
        for name, value in fields.items()
    }


@contextlib.contextmanager
def bfloat16_params():
    """Within haiku: parameters created float32, read as bf16."""

    def create_float32(next_creator, shape, dtype, init, context):
        del dtype, context
        return next_creator(shape, jnp.float32, init)

    def read_as_bfloat16(next_getter, value, context):
        del context
        if value.dtype == jnp.float32:
            value = value.astype(jnp.bfloat16)
        return next_getter(value)

    with hk.custom_creator(create_float32), hk.custom_getter(read_as_bfloat16):
        yield
