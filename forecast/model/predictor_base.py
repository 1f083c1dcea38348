"""The one interface every model layer implements: one step (or a rollout) and its loss.

Inside the model, data are `Fields`: a dict of variable name → array in the canonical dims of
`forecast.model.xarray_jax.variable_dims` (batch first, then time, [level,] lat, lon; static
fields `(lat, lon)`). xarray Datasets are converted at the edges (`xarray_jax`), so every
predictor here can be traced by `jax.jit` / `hk.transform` and differentiated.

Wrappers (`casting.Bfloat16Cast`, `normalization.InputsAndResiduals`,
`autoregressive.Predictor`) keep the wrapped predictor as `self._predictor`, transform on the
way in, invert on the way out, and implement both methods.
"""

from __future__ import annotations

import abc

import jax

Fields = dict[str, jax.Array]


class Predictor(abc.ABC):
    """A forecast model over `Fields` (must be called inside `hk.transform`)."""

    @abc.abstractmethod
    def __call__(self, inputs: Fields, forcings: Fields) -> Fields:
        """Predicts the targets at the forcings' times.

        Args:
          inputs: the input window (time-dependent fields with a time axis of the window
            length, static fields without one).
          forcings: the forcing fields at the target times.

        Returns:
          The target fields, one time entry per forcing time.
        """

    @abc.abstractmethod
    def loss(self, inputs: Fields, targets: Fields, forcings: Fields) -> jax.Array:
        """Scalar training loss of the prediction against `targets`.

        The loss lives on the predictor (not in the training loop) because each wrapper knows
        the space its inner model works in: the normaliser compares in normalised residual
        units, the casting wrapper returns a float32 loss.
        """
