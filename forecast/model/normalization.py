"""Normalisation wrapper: normalised inputs in, residual (or direct) predictions out (SPEC §6).

Inputs and forcings become (x − mean) / stddev. The inner model predicts, per target, either
a normalised *difference* from the last input frame (targets that are also inputs:
prediction = out · diffs_stddev + last input) or a normalised *value* (targets that are not
inputs, e.g. precipitation in TASK_13_PRECIP_OUT: prediction = out · stddev + mean).
Statistics are selected by level *label* because DeepMind's files carry all 37 ERA5 levels
and are shared by 13- and 37-level models.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from forecast.errors import InvalidInputError
from forecast.model.predictor_base import Fields, Predictor
from forecast.model.xarray_jax import dims_of_array

logger = logging.getLogger(__name__)

STATS_FILES = {
    "mean": "mean_by_level.nc",
    "stddev": "stddev_by_level.nc",
    "diffs_stddev": "diffs_stddev_by_level.nc",
}


@dataclasses.dataclass(frozen=True)
class NormStats:
    """Per-variable statistics for one level set.

    Attributes:
      mean, stddev, diffs_stddev: variable name → float32 array, shape `()` or `(levels,)` in
        the model's level order. `diffs_stddev` is the stddev of 6 h differences.
      levels: the pressure levels (hPa) the level axes refer to.
    """

    mean: dict[str, np.ndarray]
    stddev: dict[str, np.ndarray]
    diffs_stddev: dict[str, np.ndarray]
    levels: tuple[int, ...]


def stats_from_datasets(
    mean: xr.Dataset, stddev: xr.Dataset, diffs_stddev: xr.Dataset, levels: Sequence[int]
) -> NormStats:
    """Selects `levels` by label from each dataset's `level` axis and converts to float32.

    Raises:
      InvalidInputError: a requested level is absent from a dataset (names the level).
    """
    levels = tuple(int(level) for level in levels)
    selected = []
    for label, dataset in (("mean", mean), ("stddev", stddev), ("diffs_stddev", diffs_stddev)):
        if "level" in dataset.dims:
            available = {int(v) for v in dataset["level"].values}
            missing = [level for level in levels if level not in available]
            if missing:
                raise InvalidInputError(f"{label} stats lack pressure level(s) {missing} hPa")
            dataset = dataset.sel(level=list(levels))
        selected.append(
            {name: np.asarray(dataset[name].values, np.float32) for name in dataset.data_vars}
        )
    return NormStats(*selected, levels=levels)


def load_stats(stats_dir: str | Path, levels: Sequence[int]) -> NormStats:
    """Reads the three stats files of `stats_dir` (see `STATS_FILES`) for `levels`.

    Raises:
      InvalidInputError: a file is missing or unreadable, or lacks a level.
    """
    stats_dir = Path(stats_dir)
    datasets = []
    for file_name in STATS_FILES.values():
        path = stats_dir / file_name
        if not path.is_file():
            raise InvalidInputError(f"stats file not found: {path}")
        try:
            datasets.append(xr.load_dataset(path))
        except (OSError, ValueError) as exc:
            raise InvalidInputError(f"stats file {path} is unreadable ({exc})") from exc
    return stats_from_datasets(*datasets, levels=levels)


class InputsAndResiduals(Predictor):
    """Normalises inputs/forcings; the inner predictor's outputs are residuals (see module doc).

    Args:
      predictor: the inner one-step predictor (works in normalised units).
      stats: the statistics for the model's levels.
    """

    def __init__(self, predictor: Predictor, stats: NormStats) -> None:
        self._predictor = predictor
        self._stats = stats

    def __call__(self, inputs: Fields, forcings: Fields) -> Fields:
        """One step in physical units (see `Predictor.__call__`)."""
        outputs = self._predictor(self._normalize(inputs), self._normalize(forcings))
        return {name: self._unnormalize(name, out, inputs) for name, out in outputs.items()}

    def loss(self, inputs: Fields, targets: Fields, forcings: Fields) -> jax.Array:
        """The inner loss on normalised residual targets (the space the network predicts in)."""
        normalized_targets = {
            name: self._normalize_target(name, target, inputs) for name, target in targets.items()
        }
        return self._predictor.loss(
            self._normalize(inputs), normalized_targets, self._normalize(forcings)
        )

    def _normalize(self, fields: Fields) -> Fields:
        result = {}
        for name, values in fields.items():
            mean = self._stat("mean", name, values)
            stddev = self._stat("stddev", name, values)
            if mean is None or stddev is None:
                logger.warning("no mean/stddev for %r: left unnormalised", name)
                result[name] = values
            else:
                result[name] = (values - mean) / stddev
        return result

    def _unnormalize(self, name: str, out: jax.Array, inputs: Fields) -> jax.Array:
        if name in inputs:
            return out * self._required("diffs_stddev", name, out) + _last_frame(inputs[name])
        return out * self._required("stddev", name, out) + self._required("mean", name, out)

    def _normalize_target(self, name: str, target: jax.Array, inputs: Fields) -> jax.Array:
        if name in inputs:
            return (target - _last_frame(inputs[name])) / self._required(
                "diffs_stddev", name, target
            )
        return (target - self._required("mean", name, target)) / self._required(
            "stddev", name, target
        )

    def _required(self, kind: str, name: str, like: jax.Array) -> jax.Array:
        value = self._stat(kind, name, like)
        if value is None:
            raise InvalidInputError(f"{kind} stats have no entry for target {name!r}")
        return value

    def _stat(self, kind: str, name: str, like: jax.Array) -> jax.Array | None:
        table = getattr(self._stats, kind)
        if name not in table:
            return None
        value = jnp.asarray(table[name], like.dtype)
        if value.ndim == 1:
            # A level profile: align with the level axis of the canonical dims.
            dims = dims_of_array(name, like.ndim)
            if "level" not in dims:
                raise InvalidInputError(f"{kind} stats give {name!r} levels it does not have")
            axis = dims.index("level")
            value = value.reshape((-1,) + (1,) * (like.ndim - axis - 1))
        return value


def _last_frame(values: jax.Array) -> jax.Array:
    """The last input time, keeping a time axis of 1 (canonical dims put time at axis 1)."""
    return values[:, -1:]
