"""Tests of the structural node and edge features (receiver-local frame, normalisation)."""

from __future__ import annotations

import numpy as np
import pytest

from forecast.errors import InvalidInputError
from forecast.model import spatial_features as sf


def test_node_features_known_values() -> None:
    lat = np.array([90.0, 0.0, -30.0], dtype=np.float32)
    lon = np.array([0.0, 90.0, 180.0], dtype=np.float32)
    f = sf.node_features(lat, lon)
    assert f.dtype == np.float32 and f.shape == (3, 3)
    np.testing.assert_allclose(f, [[1, 1, 0], [0, 0, 1], [-0.5, -1, 0]], atol=1e-6)


def _raw(sender, receiver):
    (slat, slon), (rlat, rlon) = sender, receiver
    return sf.relative_edge_vectors(
        np.array([slat]),
        np.array([slon]),
        np.array([rlat]),
        np.array([rlon]),
        senders=np.array([0]),
        receivers=np.array([0]),
    )[0]


def test_receiver_local_frame() -> None:
    # A sender 1° north of the receiver lies along +z, 1° east along +y, wherever the receiver.
    for rlat, rlon in [(0.0, 0.0), (45.0, 123.0), (-60.0, 300.0)]:
        north = _raw((rlat + 1, rlon), (rlat, rlon))
        east = _raw((rlat, rlon + 1 / np.cos(np.radians(rlat))), (rlat, rlon))
        chord = 2 * np.sin(np.radians(0.5))
        assert north[0] == pytest.approx(chord, rel=1e-5)
        assert north[3] == pytest.approx(chord, rel=1e-3) and abs(north[2]) < 1e-6
        # A parallel is not a great circle: at 60° it bends ~2e-4 towards the pole.
        assert east[2] == pytest.approx(chord, rel=1e-2) and abs(east[3]) < 3e-4
        assert north[1] < 0 and east[1] < 0  # below the tangent plane


def test_self_edge_is_zero() -> None:
    np.testing.assert_allclose(_raw((10.0, 20.0), (10.0, 20.0)), 0.0, atol=1e-15)


def test_chunking_does_not_change_values(monkeypatch) -> None:
    rng = np.random.default_rng(0)
    lat = rng.uniform(-90, 90, 50).astype(np.float32)
    lon = rng.uniform(0, 360, 50).astype(np.float32)
    senders, receivers = rng.integers(0, 50, 1000), rng.integers(0, 50, 1000)
    whole = sf.relative_edge_vectors(lat, lon, lat, lon, senders=senders, receivers=receivers)
    monkeypatch.setattr(sf, "_EDGE_CHUNK", 7)
    chunked = sf.relative_edge_vectors(lat, lon, lat, lon, senders=senders, receivers=receivers)
    np.testing.assert_array_equal(whole, chunked)


def test_normalisation() -> None:
    raw = np.array([[2.0, 0.0, 2.0, 0.0], [1.0, 0.0, 0.0, 1.0]])
    features, normaliser = sf.normalise_edge_features(raw)
    assert normaliser == 2.0 and features.dtype == np.float32
    np.testing.assert_array_equal(features, raw / 2)
    features, normaliser = sf.normalise_edge_features(raw, 4.0)
    assert normaliser == 4.0
    np.testing.assert_array_equal(features, raw / 4)
    with pytest.raises(InvalidInputError, match="positive"):
        sf.normalise_edge_features(raw, 0.0)
