"""Region masks: predefined WeatherBench2 boxes, latitude bands, user boxes across the date line."""

from __future__ import annotations

import numpy as np
import pytest

from forecast.errors import InvalidInputError
from forecast.verify.regions import REGIONS, LatLonBox, get_region, parse_box

LAT = np.arange(-90.0, 90.1, 5.0)
LON = np.arange(0.0, 360.0, 2.5)


def test_tropics_and_extratropics_partition_the_globe():
    tropics = REGIONS["tropics"].apply(np.ones(LAT.size), LAT, LON)
    extra = REGIONS["extra-tropics"].apply(np.ones(LAT.size), LAT, LON)
    np.testing.assert_array_equal(tropics + extra, 1.0)
    assert set(LAT[tropics[:, 0] > 0]) == set(np.arange(-15.0, 15.1, 5.0))
    north = REGIONS["northern-extra-tropics"].apply(np.ones(LAT.size), LAT, LON)
    south = REGIONS["southern-extra-tropics"].apply(np.ones(LAT.size), LAT, LON)
    np.testing.assert_array_equal(north + south, extra)
    assert LAT[north[:, 0] > 0].min() == 20.0 and LAT[north[:, 0] > 0].max() == 90.0


def test_europe_crosses_the_meridian():
    mask = REGIONS["europe"].apply(np.ones(LAT.size), LAT, LON)
    rows = LAT[mask.any(axis=1)]
    cols = LON[mask.any(axis=0)]
    assert rows.min() == 35.0 and rows.max() == 75.0
    assert 347.5 in cols and 0.0 in cols and 42.5 in cols
    assert 345.0 not in cols and 45.0 not in cols and 180.0 not in cols


def test_north_america_box():
    mask = REGIONS["north-america"].lon_mask(LON)
    cols = LON[mask > 0]
    assert cols.min() == 240.0 and cols.max() == 285.0


@pytest.mark.parametrize("lon_min, lon_max", [(170.0, -170.0), (170.0, 190.0)])
def test_user_box_across_the_date_line(lon_min, lon_max):
    box = LatLonBox(-10.0, 10.0, lon_min, lon_max)
    cols = LON[box.lon_mask(LON) > 0]
    np.testing.assert_array_equal(
        cols, [170.0, 172.5, 175.0, 177.5, 180.0, 182.5, 185.0, 187.5, 190.0]
    )
    # Longitudes given as −180…180 select the same points.
    lon_180 = np.where(LON > 180, LON - 360, LON)
    np.testing.assert_array_equal(box.lon_mask(lon_180), box.lon_mask(LON))


def test_full_circle_box_and_weights_are_multiplied():
    box = parse_box("0,90,0,360")
    assert box.lon_mask(LON).all()
    w = np.arange(LAT.size, dtype=float)
    out = box.apply(w, LAT, LON)
    np.testing.assert_array_equal(out[LAT >= 0, 0], w[LAT >= 0])
    assert (out[LAT < 0] == 0).all()


@pytest.mark.parametrize("text", ["1,2,3", "a,b,c,d", "50,10,0,10", "-100,0,0,10"])
def test_bad_boxes_are_refused(text):
    with pytest.raises(InvalidInputError):
        parse_box(text)


def test_box_missing_the_grid_is_refused():
    with pytest.raises(InvalidInputError, match="no grid point"):
        LatLonBox(1.0, 2.0, 0.0, 1.0).apply(np.ones(LAT.size), LAT, LON)


def test_unknown_region_lists_known_ones():
    with pytest.raises(InvalidInputError, match="europe"):
        get_region("atlantis")
