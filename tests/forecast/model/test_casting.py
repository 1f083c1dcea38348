"""Tests of the bf16 casting wrapper: f32 storage, bf16 compute, f32 outputs."""

from __future__ import annotations

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np

from forecast.model.casting import Bfloat16Cast
from forecast.model.predictor_base import Fields, Predictor


class _Scale(Predictor):
    """Multiplies the input by a learned scalar; records the dtypes it computed in."""

    dtypes: dict = {}

    def __call__(self, inputs: Fields, forcings: Fields) -> Fields:
        x = inputs["2m_temperature"]
        w = hk.get_parameter("w", [], x.dtype, init=jnp.ones)
        _Scale.dtypes = {"input": x.dtype, "param": w.dtype, "forcing": forcings["f"].dtype}
        return {"2m_temperature": x * w}

    def loss(self, inputs: Fields, targets: Fields, forcings: Fields) -> jax.Array:
        return jnp.mean((self(inputs, forcings)["2m_temperature"] - targets["2m_temperature"]) ** 2)


def test_params_stored_f32_computed_bf16_outputs_f32() -> None:
    x = {"2m_temperature": jnp.asarray(np.full((1, 2, 3, 4), 1.0 + 2**-10, np.float32))}
    forcings = {"f": jnp.ones((1, 1, 3, 4), jnp.float32)}
    transformed = hk.without_apply_rng(hk.transform(lambda i, f: Bfloat16Cast(_Scale())(i, f)))
    params = transformed.init(jax.random.PRNGKey(0), x, forcings)
    assert params["~"]["w"].dtype == jnp.float32
    params = {"~": {"w": jnp.asarray(1.0 + 2**-12, jnp.float32)}}
    out = transformed.apply(params, x, forcings)
    assert _Scale.dtypes == {"input": jnp.bfloat16, "param": jnp.bfloat16, "forcing": jnp.bfloat16}
    assert out["2m_temperature"].dtype == jnp.float32
    # 1 + 2^-10 and 1 + 2^-12 both round to 1 in bf16 (8 significant bits).
    np.testing.assert_array_equal(np.asarray(out["2m_temperature"]), 1.0)

    loss = hk.without_apply_rng(
        hk.transform(lambda i, t, f: Bfloat16Cast(_Scale()).loss(i, t, f))
    ).apply(params, x, x, forcings)
    assert loss.dtype == jnp.float32


def test_disabled_cast_is_float32_throughout() -> None:
    x = {"2m_temperature": jnp.ones((1, 2, 3, 4), jnp.float32)}
    forcings = {"f": jnp.ones((1, 1, 3, 4), jnp.float32)}
    transformed = hk.without_apply_rng(
        hk.transform(lambda i, f: Bfloat16Cast(_Scale(), enabled=False)(i, f))
    )
    params = transformed.init(jax.random.PRNGKey(0), x, forcings)
    transformed.apply(params, x, forcings)
    assert _Scale.dtypes["param"] == jnp.float32
