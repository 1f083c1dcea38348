"""Regions as strategies that adjust the area weights (WeatherBench2's regions).

A region never slices the data: it multiplies the grid's area weights by a 0/1 mask, so every
score is a weighted mean over the whole field and regional sums add up like global ones. Every
region here is a product of a latitude mask and a longitude mask, which lets the fast scorer
(`forecast.verify.evaluation`) reduce over longitude once per distinct longitude mask.

Predefined regions (`REGIONS`) use WeatherBench2's boxes (scripts/evaluate.py): Europe
35…75°N, 12.5°W…42.5°E; North America 25…60°N, 120…75°W. Tropics are |φ| < 20° and the
extra-tropics |φ| ≥ 20°, so the two partition the globe (WeatherBench2's tropics slice
includes ±20° exactly; on grids with a row at ±20° that row counts as extra-tropical here).
Box bounds are inclusive, as WeatherBench2's `slice` selections are.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from forecast.errors import InvalidInputError


def _wrap360(lon: np.ndarray | float) -> np.ndarray:
    return np.mod(np.asarray(lon, dtype=np.float64), 360.0)


@dataclasses.dataclass(frozen=True)
class Region:
    """Base region: the whole globe.

    Subclasses override `lat_mask` and/or `lon_mask`; `apply` combines them with the weights.
    """

    def lat_mask(self, lat: np.ndarray) -> np.ndarray:
        """0/1 float mask over latitudes (degrees)."""
        return np.ones(np.shape(lat), dtype=np.float64)

    def lon_mask(self, lon: np.ndarray) -> np.ndarray:
        """0/1 float mask over longitudes (degrees, any convention)."""
        return np.ones(np.shape(lon), dtype=np.float64)

    def apply(self, weights: np.ndarray, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        """Returns `weights` (lat, lon) or (lat,) broadcast to (lat, lon), times the region mask.

        Raises:
          InvalidInputError: the region holds no grid point of this grid.
        """
        mask = np.outer(self.lat_mask(lat), self.lon_mask(lon))
        if not mask.any():
            raise InvalidInputError(f"region {self} contains no grid point of this grid")
        weights = np.asarray(weights, dtype=np.float64)
        if weights.ndim == 1:
            weights = weights[:, None]
        return weights * mask


@dataclasses.dataclass(frozen=True)
class GlobalRegion(Region):
    """Every grid point."""


@dataclasses.dataclass(frozen=True)
class LatitudeBand(Region):
    """Points with `min_abs_lat <= |φ| < max_abs_lat`, optionally one hemisphere only.

    Attributes:
      min_abs_lat: lower bound of |φ| (inclusive).
      max_abs_lat: upper bound of |φ| (exclusive; 90 or more means up to and including the poles).
      hemisphere: "north" (φ > 0), "south" (φ < 0) or None for both.
    """

    min_abs_lat: float = 0.0
    max_abs_lat: float = 90.0
    hemisphere: str | None = None

    def lat_mask(self, lat: np.ndarray) -> np.ndarray:
        lat = np.asarray(lat, dtype=np.float64)
        a = np.abs(lat)
        upper = a <= 90.0 if self.max_abs_lat >= 90 else a < self.max_abs_lat
        mask = (a >= self.min_abs_lat) & upper
        if self.hemisphere == "north":
            mask &= lat > 0
        elif self.hemisphere == "south":
            mask &= lat < 0
        elif self.hemisphere is not None:
            raise InvalidInputError(
                f"hemisphere must be 'north', 'south' or None: {self.hemisphere!r}"
            )
        return mask.astype(np.float64)


@dataclasses.dataclass(frozen=True)
class LatLonBox(Region):
    """A latitude/longitude box, bounds inclusive.

    Longitudes may be given in either convention (−180…180 or 0…360). When `lon_min` is east of
    `lon_max` after wrapping to 0…360 the box crosses the 0° meridian or the date line and is
    taken as `lon >= lon_min or lon <= lon_max` (e.g. Europe, −12.5…42.5, or 170…−170).
    A box whose longitude span is 360° or more covers every longitude.

    Attributes:
      lat_min, lat_max: southern and northern edges (degrees, lat_min <= lat_max).
      lon_min, lon_max: western and eastern edges (degrees).
    """

    lat_min: float
    lat_max: float
    lon_min: float
    lon_max: float

    def __post_init__(self) -> None:
        if not (-90 <= self.lat_min <= self.lat_max <= 90):
            raise InvalidInputError(
                f"box latitudes must satisfy -90 <= lat_min <= lat_max <= 90, "
                f"got {self.lat_min}, {self.lat_max}"
            )

    def lat_mask(self, lat: np.ndarray) -> np.ndarray:
        lat = np.asarray(lat, dtype=np.float64)
        return ((lat >= self.lat_min) & (lat <= self.lat_max)).astype(np.float64)

    def lon_mask(self, lon: np.ndarray) -> np.ndarray:
        lon = _wrap360(lon)
        if self.lon_max - self.lon_min >= 360:
            return np.ones(lon.shape, dtype=np.float64)
        west, east = float(_wrap360(self.lon_min)), float(_wrap360(self.lon_max))
        # 360 wraps to 0: an eastern edge given as 360 means "up to the meridian, inclusive".
        if east == 0.0 and self.lon_max > self.lon_min:
            east = 360.0
        if west <= east:
            mask = (lon >= west) & (lon <= east)
        else:
            mask = (lon >= west) | (lon <= east)
        return mask.astype(np.float64)


REGIONS: dict[str, Region] = {
    "global": GlobalRegion(),
    "tropics": LatitudeBand(0.0, 20.0),
    "extra-tropics": LatitudeBand(20.0, 90.0),
    "northern-extra-tropics": LatitudeBand(20.0, 90.0, "north"),
    "southern-extra-tropics": LatitudeBand(20.0, 90.0, "south"),
    "europe": LatLonBox(35.0, 75.0, -12.5, 42.5),
    "north-america": LatLonBox(25.0, 60.0, 360.0 - 120.0, 360.0 - 75.0),
}


def parse_box(text: str) -> LatLonBox:
    """Parses "LAT0,LAT1,LON0,LON1" (degrees) into a `LatLonBox`.

    Raises:
      InvalidInputError: not four numbers, or latitudes out of order/range.
    """
    parts = [p.strip() for p in text.split(",")]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(values) != 4 or not all(np.isfinite(values)):
        raise InvalidInputError(f"box must be four numbers LAT0,LAT1,LON0,LON1, got {text!r}")
    return LatLonBox(*values)


def get_region(name: str) -> Region:
    """Returns the predefined region `name` (see `REGIONS`).

    Raises:
      InvalidInputError: unknown name (the message lists the known ones).
    """
    try:
        return REGIONS[name]
    except KeyError:
        raise InvalidInputError(
            f"unknown region {name!r}; known regions: {', '.join(REGIONS)}"
        ) from None
