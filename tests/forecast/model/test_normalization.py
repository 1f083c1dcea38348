"""Tests of the statistics loader and the InputsAndResiduals wrapper."""

from __future__ import annotations

from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest
import xarray as xr

from forecast import variables
from forecast.errors import InvalidInputError
from forecast.model import normalization
from forecast.model.predictor_base import Fields, Predictor


def test_official_stats_select_13_of_37_levels_by_label(shared_dir: Path) -> None:
    stats_dir = shared_dir / "data" / "graphcast-stats-official"
    stats = normalization.load_stats(stats_dir, variables.PRESSURE_LEVELS_13)
    mean = xr.load_dataset(stats_dir / "mean_by_level.nc")
    assert mean.sizes["level"] == 37
    expected = mean["temperature"].sel(level=list(variables.PRESSURE_LEVELS_13)).values
    expected = expected.astype(np.float32)
    np.testing.assert_array_equal(stats.mean["temperature"], expected)
    assert stats.mean["temperature"].dtype == np.float32
    assert stats.diffs_stddev["geopotential"].shape == (13,)
    assert stats.stddev["2m_temperature"].shape == ()
    # Any order of labels is honoured (the task's order decides the level axis).
    reversed_stats = normalization.load_stats(stats_dir, variables.PRESSURE_LEVELS_13[::-1])
    np.testing.assert_array_equal(reversed_stats.mean["temperature"], expected[::-1])


def test_missing_level_and_file_are_named(shared_dir: Path, tmp_path: Path) -> None:
    stats_dir = shared_dir / "data" / "graphcast-stats-official"
    with pytest.raises(InvalidInputError, match=r"\[42\]"):
        normalization.load_stats(stats_dir, (50, 42))
    with pytest.raises(InvalidInputError, match="mean_by_level.nc"):
        normalization.load_stats(tmp_path, (50,))


class _Constant(Predictor):
    """Inner predictor returning `value` for every target and recording what it saw."""

    def __init__(self, value: float, targets: tuple[str, ...]) -> None:
        self.value, self.targets, self.seen = value, targets, {}

    def __call__(self, inputs: Fields, forcings: Fields) -> Fields:
        self.seen = {**inputs, **forcings}
        like = inputs["2m_temperature"][:, -1:]
        return {name: jnp.full_like(like, self.value) for name in self.targets}

    def loss(self, inputs: Fields, targets: Fields, forcings: Fields) -> jnp.ndarray:
        self.seen_targets = targets
        return jnp.zeros(())


def _stats() -> normalization.NormStats:
    f = np.float32
    return normalization.NormStats(
        mean={"2m_temperature": f(280.0), "total_precipitation_6hr": f(0.001)},
        stddev={"2m_temperature": f(10.0), "total_precipitation_6hr": f(0.002)},
        diffs_stddev={"2m_temperature": f(2.0), "total_precipitation_6hr": f(0.003)},
        levels=(),
    )


def test_residual_and_direct_targets() -> None:
    t2m = jnp.asarray(np.array([[[[270.0]], [[290.0]]]], np.float32))  # (B=1, T=2, 1, 1)
    inner = _Constant(0.5, ("2m_temperature", "total_precipitation_6hr"))
    wrapper = normalization.InputsAndResiduals(inner, _stats())
    out = wrapper({"2m_temperature": t2m}, {})
    np.testing.assert_allclose(inner.seen["2m_temperature"].ravel(), [-1.0, 1.0])
    # In the inputs: residual on the last frame with diffs_stddev.
    np.testing.assert_allclose(out["2m_temperature"].ravel(), [290.0 + 0.5 * 2.0])
    # Not an input (precip-out task): direct value with stddev and mean.
    np.testing.assert_allclose(out["total_precipitation_6hr"].ravel(), [0.001 + 0.5 * 0.002])

    targets = {"2m_temperature": t2m[:, -1:] + 4.0, "total_precipitation_6hr": t2m[:, -1:] * 0}
    wrapper.loss({"2m_temperature": t2m}, targets, {})
    np.testing.assert_allclose(inner.seen_targets["2m_temperature"].ravel(), [2.0])
    np.testing.assert_allclose(inner.seen_targets["total_precipitation_6hr"].ravel(), [-0.5])


def test_level_profiles_broadcast_on_the_level_axis() -> None:
    stats = normalization.NormStats(
        mean={"temperature": np.array([200.0, 300.0], np.float32)},
        stddev={"temperature": np.array([10.0, 20.0], np.float32)},
        diffs_stddev={},
        levels=(500, 1000),
    )
    temperature = jnp.asarray(np.full((1, 2, 2, 3, 4), 240.0, np.float32))
    inner = _Constant(0.0, ())
    normalization.InputsAndResiduals(inner, stats)(
        {"temperature": temperature, "2m_temperature": temperature[:, :, 0]}, {}
    )
    seen = np.asarray(inner.seen["temperature"])
    np.testing.assert_allclose(seen[0, 0, :, 0, 0], [4.0, -3.0])
