"""Tests of the learning-rate schedule and the clipped AdamW optimiser."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import optax
import pytest

from forecast.errors import InvalidInputError
from forecast.training.optimizer import learning_rate_schedule, make_optimizer


def test_warmup_then_cosine() -> None:
    schedule = learning_rate_schedule(peak=1e-3, warmup_steps=10, total_steps=110, end_fraction=0.1)
    assert float(schedule(0)) == 0.0
    np.testing.assert_allclose(float(schedule(5)), 5e-4, rtol=1e-6)  # linear ramp
    np.testing.assert_allclose(float(schedule(10)), 1e-3, rtol=1e-6)  # peak
    # Half-way through the decay: cosine midpoint between peak and end.
    np.testing.assert_allclose(float(schedule(60)), (1e-3 + 1e-4) / 2, rtol=1e-5)
    np.testing.assert_allclose(float(schedule(110)), 1e-4, rtol=1e-5)
    values = [float(schedule(s)) for s in range(10, 111)]
    assert all(a >= b for a, b in zip(values, values[1:], strict=False))


@pytest.mark.parametrize(
    "kwargs", [{"peak": 0.0}, {"total_steps": 0}, {"warmup_steps": 200}, {"warmup_steps": -1}]
)
def test_bad_schedules_are_rejected(kwargs: dict) -> None:
    settings = {"peak": 1e-3, "warmup_steps": 1, "total_steps": 100} | kwargs
    with pytest.raises(InvalidInputError):
        learning_rate_schedule(**settings)


def test_gradients_are_clipped_by_global_norm() -> None:
    optimizer = make_optimizer(optax.constant_schedule(1.0), weight_decay=0.0, clip_norm=1.0)
    params = {"w": jnp.zeros(4)}
    state = optimizer.init(params)
    huge = {"w": jnp.array([300.0, 400.0, 0.0, 0.0])}
    clip = optimizer.init(params)[0]
    clipped, _ = optax.clip_by_global_norm(1.0).update(huge, clip)
    np.testing.assert_allclose(optax.tree.norm(clipped), 1.0, rtol=1e-6)
    updates, _ = optimizer.update(huge, state, params)
    # Adam's first step moves each coordinate by ~lr in the gradient's direction.
    np.testing.assert_allclose(updates["w"][:2], [-1.0, -1.0], rtol=1e-3)


def test_weight_decay_shrinks_weights() -> None:
    optimizer = make_optimizer(optax.constant_schedule(0.1), weight_decay=0.1)
    params = {"w": jnp.ones(3)}
    updates, _ = optimizer.update({"w": jnp.zeros(3)}, optimizer.init(params), params)
    np.testing.assert_allclose(updates["w"], -0.1 * 0.1 * np.ones(3), rtol=1e-6)
