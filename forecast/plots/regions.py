"""Map regions the viewer offers: the globe and the verification regions, as lat/lon boxes.

Boxes follow the verification regions (`forecast.verify.regions.REGIONS`, WeatherBench 2's
boxes), so the map a forecaster looks at covers what the scores average over. Longitudes are
in −180…180; a box centred on 0°E (Europe) maps without a seam.
"""

from __future__ import annotations

import dataclasses

from forecast.errors import InvalidInputError


@dataclasses.dataclass(frozen=True)
class MapRegion:
    """A plate carrée window.

    Attributes:
        name: URL-safe key, the verification region's name ("europe", "north-america").
        label: human name for selectors and titles.
        lon_min, lon_max: western/eastern edges, degrees east (−180…180, west < east).
        lat_min, lat_max: southern/northern edges, degrees north.
    """

    name: str
    label: str
    lon_min: float
    lon_max: float
    lat_min: float
    lat_max: float

    @property
    def is_global(self) -> bool:
        """Whether the window is the whole globe."""
        return self.lon_max - self.lon_min >= 360 and self.lat_min <= -90 and self.lat_max >= 90


MAP_REGIONS: dict[str, MapRegion] = {
    region.name: region
    for region in (
        MapRegion("global", "Global", -180.0, 180.0, -90.0, 90.0),
        MapRegion("europe", "Europe", -12.5, 42.5, 35.0, 75.0),
        MapRegion("north-america", "North America", -120.0, -75.0, 25.0, 60.0),
        MapRegion("tropics", "Tropics (20°S–20°N)", -180.0, 180.0, -20.0, 20.0),
        MapRegion(
            "northern-extra-tropics", "Northern extra-tropics (20–90°N)", -180.0, 180.0, 20.0, 90.0
        ),
        MapRegion(
            "southern-extra-tropics",
            "Southern extra-tropics (20–90°S)",
            -180.0,
            180.0,
            -90.0,
            -20.0,
        ),
    )
}


def map_region(name: str) -> MapRegion:
    """The region called `name`; raises InvalidInputError naming the known ones."""
    try:
        return MAP_REGIONS[name]
    except KeyError:
        raise InvalidInputError(
            f"unknown map region {name!r}; known: {sorted(MAP_REGIONS)}"
        ) from None
