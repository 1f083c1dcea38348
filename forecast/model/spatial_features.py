"""Structural node and edge features of the GraphCast graphs (SPEC §10.1, §10.2).

Node features are [cos θ, cos λ, sin λ] (θ colatitude, λ longitude). Edge features are the
sender's position relative to the receiver in the receiver's local frame (receiver at
(1, 0, 0), north along +z) with its length, divided by the edge set's normaliser.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from forecast.errors import InvalidInputError
from forecast.model.grid_mesh_graphs import lat_lon_to_positions

# Edges per chunk (each gathers a float64 3×3 matrix): bounds memory at 0.25°.
_EDGE_CHUNK = 500_000


def node_features(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """[cos θ, cos λ, sin λ] per node, float32 `[N, 3]`, from float32 lat/lon in degrees.

    Args:
        lat: node latitudes in degrees, `[N]`.
        lon: node longitudes in degrees, `[N]`.

    Returns:
        float32 `[N, 3]`.
    """
    colatitude = np.deg2rad(np.float32(90) - np.asarray(lat, np.float32))
    longitude = np.deg2rad(np.asarray(lon, np.float32))
    return np.stack([np.cos(colatitude), np.cos(longitude), np.sin(longitude)], axis=-1)


def _local_rotations(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """float64 `[N, 3, 3]` matrices M = R_y(π/2 − θ) · R_z(−λ) of each receiver.

    The angles stay float32 (the reference computes them from float32 lat/lon) and scipy builds
    the matrices: both matter for bit-identical features (SPEC §10.2).
    """
    colatitude = np.deg2rad(np.float32(90) - np.asarray(lat, np.float32))
    longitude = np.deg2rad(np.asarray(lon, np.float32))
    polar_rotation = np.float32(np.pi / 2) - colatitude
    angles = np.stack([-longitude, polar_rotation], axis=-1).astype(np.float64)
    # Extrinsic "zy": first about z, then about the fixed y axis, i.e. R_y · R_z.
    return Rotation.from_euler("zy", angles).as_matrix()


def relative_edge_vectors(
    sender_lat: np.ndarray,
    sender_lon: np.ndarray,
    receiver_lat: np.ndarray,
    receiver_lon: np.ndarray,
    *,
    senders: np.ndarray,
    receivers: np.ndarray,
) -> np.ndarray:
    """Un-normalised edge features [dist, rel_x, rel_y, rel_z], float64 `[E, 4]`.

    Args:
        sender_lat: latitudes (degrees) of the sender node set, `[N_senders]`.
        sender_lon: longitudes of the sender node set.
        receiver_lat: latitudes (degrees) of the receiver node set, `[N_receivers]`.
        receiver_lon: longitudes of the receiver node set.
        senders: int `[E]` indices into the sender node set.
        receivers: int `[E]` indices into the receiver node set.

    Returns:
        float64 `[E, 4]`: rel = M_r p_s − M_r p_r and dist = ‖rel‖.
    """
    sender_pos = lat_lon_to_positions(sender_lat, sender_lon).astype(np.float64)
    receiver_pos = lat_lon_to_positions(receiver_lat, receiver_lon).astype(np.float64)
    # One matrix per receiver node (gathered per edge below: same numbers, far fewer builds).
    rotations = _local_rotations(receiver_lat, receiver_lon)
    rotated_receiver = np.einsum("nij,nj->ni", rotations, receiver_pos)
    out = np.empty((senders.shape[0], 4), dtype=np.float64)
    for start in range(0, senders.shape[0], _EDGE_CHUNK):
        s = senders[start : start + _EDGE_CHUNK]
        r = receivers[start : start + _EDGE_CHUNK]
        rel = np.einsum("eij,ej->ei", rotations[r], sender_pos[s]) - rotated_receiver[r]
        out[start : start + s.shape[0], 0] = np.linalg.norm(rel, axis=-1)
        out[start : start + s.shape[0], 1:] = rel
    return out


def normalise_edge_features(
    raw: np.ndarray, normaliser: float | None = None
) -> tuple[np.ndarray, float]:
    """Divide raw edge features by the edge set's normaliser and store them as float32.

    Args:
        raw: float64 `[E, 4]` from `relative_edge_vectors`.
        normaliser: a fixed factor (the optional mesh2grid setting); None means the largest
            edge length of this edge set.

    Returns:
        `(features float32 [E, 4], normaliser)`.

    Raises:
        InvalidInputError: if a fixed normaliser is not a positive number.
    """
    if normaliser is None:
        normaliser = float(raw[:, 0].max()) if raw.shape[0] else 1.0
    elif not np.isfinite(normaliser) or normaliser <= 0:
        raise InvalidInputError(f"edge normalisation factor must be positive, got {normaliser}")
    return (raw / normaliser).astype(np.float32), float(normaliser)
