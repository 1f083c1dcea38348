"""The three GraphCast graphs (grid2mesh, mesh, mesh2grid) with their features: one entry point.

`build_graphs` assembles the multimesh, the grid↔mesh connectivity and the structural features
exactly as the reference does; `load_or_build_graphs` caches the result on disk because the
0.25° graphs take ~30 s to build.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from forecast.errors import InvalidInputError
from forecast.model import grid_mesh_graphs, icosahedral_mesh, spatial_features

logger = logging.getLogger(__name__)

# Bump when anything changes what build_graphs produces, so stale caches are not reused.
_CACHE_FORMAT = 1


@dataclasses.dataclass(frozen=True)
class EdgeSet:
    """Directed edges between two node sets with their structural features.

    Attributes:
        senders: int32 `[E]` indices into the sender node set.
        receivers: int32 `[E]` indices into the receiver node set.
        features: float32 `[E, 4]` (dist, rel_x, rel_y, rel_z) / normaliser, in the receiver's
            local frame.
        normaliser: the factor the features were divided by (the set's longest edge, or the
            configured mesh2grid factor).
    """

    senders: np.ndarray
    receivers: np.ndarray
    features: np.ndarray
    normaliser: float

    @property
    def num_edges(self) -> int:
        return int(self.senders.shape[0])


@dataclasses.dataclass(frozen=True)
class GraphCastGraphs:
    """Everything about the graphs the network needs, as NumPy arrays.

    Grid nodes are lat-major in the data's lat/lon order: node = i_lat · N_lon + i_lon.

    Attributes:
        grid_lat: float32 `[N_lat]` latitude axis, as given.
        grid_lon: float32 `[N_lon]` longitude axis, as given.
        mesh_lat: float32 `[N_mesh]` mesh node latitudes.
        mesh_lon: float32 `[N_mesh]` mesh node longitudes in [0, 360).
        grid_node_features: float32 `[N_grid, 3]` structural features.
        mesh_node_features: float32 `[N_mesh, 3]` structural features.
        grid2mesh: senders index grid nodes, receivers mesh nodes.
        mesh: the multimesh edges (all refinement levels).
        mesh2grid: senders index mesh nodes, receivers grid nodes.
        query_radius: the grid2mesh radius on the unit sphere.
    """

    grid_lat: np.ndarray
    grid_lon: np.ndarray
    mesh_lat: np.ndarray
    mesh_lon: np.ndarray
    grid_node_features: np.ndarray
    mesh_node_features: np.ndarray
    grid2mesh: EdgeSet
    mesh: EdgeSet
    mesh2grid: EdgeSet
    query_radius: float

    @property
    def num_grid_nodes(self) -> int:
        return int(self.grid_lat.size * self.grid_lon.size)

    @property
    def num_mesh_nodes(self) -> int:
        return int(self.mesh_lat.size)


def _edge_set(
    senders: np.ndarray,
    receivers: np.ndarray,
    sender_lat_lon: tuple[np.ndarray, np.ndarray],
    receiver_lat_lon: tuple[np.ndarray, np.ndarray],
    normaliser: float | None = None,
) -> EdgeSet:
    raw = spatial_features.relative_edge_vectors(
        *sender_lat_lon, *receiver_lat_lon, senders=senders, receivers=receivers
    )
    features, normaliser = spatial_features.normalise_edge_features(raw, normaliser)
    return EdgeSet(
        senders=senders.astype(np.int32),
        receivers=receivers.astype(np.int32),
        features=features,
        normaliser=normaliser,
    )


def _validate_config(mesh_size: int, fraction: float, mesh2grid_factor: float | None) -> None:
    if not np.isfinite(fraction) or fraction <= 0:
        raise InvalidInputError(
            f"radius_query_fraction_edge_length must be positive, got {fraction!r}"
        )
    if mesh2grid_factor is not None and (
        not np.isfinite(mesh2grid_factor) or mesh2grid_factor <= 0
    ):
        raise InvalidInputError(
            f"mesh2grid_edge_normalization_factor must be positive or None, got {mesh2grid_factor!r}"
        )
    del mesh_size  # checked by icosahedral_mesh.mesh_hierarchy


def build_graphs(
    grid_lat: np.ndarray,
    grid_lon: np.ndarray,
    *,
    mesh_size: int,
    radius_query_fraction_edge_length: float,
    mesh2grid_edge_normalization_factor: float | None = None,
) -> GraphCastGraphs:
    """Build the multimesh and the grid↔mesh graphs with their features (SPEC §8–§10).

    Args:
        grid_lat: latitude axis in degrees (strictly monotonic, within ±90; any direction).
        grid_lon: longitude axis in degrees.
        mesh_size: number of icosahedron refinements; the multimesh uses levels 0…mesh_size.
        radius_query_fraction_edge_length: grid2mesh radius as a fraction of the longest
            finest-level mesh edge.
        mesh2grid_edge_normalization_factor: fixed mesh2grid feature normaliser, or None for
            the longest mesh2grid edge.

    Returns:
        The graphs; see `GraphCastGraphs`.

    Raises:
        InvalidInputError: for a malformed grid or configuration.
    """
    grid_lat, grid_lon = grid_mesh_graphs.validate_grid(grid_lat, grid_lon)
    _validate_config(
        mesh_size, radius_query_fraction_edge_length, mesh2grid_edge_normalization_factor
    )
    meshes = icosahedral_mesh.mesh_hierarchy(mesh_size)
    finest = meshes[-1]
    multimesh = icosahedral_mesh.merge_meshes(meshes)
    mesh_lat, mesh_lon = icosahedral_mesh.vertices_to_lat_lon(multimesh.vertices)
    grid_node_lat, grid_node_lon = grid_mesh_graphs.grid_node_lat_lon(grid_lat, grid_lon)
    grid_positions = grid_mesh_graphs.lat_lon_to_positions(grid_node_lat, grid_node_lon)

    radius = grid_mesh_graphs.max_edge_length(finest) * radius_query_fraction_edge_length
    g2m_senders, g2m_receivers = grid_mesh_graphs.grid2mesh_edges(
        grid_positions, multimesh.vertices, radius
    )
    unreached = multimesh.vertices.shape[0] - np.unique(g2m_receivers).size
    if unreached:
        # Legitimate on coarse or regional grids (SPEC §9.1): their aggregated message is zero.
        logger.info("%d of %d mesh nodes receive no grid2mesh edge", unreached, len(mesh_lat))
    mesh_senders, mesh_receivers = icosahedral_mesh.faces_to_edges(multimesh.faces)
    face_index = grid_mesh_graphs.mesh2grid_face_index(grid_positions, finest)
    m2g_senders, m2g_receivers = grid_mesh_graphs.mesh2grid_edges(face_index, finest.faces)

    grid_nodes = (grid_node_lat, grid_node_lon)
    mesh_nodes = (mesh_lat, mesh_lon)
    return GraphCastGraphs(
        grid_lat=grid_lat,
        grid_lon=grid_lon,
        mesh_lat=mesh_lat,
        mesh_lon=mesh_lon,
        grid_node_features=spatial_features.node_features(*grid_nodes),
        mesh_node_features=spatial_features.node_features(*mesh_nodes),
        grid2mesh=_edge_set(g2m_senders, g2m_receivers, grid_nodes, mesh_nodes),
        mesh=_edge_set(mesh_senders, mesh_receivers, mesh_nodes, mesh_nodes),
        mesh2grid=_edge_set(
            m2g_senders,
            m2g_receivers,
            mesh_nodes,
            grid_nodes,
            normaliser=mesh2grid_edge_normalization_factor,
        ),
        query_radius=float(radius),
    )


def _cache_key(
    grid_lat: np.ndarray,
    grid_lon: np.ndarray,
    mesh_size: int,
    fraction: float,
    mesh2grid_factor: float | None,
) -> str:
    digest = hashlib.sha256()
    digest.update(f"v{_CACHE_FORMAT}|{int(mesh_size)}|{float(fraction)!r}|".encode())
    digest.update(f"{None if mesh2grid_factor is None else float(mesh2grid_factor)!r}|".encode())
    digest.update(np.ascontiguousarray(grid_lat, dtype=np.float32).tobytes())
    digest.update(b"|")
    digest.update(np.ascontiguousarray(grid_lon, dtype=np.float32).tobytes())
    return digest.hexdigest()[:32]


_EDGE_SETS = ("grid2mesh", "mesh", "mesh2grid")
_NODE_FIELDS = (
    "grid_lat",
    "grid_lon",
    "mesh_lat",
    "mesh_lon",
    "grid_node_features",
    "mesh_node_features",
)


def _to_arrays(graphs: GraphCastGraphs) -> dict[str, np.ndarray]:
    arrays = {name: getattr(graphs, name) for name in _NODE_FIELDS}
    arrays["query_radius"] = np.float64(graphs.query_radius)
    for name in _EDGE_SETS:
        edges: EdgeSet = getattr(graphs, name)
        arrays |= {
            f"{name}/senders": edges.senders,
            f"{name}/receivers": edges.receivers,
            f"{name}/features": edges.features,
            f"{name}/normaliser": np.float64(edges.normaliser),
        }
    return arrays


def _from_arrays(arrays: dict[str, np.ndarray]) -> GraphCastGraphs:
    edge_sets = {
        name: EdgeSet(
            senders=arrays[f"{name}/senders"],
            receivers=arrays[f"{name}/receivers"],
            features=arrays[f"{name}/features"],
            normaliser=float(arrays[f"{name}/normaliser"]),
        )
        for name in _EDGE_SETS
    }
    nodes = {name: arrays[name] for name in _NODE_FIELDS}
    return GraphCastGraphs(**nodes, **edge_sets, query_radius=float(arrays["query_radius"]))


def save_graphs(graphs: GraphCastGraphs, path: Path) -> None:
    """Write graphs to an `.npz` file atomically (a reader never sees half a file).

    Args:
        graphs: the graphs to store.
        path: destination file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **_to_arrays(graphs))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_graphs(path: Path) -> GraphCastGraphs:
    """Read graphs written by `save_graphs`.

    Args:
        path: an `.npz` file.

    Returns:
        The graphs.

    Raises:
        InvalidInputError: if the file is unreadable or incomplete.
    """
    try:
        with np.load(path, allow_pickle=False) as npz:
            return _from_arrays({key: npz[key] for key in npz.files})
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise InvalidInputError(f"graph cache {path} is unreadable: {exc}") from exc


def load_or_build_graphs(
    grid_lat: np.ndarray,
    grid_lon: np.ndarray,
    *,
    mesh_size: int,
    radius_query_fraction_edge_length: float,
    mesh2grid_edge_normalization_factor: float | None = None,
    cache_dir: Path | None = None,
) -> GraphCastGraphs:
    """`build_graphs`, reusing an `.npz` cache keyed by a hash of all the inputs.

    Args:
        grid_lat: latitude axis in degrees.
        grid_lon: longitude axis in degrees.
        mesh_size: number of icosahedron refinements.
        radius_query_fraction_edge_length: grid2mesh radius fraction.
        mesh2grid_edge_normalization_factor: optional fixed mesh2grid normaliser.
        cache_dir: where cached graphs live; None disables caching.

    Returns:
        The graphs, identical to what `build_graphs` returns.
    """
    kwargs = dict(
        mesh_size=mesh_size,
        radius_query_fraction_edge_length=radius_query_fraction_edge_length,
        mesh2grid_edge_normalization_factor=mesh2grid_edge_normalization_factor,
    )
    if cache_dir is None:
        return build_graphs(grid_lat, grid_lon, **kwargs)
    key = _cache_key(
        grid_lat,
        grid_lon,
        mesh_size,
        radius_query_fraction_edge_length,
        mesh2grid_edge_normalization_factor,
    )
    path = Path(cache_dir) / f"graphs-mesh{int(mesh_size)}-{key}.npz"
    if path.exists():
        try:
            return load_graphs(path)
        except InvalidInputError as exc:
            # A damaged cache is only a cache: say so and rebuild over it.
            logger.warning("rebuilding graphs: %s", exc)
    graphs = build_graphs(grid_lat, grid_lon, **kwargs)
    save_graphs(graphs, path)
    return graphs
