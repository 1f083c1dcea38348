"""Tests of the icosahedral multimesh against the reference's vertices, faces and edges."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from forecast.errors import InvalidInputError
from forecast.model import icosahedral_mesh as im
from tests.forecast.model.graphcast_helpers import require_reference_float32_trig


@pytest.fixture(scope="module")
def hierarchy() -> list[im.TriangularMesh]:
    return im.mesh_hierarchy(6)


@pytest.fixture(scope="module")
def intermediates(vectors_dir: Path):
    return np.load(vectors_dir / "A" / "intermediates.npz")


def test_base_icosahedron_geometry() -> None:
    mesh = im.base_icosahedron()
    assert mesh.vertices.dtype == np.float32 and mesh.vertices.shape == (12, 3)
    np.testing.assert_allclose(np.linalg.norm(mesh.vertices, axis=1), 1.0, rtol=1e-6)
    lat, lon = im.vertices_to_lat_lon(mesh.vertices)
    # Face (1, 2, 7) is centred on the north pole at latitude 52.62°, longitudes 120/0/240.
    np.testing.assert_allclose(lat[[1, 2, 7]], 52.62, atol=0.01)
    np.testing.assert_allclose(np.sort(lon[[1, 2, 7]]), [0, 120, 240], atol=1e-4)
    assert np.abs(lat).max() < 89  # no vertex on a pole
    # Faces are counter-clockwise seen from outside: normals point outwards.
    v = mesh.vertices.astype(np.float64)[mesh.faces]
    normals = np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0])
    assert (np.einsum("ij,ij->i", normals, v.mean(axis=1)) > 0).all()


@pytest.mark.parametrize("level", range(7))
def test_counts(hierarchy, level: int) -> None:
    mesh = hierarchy[level]
    assert mesh.vertices.shape == (10 * 4**level + 2, 3)
    assert mesh.faces.shape == (20 * 4**level, 3)
    assert mesh.faces.dtype == np.int32
    if level:
        prev = hierarchy[level - 1]
        np.testing.assert_array_equal(mesh.vertices[: len(prev.vertices)], prev.vertices)


def test_config_a_mesh_bit_exact(hierarchy, intermediates, vectors_dir: Path) -> None:
    require_reference_float32_trig(vectors_dir)
    np.testing.assert_array_equal(hierarchy[3].vertices, intermediates["finest_mesh_vertices"])
    np.testing.assert_array_equal(hierarchy[3].faces, intermediates["finest_mesh_faces"])
    multimesh = im.merge_meshes(hierarchy[:4])
    senders, receivers = im.faces_to_edges(multimesh.faces)
    np.testing.assert_array_equal(senders, intermediates["mesh_senders"])
    np.testing.assert_array_equal(receivers, intermediates["mesh_receivers"])
    lat, lon = im.vertices_to_lat_lon(multimesh.vertices)
    np.testing.assert_array_equal(lat, intermediates["mesh_nodes_lat"])
    np.testing.assert_array_equal(lon, intermediates["mesh_nodes_lon"])


@pytest.mark.parametrize(("key", "level"), [("1p0deg_mesh5", 5), ("0p25deg_mesh6", 6)])
def test_official_finest_vertices_bit_exact(hierarchy, vectors_dir: Path, key, level) -> None:
    ref = np.load(vectors_dir / "graphs" / "official_grids.npz")[f"{key}/finest_mesh_vertices"]
    np.testing.assert_array_equal(hierarchy[level].vertices, ref)


def test_multimesh_edges(hierarchy) -> None:
    multimesh = im.merge_meshes(hierarchy[:6])
    senders, receivers = im.faces_to_edges(multimesh.faces)
    assert senders.size == 3 * 20 * sum(4**k for k in range(6)) == 81900
    # Every undirected edge appears once in each direction and no edge is repeated.
    pairs = set(zip(senders.tolist(), receivers.tolist(), strict=True))
    assert len(pairs) == senders.size
    assert all((r, s) in pairs for s, r in pairs)


def test_refined_faces_keep_orientation(hierarchy) -> None:
    v = hierarchy[2].vertices.astype(np.float64)[hierarchy[2].faces]
    normals = np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0])
    assert (np.einsum("ij,ij->i", normals, v.mean(axis=1)) > 0).all()


def test_merge_rejects_unrelated_levels() -> None:
    base = im.base_icosahedron()
    other = im.TriangularMesh(vertices=-base.vertices, faces=base.faces)
    with pytest.raises(ValueError, match="hierarchy"):
        im.merge_meshes([other, im.refine(base)])


@pytest.mark.parametrize("bad", [-1, 9, 2.5])
def test_bad_mesh_size(bad) -> None:
    with pytest.raises(InvalidInputError, match="mesh_size"):
        im.mesh_hierarchy(bad)


def test_config_a_mesh_lat_lon_agree_to_float32_rounding_on_any_cpu(
    hierarchy, intermediates
) -> None:
    """Where float32 trigonometry differs from the reference machine's (no AVX-512), the
    mesh coordinates still agree to float32 rounding of degrees (an ulp at 300° is 3e-5°;
    1e-4° ≈ 11 m); the mesh's vertices are exact everywhere."""
    multimesh = im.merge_meshes(hierarchy[:4])
    np.testing.assert_array_equal(hierarchy[3].vertices, intermediates["finest_mesh_vertices"])
    lat, lon = im.vertices_to_lat_lon(multimesh.vertices)
    np.testing.assert_allclose(lat, intermediates["mesh_nodes_lat"], rtol=0, atol=1e-4)
    np.testing.assert_allclose(lon, intermediates["mesh_nodes_lon"], rtol=0, atol=1e-4)
