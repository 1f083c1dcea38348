"""The icosahedral multimesh: base icosahedron, refinement, multimesh edges (SPEC §8).

Vertices are float32 and bit-identical to the reference's: the mesh2grid tie-breaking is sensitive
to single-ulp changes of the vertices (SPEC §15.1), so every rounding step here is deliberate.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from forecast.errors import InvalidInputError


@dataclasses.dataclass(frozen=True)
class TriangularMesh:
    """A triangle mesh on the unit sphere.

    Attributes:
        vertices: float32 `[num_vertices, 3]` unit vectors.
        faces: int32 `[num_faces, 3]` vertex indices, counter-clockwise seen from outside.
    """

    vertices: np.ndarray
    faces: np.ndarray


def base_icosahedron() -> TriangularMesh:
    """The regular icosahedron, rotated so that a face is centred on the north pole.

    Returns:
        12 float32 unit vertices and 20 faces in the reference's order (SPEC §8.1).
    """
    phi = (1 + np.sqrt(5)) / 2
    points = []
    for c1 in (1.0, -1.0):
        for c2 in (phi, -phi):
            points += [(c1, c2, 0.0), (0.0, c1, c2), (c2, 0.0, c1)]
    vertices = np.array(points, dtype=np.float32)
    # Division by the float64 norm happens in float64 and is rounded back to float32.
    vertices = (vertices / np.linalg.norm([1.0, phi])).astype(np.float32)

    # Rotate about y by the angle that brings face (1, 2, 7)'s centre to the pole (x' = x cos a
    # − z sin a, z' = x sin a + z cos a), in float64 from the float32 input.
    angle = (np.pi - 2 * np.arcsin(phi / np.sqrt(3))) / 2
    cos_a, sin_a = np.cos(angle), np.sin(angle)
    rotation = np.array([[cos_a, 0.0, sin_a], [0.0, 1.0, 0.0], [-sin_a, 0.0, cos_a]])
    vertices = (vertices.astype(np.float64) @ rotation).astype(np.float32)

    faces = np.array(
        [
            (0, 1, 2), (0, 6, 1), (8, 0, 2), (8, 4, 0), (3, 8, 2), (3, 2, 7), (7, 2, 1),
            (0, 4, 6), (4, 11, 6), (6, 11, 5), (1, 5, 7), (4, 10, 11), (4, 8, 10), (10, 8, 3),
            (10, 3, 9), (11, 10, 9), (11, 9, 5), (5, 9, 7), (9, 3, 7), (1, 6, 5),
        ],
        dtype=np.int32,
    )  # fmt: skip
    return TriangularMesh(vertices=vertices, faces=faces)


def _normalise_rows(points: np.ndarray) -> np.ndarray:
    """Divide each float32 row by its `numpy.linalg.norm`, the reference's exact rounding."""
    # linalg.norm of a single float32 vector goes through a dot product whose rounding differs
    # from a vectorised sum of squares in a few last bits: call it per row, as the reference.
    norms = np.array([np.linalg.norm(p) for p in points], dtype=np.float32)
    return points / norms[:, np.newaxis]


def refine(mesh: TriangularMesh) -> TriangularMesh:
    """Split every face into 4 at the (re-normalised) edge midpoints (SPEC §8.2).

    Args:
        mesh: the mesh to refine.

    Returns:
        The refined mesh: old vertices keep their indices, midpoints follow in creation order
        (faces in order, edges (i1,i2), (i2,i3), (i3,i1)); each face yields
        (i1, m12, m31), (m12, i2, m23), (m31, m23, i3), (m12, m23, m31).
    """
    faces = mesh.faces.astype(np.int64)
    num_faces = faces.shape[0]
    # Edges in request order: face-major, then (i1,i2), (i2,i3), (i3,i1).
    starts = faces.reshape(-1)
    ends = faces[:, [1, 2, 0]].reshape(-1)
    lo, hi = np.minimum(starts, ends), np.maximum(starts, ends)
    keys = lo * (mesh.vertices.shape[0] + 1) + hi
    unique_keys, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    # Number the midpoints by first request, not by key value.
    creation_rank = np.empty(unique_keys.size, dtype=np.int64)
    creation_rank[np.argsort(first, kind="stable")] = np.arange(unique_keys.size)
    midpoint_ids = (mesh.vertices.shape[0] + creation_rank[inverse]).reshape(num_faces, 3)

    first_sorted = np.sort(first)
    a = mesh.vertices[starts[first_sorted]]
    b = mesh.vertices[ends[first_sorted]]
    # numpy's float32 mean of two rows: (a + b) in float32, then halved.
    midpoints = _normalise_rows((a + b) / np.float32(2))
    vertices = np.concatenate([mesh.vertices, midpoints.astype(np.float32)])

    i1, i2, i3 = faces[:, 0], faces[:, 1], faces[:, 2]
    m12, m23, m31 = midpoint_ids[:, 0], midpoint_ids[:, 1], midpoint_ids[:, 2]
    children = np.stack(
        [
            np.stack([i1, m12, m31], axis=-1),
            np.stack([m12, i2, m23], axis=-1),
            np.stack([m31, m23, i3], axis=-1),
            np.stack([m12, m23, m31], axis=-1),
        ],
        axis=1,
    ).reshape(-1, 3)
    return TriangularMesh(vertices=vertices, faces=children.astype(np.int32))


def mesh_hierarchy(mesh_size: int) -> list[TriangularMesh]:
    """Meshes of refinement levels 0 … mesh_size (level k: 10·4^k + 2 vertices).

    Args:
        mesh_size: number of refinements, ≥ 0.

    Returns:
        `mesh_size + 1` meshes, coarsest first; each level's vertices are a prefix of the next.

    Raises:
        InvalidInputError: if mesh_size is negative or absurdly large.
    """
    if not isinstance(mesh_size, int | np.integer) or not 0 <= mesh_size <= 8:
        raise InvalidInputError(f"mesh_size must be an integer in 0…8, got {mesh_size!r}")
    meshes = [base_icosahedron()]
    for _ in range(int(mesh_size)):
        meshes.append(refine(meshes[-1]))
    return meshes


def merge_meshes(meshes: list[TriangularMesh]) -> TriangularMesh:
    """The multimesh: finest vertices and the faces of every level, coarsest first (§8.3).

    Args:
        meshes: a hierarchy as from `mesh_hierarchy` (each level's vertices prefix the next).

    Returns:
        The multimesh.
    """
    finest = meshes[-1].vertices
    for coarse in meshes[:-1]:
        if not np.array_equal(coarse.vertices, finest[: coarse.vertices.shape[0]]):
            raise ValueError("mesh levels do not share vertices: not a refinement hierarchy")
    faces = np.concatenate([m.faces for m in meshes]).astype(np.int32)
    return TriangularMesh(vertices=finest, faces=faces)


def faces_to_edges(faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Directed edges of every face, block by block: all (f0→f1), then (f1→f2), then (f2→f0).

    Args:
        faces: int `[num_faces, 3]`.

    Returns:
        `(senders, receivers)`, int32 `[3 · num_faces]` each (no de-duplication).
    """
    faces = np.asarray(faces)
    senders = np.concatenate([faces[:, 0], faces[:, 1], faces[:, 2]])
    receivers = np.concatenate([faces[:, 1], faces[:, 2], faces[:, 0]])
    return senders.astype(np.int32), receivers.astype(np.int32)


def vertices_to_lat_lon(vertices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Latitude and longitude (degrees, float32) of unit vectors.

    Args:
        vertices: float32 `[N, 3]` unit vectors.

    Returns:
        `(lat, lon)`, float32 `[N]`; lon in [0, 360), lat = 90 − colatitude.
    """
    vertices = np.asarray(vertices, dtype=np.float32)
    x, y, z = vertices[:, 0], vertices[:, 1], vertices[:, 2]
    lon = np.mod(np.rad2deg(np.arctan2(y, x)), np.float32(360))
    lat = np.float32(90) - np.rad2deg(np.arccos(z))
    return lat.astype(np.float32), lon.astype(np.float32)
