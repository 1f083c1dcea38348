"""The fast mesh2grid face search must agree with trimesh's closest_point everywhere."""

from __future__ import annotations

import numpy as np
import pytest

from forecast.model import grid_mesh_graphs as gm
from forecast.model import icosahedral_mesh as im


def _points(mesh: im.TriangularMesh, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    lat = rng.uniform(-90, 90, n).astype(np.float32)
    lon = rng.uniform(0, 360, n).astype(np.float32)
    # Points at the mesh vertices are the worst case: 5–6 faces at distance ~0.
    vertex_lat, vertex_lon = im.vertices_to_lat_lon(mesh.vertices)
    return gm.lat_lon_to_positions(
        np.concatenate([lat, vertex_lat]), np.concatenate([lon, vertex_lon])
    )


@pytest.mark.parametrize(("mesh_size", "seed"), [(2, 0), (4, 1), (5, 2)])
def test_fast_search_matches_trimesh_on_random_points(mesh_size: int, seed: int) -> None:
    mesh = im.mesh_hierarchy(mesh_size)[-1]
    points = _points(mesh, 20_000, seed)
    ours = gm.mesh2grid_face_index(points, mesh)
    np.testing.assert_array_equal(ours, gm._trimesh_face_index(points, mesh))
    _, clear = gm._clear_closest_faces(points, mesh)
    assert clear[-len(mesh.vertices) :].mean() < 0.5  # vertex points mostly left to trimesh
    assert clear[:20_000].mean() > 0.9  # most points resolved without trimesh


@pytest.mark.parametrize(("step", "mesh_size"), [(0.1, 5), (0.7, 4)])
def test_fast_search_matches_trimesh_on_regional_grids(step: float, mesh_size: int) -> None:
    lat = np.arange(30, 45, step).astype(np.float32)
    lon = np.mod(np.arange(-10, 10, step), 360).astype(np.float32)
    mesh = im.mesh_hierarchy(mesh_size)[-1]
    points = gm.grid_node_positions(lat, lon)
    np.testing.assert_array_equal(
        gm.mesh2grid_face_index(points, mesh), gm._trimesh_face_index(points, mesh)
    )
