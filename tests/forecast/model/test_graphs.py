"""Tests of `build_graphs` against the reference graphs (config A and the official grids)."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np
import pytest

from forecast.errors import InvalidInputError
from forecast.model import graphs as G
from forecast.model.icosahedral_mesh import mesh_hierarchy
from tests.forecast.model.graphcast_helpers import require_reference_float32_trig

EDGE_SETS = ("grid2mesh", "mesh", "mesh2grid")


def global_grid(resolution: float) -> tuple[np.ndarray, np.ndarray]:
    """DeepMind's layout: lat −90…90 ascending inclusive, lon 0…360−Δ, float32."""
    lat = np.linspace(-90, 90, round(180 / resolution) + 1).astype(np.float32)
    lon = (np.arange(round(360 / resolution)) * resolution).astype(np.float32)
    return lat, lon


@pytest.fixture(scope="module")
def intermediates(vectors_dir: Path):
    return np.load(vectors_dir / "A" / "intermediates.npz")


@pytest.fixture(scope="module")
def graphs_a() -> G.GraphCastGraphs:
    return G.build_graphs(*global_grid(4.0), mesh_size=3, radius_query_fraction_edge_length=0.6)


@pytest.fixture(scope="module")
def official(vectors_dir: Path) -> tuple[dict, dict]:
    arrays = np.load(vectors_dir / "graphs" / "official_grids.npz")
    facts = json.loads((vectors_dir / "graphs" / "official_grids.json").read_text())
    return arrays, facts


@pytest.fixture(scope="module")
def graphs_1deg() -> G.GraphCastGraphs:
    return G.build_graphs(*global_grid(1.0), mesh_size=5, radius_query_fraction_edge_length=0.6)


def test_config_a_bit_exact(graphs_a, intermediates, vectors_dir: Path) -> None:
    require_reference_float32_trig(vectors_dir)
    g = graphs_a
    assert (g.num_grid_nodes, g.num_mesh_nodes) == (4140, 642)
    assert g.query_radius == float(intermediates["query_radius"])
    np.testing.assert_array_equal(g.mesh_lat, intermediates["mesh_nodes_lat"])
    np.testing.assert_array_equal(g.mesh_lon, intermediates["mesh_nodes_lon"])
    np.testing.assert_array_equal(
        g.grid_node_features, intermediates["grid_node_structural_features"]
    )
    np.testing.assert_array_equal(
        g.mesh_node_features, intermediates["mesh_node_structural_features"]
    )
    for name in EDGE_SETS:
        edges: G.EdgeSet = getattr(g, name)
        assert edges.senders.dtype == edges.receivers.dtype == np.int32
        assert edges.features.dtype == np.float32 and edges.features.shape == (edges.num_edges, 4)
        np.testing.assert_array_equal(edges.senders, intermediates[f"{name}_senders"], name)
        np.testing.assert_array_equal(edges.receivers, intermediates[f"{name}_receivers"], name)
        # The reference stores float64 features; ours are the same numbers rounded to float32
        # (the intermediates hold float32 too) and agree bit for bit.
        np.testing.assert_array_equal(edges.features, intermediates[f"{name}_edge_features"], name)
    assert g.mesh.normaliser == pytest.approx(1.0514627695083623, rel=1e-15)


def _check_official(g: G.GraphCastGraphs, arrays, facts: dict, key: str) -> None:
    expected = facts[key]
    assert g.num_grid_nodes == expected["grid_nodes"]
    assert g.num_mesh_nodes == expected["mesh_nodes"]
    assert g.grid2mesh.num_edges == expected["grid2mesh_edges"]
    assert g.mesh.num_edges == expected["mesh_edges"]
    assert g.mesh2grid.num_edges == expected["mesh2grid_edges"]
    assert g.query_radius == pytest.approx(expected["query_radius"], rel=1e-12)
    unreached = g.num_mesh_nodes - np.unique(g.grid2mesh.receivers).size
    assert unreached == expected["mesh_nodes_without_grid2mesh_edge"]
    for name in EDGE_SETS:
        want = expected["edge_normalization_factors"][name]
        assert getattr(g, name).normaliser == pytest.approx(want, rel=1e-12), name
    np.testing.assert_array_equal(g.grid2mesh.senders, arrays[f"{key}/grid2mesh_senders"])
    np.testing.assert_array_equal(g.grid2mesh.receivers, arrays[f"{key}/grid2mesh_receivers"])
    # The mesh2grid senders are the chosen face's vertices, in stored order.
    faces = arrays[f"{key}/mesh2grid_face_index"]
    senders = g.mesh2grid.senders.reshape(-1, 3)
    finest_faces = mesh_hierarchy(int(key[-1]))[-1].faces
    np.testing.assert_array_equal(senders, finest_faces[faces])
    np.testing.assert_array_equal(g.mesh2grid.receivers, np.repeat(np.arange(len(faces)), 3))


def test_official_1deg_mesh5(graphs_1deg, official, vectors_dir: Path) -> None:
    require_reference_float32_trig(vectors_dir)
    _check_official(graphs_1deg, *official, "1p0deg_mesh5")


@pytest.mark.slow
def test_official_0p25deg_mesh6(official, vectors_dir: Path) -> None:
    require_reference_float32_trig(vectors_dir)
    # ~30 s and ~0.6 GB on the shared 2-core machine (was ~60 s with trimesh for every point).
    g = G.build_graphs(*global_grid(0.25), mesh_size=6, radius_query_fraction_edge_length=0.6)
    _check_official(g, *official, "0p25deg_mesh6")


def test_features_consistent_with_topology(graphs_1deg) -> None:
    g = graphs_1deg
    for name in EDGE_SETS:
        edges = getattr(g, name)
        f = edges.features.astype(np.float64)
        np.testing.assert_allclose(f[:, 0], np.linalg.norm(f[:, 1:], axis=1), rtol=1e-6)
        assert f[:, 0].max() == pytest.approx(1.0, rel=1e-7)
        # In the receiver's frame (receiver at (1, 0, 0)) a sender on the unit sphere has
        # rel_x = −dist²/2, up to the float32 positions' rounding (~1e-7).
        dist, rel_x = f[:, 0] * edges.normaliser, f[:, 1] * edges.normaliser
        np.testing.assert_allclose(rel_x, -(dist**2) / 2, atol=3e-7)


def test_five_degree_grid_leaves_mesh_nodes_unreached() -> None:
    g = G.build_graphs(*global_grid(5.0), mesh_size=4, radius_query_fraction_edge_length=0.6)
    assert (g.num_grid_nodes, g.num_mesh_nodes) == (2664, 2562)
    assert g.grid2mesh.num_edges == 4428
    assert g.mesh.num_edges == 20460 and g.mesh2grid.num_edges == 7992
    assert g.num_mesh_nodes - np.unique(g.grid2mesh.receivers).size == 120
    assert g.query_radius == pytest.approx(0.0495624, abs=1e-7)


def test_regional_descending_grid() -> None:
    lat = np.arange(70.0, 29.0, -2.0)  # descending, float64 input
    lon = np.concatenate([np.arange(340.0, 360.0, 2.0), np.arange(0.0, 41.0, 2.0)])
    g = G.build_graphs(lat, lon, mesh_size=3, radius_query_fraction_edge_length=0.6)
    assert g.grid_lat.dtype == np.float32 and g.grid_lat[0] == 70.0
    assert g.num_grid_nodes == lat.size * lon.size
    assert g.mesh2grid.num_edges == 3 * g.num_grid_nodes
    # Lat-major: node 1 is the second longitude of the first (northernmost) row.
    assert g.grid_node_features[1, 0] == pytest.approx(np.sin(np.radians(70.0)), abs=1e-6)
    assert g.grid_node_features[1, 2] == pytest.approx(np.sin(np.radians(342.0)), abs=1e-6)
    # Only mesh nodes over the region get grid2mesh edges.
    assert 0 < np.unique(g.grid2mesh.receivers).size < g.num_mesh_nodes / 4


def test_mesh2grid_normalisation_factor(graphs_a) -> None:
    g = G.build_graphs(
        *global_grid(4.0),
        mesh_size=3,
        radius_query_fraction_edge_length=0.6,
        mesh2grid_edge_normalization_factor=0.5,
    )
    assert g.mesh2grid.normaliser == 0.5
    ratio = graphs_a.mesh2grid.normaliser / 0.5
    np.testing.assert_allclose(g.mesh2grid.features, graphs_a.mesh2grid.features * ratio, rtol=1e-6)
    np.testing.assert_array_equal(g.grid2mesh.features, graphs_a.grid2mesh.features)


@pytest.mark.parametrize(
    ("lat", "lon", "kwargs", "match"),
    [
        ([0.0, 10.0, 5.0], [0.0, 10.0], {}, "monotonic"),
        ([-95.0, 0.0], [0.0, 10.0], {}, "±90"),
        ([0.0, 0.0], [0.0, 10.0], {}, "monotonic"),
        ([0.0, np.nan], [0.0, 10.0], {}, "finite"),
        ([0.0, 10.0], [0.0, 360.0], {}, "repeated"),
        ([], [0.0], {}, "lat"),
        ([0.0, 10.0], [[0.0]], {}, "lon"),
        ([0.0, 10.0], [0.0, 10.0], {"mesh_size": -1}, "mesh_size"),
        ([0.0, 10.0], [0.0, 10.0], {"radius_query_fraction_edge_length": 0.0}, "radius"),
        ([0.0, 10.0], [0.0, 10.0], {"mesh2grid_edge_normalization_factor": -1.0}, "mesh2grid"),
    ],
)
def test_bad_input(lat, lon, kwargs, match) -> None:
    config = {"mesh_size": 2, "radius_query_fraction_edge_length": 0.6} | kwargs
    with pytest.raises(InvalidInputError, match=match):
        G.build_graphs(np.array(lat), np.array(lon), **config)


def test_cache_round_trip(tmp_path: Path, graphs_a, caplog) -> None:
    lat, lon = global_grid(4.0)
    kwargs = {"mesh_size": 3, "radius_query_fraction_edge_length": 0.6, "cache_dir": tmp_path}
    first = G.load_or_build_graphs(lat, lon, **kwargs)
    (cached,) = tmp_path.glob("*.npz")
    start = time.perf_counter()
    second = G.load_or_build_graphs(lat, lon, **kwargs)
    assert time.perf_counter() - start < 0.25  # read, not rebuilt
    for g in (first, second):
        _assert_graphs_equal(g, graphs_a)
    # Any input change is a different key.
    G.load_or_build_graphs(lat, lon, **(kwargs | {"mesh2grid_edge_normalization_factor": 0.1}))
    G.load_or_build_graphs(lat[::-1], lon, **kwargs)
    assert len(list(tmp_path.glob("*.npz"))) == 3
    # A damaged cache file is rebuilt (and said so), not trusted.
    cached.write_bytes(b"not a zip")
    with caplog.at_level(logging.WARNING):
        third = G.load_or_build_graphs(lat, lon, **kwargs)
    assert "rebuilding graphs" in caplog.text
    _assert_graphs_equal(third, graphs_a)
    assert not list(tmp_path.glob("*.tmp"))


def test_load_graphs_rejects_garbage(tmp_path: Path) -> None:
    path = tmp_path / "g.npz"
    np.savez(path, grid_lat=np.zeros(3))
    with pytest.raises(InvalidInputError, match="unreadable"):
        G.load_graphs(path)


def _assert_graphs_equal(a: G.GraphCastGraphs, b: G.GraphCastGraphs) -> None:
    for name in ("grid_lat", "grid_lon", "mesh_lat", "mesh_lon"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    np.testing.assert_array_equal(a.grid_node_features, b.grid_node_features)
    np.testing.assert_array_equal(a.mesh_node_features, b.mesh_node_features)
    assert a.query_radius == b.query_radius
    for name in EDGE_SETS:
        ea, eb = getattr(a, name), getattr(b, name)
        np.testing.assert_array_equal(ea.senders, eb.senders)
        np.testing.assert_array_equal(ea.receivers, eb.receivers)
        np.testing.assert_array_equal(ea.features, eb.features)
        assert ea.normaliser == eb.normaliser
