"""Area (latitude) weights of a regular lat/lon grid, as WeatherBench2 defines them."""

from __future__ import annotations

import numpy as np

from forecast.errors import InvalidInputError


def latitude_cell_bounds(lat: np.ndarray) -> np.ndarray:
    """Latitude bounds (degrees) of the cells centred on `lat`.

    Interior bounds are the midpoints between neighbouring latitudes. The outer bounds lie half a
    spacing beyond the first and last latitude, clipped to ±90°: for a global grid (poles
    included, or offset from them by half a spacing) they are exactly ±90°, as in WeatherBench2;
    for a regional grid they close the edge cells symmetrically.

    Args:
      lat: strictly ascending latitudes in degrees, at least two.

    Returns:
      `len(lat) + 1` ascending bounds in degrees.

    Raises:
      InvalidInputError: fewer than two latitudes, not strictly ascending, or outside ±90°.
    """
    lat = np.asarray(lat, dtype=np.float64)
    if lat.ndim != 1 or lat.size < 2:
        raise InvalidInputError(
            f"latitude must be 1-D with at least 2 values, got shape {lat.shape}"
        )
    if not np.all(np.diff(lat) > 0):
        raise InvalidInputError("latitude must be strictly ascending (model layout)")
    if lat[0] < -90 - 1e-6 or lat[-1] > 90 + 1e-6:
        raise InvalidInputError(f"latitude outside [-90, 90]: {lat[0]} … {lat[-1]}")
    mid = (lat[:-1] + lat[1:]) / 2
    lower = max(lat[0] - (lat[1] - lat[0]) / 2, -90.0)
    upper = min(lat[-1] + (lat[-1] - lat[-2]) / 2, 90.0)
    return np.concatenate([[lower], mid, [upper]])


def area_weights(lat: np.ndarray) -> np.ndarray:
    """Per-latitude area weights, normalised to mean 1 over the latitudes.

    w_i ∝ sin φ_{i+½} − sin φ_{i−½}, with the bounds of `latitude_cell_bounds` — the area of a
    cell between two latitudes on the unit sphere, per unit longitude. Normalised so that
    `mean(w) == 1` (WeatherBench2's `get_lat_weights`); on a regular longitude grid that is
    also the mean over every grid point.

    Args:
      lat: strictly ascending latitudes in degrees.

    Returns:
      float64 weights, one per latitude.
    """
    bounds = np.deg2rad(latitude_cell_bounds(lat))
    weights = np.sin(bounds[1:]) - np.sin(bounds[:-1])
    return weights / weights.mean()
