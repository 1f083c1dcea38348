"""Connectivity between the lat/lon grid and the mesh: grid2mesh and mesh2grid edges (SPEC §9).

Grid nodes are indexed lat-major in the data's lat/lon order. Positions are float32 like the
reference's, because the mesh2grid face choice depends on their exact rounding (SPEC §15.1).
"""

from __future__ import annotations

import itertools

import numpy as np
import scipy.spatial
import trimesh

from forecast.errors import InvalidInputError
from forecast.model.icosahedral_mesh import TriangularMesh

# Grid points per trimesh query: bounds the candidate arrays trimesh builds (results are per
# point, so chunking does not change them).
_MESH2GRID_CHUNK = 100_000


def validate_grid(lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Check a grid's axes and return them as float32.

    Args:
        lat: latitudes in degrees, 1-D, strictly monotonic (either direction), within ±90.
        lon: longitudes in degrees, 1-D, finite, without repeats (any order, e.g. regional
            grids crossing the meridian).

    Returns:
        `(lat, lon)` as float32.

    Raises:
        InvalidInputError: naming the axis at fault.
    """
    lat = np.asarray(lat)
    lon = np.asarray(lon)
    for name, axis in (("lat", lat), ("lon", lon)):
        if axis.ndim != 1 or axis.size == 0:
            raise InvalidInputError(f"grid {name} must be a non-empty 1-D axis, got {axis.shape}")
        if not np.issubdtype(axis.dtype, np.number) or not np.all(np.isfinite(axis)):
            raise InvalidInputError(f"grid {name} must hold finite numbers")
    lat32, lon32 = lat.astype(np.float32), lon.astype(np.float32)
    if np.abs(lat32).max() > 90:
        raise InvalidInputError(
            f"grid lat must lie within ±90 degrees, got {lat32.min()}…{lat32.max()}"
        )
    step = np.diff(lat32)
    if lat32.size > 1 and not (np.all(step > 0) or np.all(step < 0)):
        raise InvalidInputError("grid lat must be strictly monotonic (ascending or descending)")
    if np.unique(np.mod(lon32, 360)).size != lon32.size:
        raise InvalidInputError("grid lon has repeated longitudes (modulo 360)")
    return lat32, lon32


def grid_node_lat_lon(lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-node lat and lon, lat-major (node = i_lat · N_lon + i_lon), float32 `[N_grid]`."""
    lat32, lon32 = np.asarray(lat, np.float32), np.asarray(lon, np.float32)
    node_lon, node_lat = np.meshgrid(lon32, lat32)
    return node_lat.reshape(-1), node_lon.reshape(-1)


def lat_lon_to_positions(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Unit-sphere positions (cos λ sin θ, sin λ sin θ, cos θ), θ colatitude, in float32.

    Args:
        lat: latitudes in degrees (cast to float32), any shape.
        lon: longitudes in degrees (cast to float32), same shape.

    Returns:
        float32 array of shape `lat.shape + (3,)`.
    """
    colatitude = np.deg2rad(np.float32(90) - np.asarray(lat, np.float32))
    longitude = np.deg2rad(np.asarray(lon, np.float32))
    sin_colat = np.sin(colatitude)
    return np.stack(
        [np.cos(longitude) * sin_colat, np.sin(longitude) * sin_colat, np.cos(colatitude)],
        axis=-1,
    )


def grid_node_positions(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """float32 `[N_lat · N_lon, 3]` unit vectors of the grid nodes, lat-major."""
    return lat_lon_to_positions(*grid_node_lat_lon(lat, lon))


def max_edge_length(mesh: TriangularMesh) -> np.float32:
    """Longest chord ‖v_s − v_r‖ over the mesh's face edges, float32."""
    faces = mesh.faces
    starts = faces.reshape(-1)
    ends = faces[:, [1, 2, 0]].reshape(-1)
    return np.linalg.norm(mesh.vertices[starts] - mesh.vertices[ends], axis=-1).max()


def grid2mesh_edges(
    grid_positions: np.ndarray, mesh_vertices: np.ndarray, radius: float
) -> tuple[np.ndarray, np.ndarray]:
    """Grid→mesh edges for every pair within `radius` (chord distance, inclusive).

    Args:
        grid_positions: float32 `[N_grid, 3]`.
        mesh_vertices: float32 `[N_mesh, 3]` (the multimesh nodes).
        radius: query radius on the unit sphere.

    Returns:
        `(senders, receivers)` int32: grid indices ascending, mesh indices ascending within.
    """
    tree = scipy.spatial.cKDTree(mesh_vertices.astype(np.float64))
    neighbours = tree.query_ball_point(
        grid_positions.astype(np.float64), r=radius, return_sorted=True
    )
    counts = np.fromiter((len(n) for n in neighbours), dtype=np.int64, count=len(neighbours))
    receivers = np.fromiter(
        itertools.chain.from_iterable(neighbours), dtype=np.int32, count=int(counts.sum())
    )
    senders = np.repeat(np.arange(len(neighbours), dtype=np.int32), counts)
    return senders, receivers


def mesh2grid_face_index(grid_positions: np.ndarray, finest_mesh: TriangularMesh) -> np.ndarray:
    """For each grid node, the finest-level face whose planar triangle is closest.

    Uses trimesh's `proximity.closest_point`, as the reference does, so that the many near-ties
    are broken identically (SPEC §9.2, §15.1).

    Args:
        grid_positions: float32 `[N_grid, 3]`.
        finest_mesh: the finest refinement level (not the multimesh).

    Returns:
        int32 `[N_grid]` face indices into `finest_mesh.faces`.
    """
    surface = trimesh.Trimesh(vertices=finest_mesh.vertices, faces=finest_mesh.faces, process=False)
    out = np.empty(grid_positions.shape[0], dtype=np.int32)
    for start in range(0, grid_positions.shape[0], _MESH2GRID_CHUNK):
        chunk = grid_positions[start : start + _MESH2GRID_CHUNK]
        _, _, face_index = trimesh.proximity.closest_point(surface, chunk)
        out[start : start + chunk.shape[0]] = face_index
    return out


def mesh2grid_edges(
    face_index: np.ndarray, finest_faces: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Mesh→grid edges from each grid node's face: (F[f,0], g), (F[f,1], g), (F[f,2], g).

    Args:
        face_index: int `[N_grid]` from `mesh2grid_face_index`.
        finest_faces: int `[num_faces, 3]` of the finest level.

    Returns:
        `(senders, receivers)` int32 `[3 · N_grid]`, grid-major.
    """
    senders = finest_faces[face_index].reshape(-1).astype(np.int32)
    receivers = np.repeat(np.arange(face_index.size, dtype=np.int32), 3)
    return senders, receivers
