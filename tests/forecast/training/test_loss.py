"""Tests of the GraphCast loss: weights normalised as in the paper, residual units, K-step mean."""

from __future__ import annotations

import numpy as np
import pytest

from forecast.model.graphcast import weighted_mse
from forecast.training.loss import latitude_weights, level_weights, variable_weight
from forecast.variables import (
    PRESSURE_LEVELS_13,
    TARGET_ATMOSPHERIC_VARS,
    TARGET_SURFACE_VARS,
)

LAT = np.linspace(-90, 90, 19)


def test_weights_are_normalised() -> None:
    np.testing.assert_allclose(latitude_weights(LAT).mean(), 1.0)
    np.testing.assert_allclose(level_weights(PRESSURE_LEVELS_13).mean(), 1.0)
    weights = level_weights(PRESSURE_LEVELS_13)
    np.testing.assert_allclose(weights / weights[0], np.array(PRESSURE_LEVELS_13) / 50)
    assert latitude_weights(LAT)[0] == pytest.approx(0.0, abs=1e-12)  # poles weigh nothing
    weights = {name: variable_weight(name) for name in TARGET_SURFACE_VARS}
    assert weights == {
        "2m_temperature": 1.0,
        "mean_sea_level_pressure": 0.1,
        "10m_v_component_of_wind": 0.1,
        "10m_u_component_of_wind": 0.1,
        "total_precipitation_6hr": 0.1,
    }
    assert all(variable_weight(n) == 1.0 for n in TARGET_ATMOSPHERIC_VARS)


def _fields(value: float, lat: int = 19, lon: int = 36, levels: int = 13) -> dict:
    fields = {n: np.full((1, 1, lat, lon), value, np.float32) for n in TARGET_SURFACE_VARS}
    fields |= {
        n: np.full((1, 1, levels, lat, lon), value, np.float32) for n in TARGET_ATMOSPHERIC_VARS
    }
    return fields


def test_unit_errors_sum_the_variable_weights() -> None:
    loss = weighted_mse(
        _fields(1.0),
        _fields(0.0),
        lat_weights=latitude_weights(LAT),
        level_weights=level_weights(PRESSURE_LEVELS_13),
    )
    # Mean-1 area and level weights leave Σ_v w_v = 1 + 4 × 0.1 + 6 × 1.
    np.testing.assert_allclose(float(loss), 7.4, rtol=1e-6)


def test_errors_are_weighted_by_area_and_level() -> None:
    rng = np.random.default_rng(0)
    predictions, targets = _fields(0.0), _fields(0.0)
    error = rng.normal(size=(13, 19, 36)).astype(np.float32)
    predictions["geopotential"] = error[None, None]
    loss = weighted_mse(
        predictions,
        targets,
        lat_weights=latitude_weights(LAT),
        level_weights=level_weights(PRESSURE_LEVELS_13),
    )
    expected = np.mean(
        error.astype(np.float64) ** 2
        * latitude_weights(LAT)[None, :, None]
        * level_weights(PRESSURE_LEVELS_13)[:, None, None]
    )
    np.testing.assert_allclose(float(loss), expected, rtol=1e-5)
