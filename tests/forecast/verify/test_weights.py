"""Area weights against closed forms (WeatherBench2's definition)."""

from __future__ import annotations

import numpy as np
import pytest

from forecast.errors import InvalidInputError
from forecast.verify.weights import area_weights, latitude_cell_bounds


@pytest.mark.parametrize("step", [0.25, 1.0, 5.625, 10.0])
def test_global_grid_with_poles_matches_closed_form(step):
    lat = np.linspace(-90, 90, int(round(180 / step)) + 1)
    w = area_weights(lat)
    assert w.mean() == pytest.approx(1.0, rel=1e-12)
    # Each cell's share of the sphere is (sin φ+ − sin φ−)/2; pole cells are half cells.
    bounds = np.deg2rad(np.clip(np.concatenate([[-90], (lat[:-1] + lat[1:]) / 2, [90]]), -90, 90))
    share = (np.sin(bounds[1:]) - np.sin(bounds[:-1])) / 2
    np.testing.assert_allclose(w / w.sum(), share, rtol=1e-12)
    np.testing.assert_allclose(w, w[::-1], rtol=1e-12)  # symmetric about the equator


def test_band_integral_is_sphere_area_fraction():
    lat = np.linspace(-90, 90, 181)
    w = area_weights(lat)
    # Rows 20°…60° N own the band from 19.5° to 60.5°: area fraction (sin 60.5° − sin 19.5°)/2.
    band = (lat >= 20) & (lat <= 60)
    expected = (np.sin(np.deg2rad(60.5)) - np.sin(np.deg2rad(19.5))) / 2
    assert w[band].sum() / w.sum() == pytest.approx(expected, rel=1e-12)


def test_global_grid_offset_from_poles_ends_at_poles():
    lat = np.arange(-89.5, 90, 1.0)
    bounds = latitude_cell_bounds(lat)
    assert bounds[0] == -90 and bounds[-1] == 90
    np.testing.assert_allclose(np.diff(bounds), 1.0)


def test_regional_grid_extends_half_a_spacing():
    lat = np.arange(30.0, 60.1, 2.0)
    bounds = latitude_cell_bounds(lat)
    assert bounds[0] == 29.0 and bounds[-1] == 61.0
    w = area_weights(lat)
    assert w.mean() == pytest.approx(1.0)
    ratio = np.cos(np.deg2rad(lat)) / np.cos(np.deg2rad(lat)).mean()
    np.testing.assert_allclose(w, ratio, rtol=2e-4)  # thin cells: ∝ cos φ


@pytest.mark.parametrize(
    "lat", [np.array([10.0]), np.array([0.0, -5.0, 5.0]), np.array([-95.0, 0.0, 95.0])]
)
def test_bad_latitudes_are_refused(lat):
    with pytest.raises(InvalidInputError, match="latitude"):
        area_weights(lat)
