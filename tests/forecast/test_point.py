"""Point series: bilinear interpolation checked against hand-computed values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from forecast.errors import InvalidInputError
from forecast.point import point_series, point_series_to_display


def _dataset(*, lon_step: float = 10.0, regional: bool = False) -> xr.Dataset:
    lat = np.arange(-90.0, 90.1, 10.0, dtype=np.float32)
    lon = (
        np.arange(0.0, 40.1, lon_step, dtype=np.float32)
        if regional
        else np.arange(0.0, 360.0, lon_step, dtype=np.float32)
    )
    init = pd.Timestamp("2026-11-16T00:00")
    lead = pd.to_timedelta([6, 12, 18], unit="h")
    la, lo = np.meshgrid(lat, lon, indexing="ij")
    k = np.arange(1, 4)[:, None, None]
    linear = (280.0 + 0.5 * la + 0.1 * lo)[None] + k  # bilinear is exact on it
    shape = (3, lat.size, lon.size)
    return xr.Dataset(
        {
            "2m_temperature": (("time", "lat", "lon"), linear.astype(np.float32)),
            "mean_sea_level_pressure": (
                ("time", "lat", "lon"),
                np.full(shape, 101000.0, np.float32),
            ),
            "10m_u_component_of_wind": (("time", "lat", "lon"), np.full(shape, 3.0, np.float32)),
            "10m_v_component_of_wind": (("time", "lat", "lon"), np.full(shape, -4.0, np.float32)),
            "total_precipitation_6hr": (
                ("time", "lat", "lon"),
                np.full(shape, -1e-5, np.float32),
            ),
        },
        coords={
            "time": (init + lead).to_numpy(),
            "lat": lat,
            "lon": lon,
            "lead_time": ("time", lead),
        },
        attrs={"init_time": "2026-11-16T00:00:00", "predictor": "test", "synthetic": 1},
    )


def test_bilinear_value_and_units():
    series = point_series(_dataset(), lat=45.0, lon=25.0)
    expected = 280.0 + 0.5 * 45.0 + 0.1 * 25.0 + np.arange(1, 4)
    np.testing.assert_allclose(series["2m_temperature"].values, expected, rtol=0, atol=1e-4)
    assert series.attrs["method"] == "bilinear"
    assert series["2m_temperature"].attrs["units"] == "K"
    assert "lead_time" in series.coords
    # u = 3, v = −4: 5 m/s from the north-west quadrant (blowing towards south-east).
    np.testing.assert_allclose(series["10m_wind_speed"].values, 5.0, atol=1e-6)
    np.testing.assert_allclose(
        series["10m_wind_direction"].values, np.degrees(np.arctan2(-3.0, 4.0)) % 360, atol=1e-6
    )
    assert 320 < series["10m_wind_direction"].values[0] < 325


def test_longitude_wraps_and_negative_longitudes():
    ds = _dataset()
    east = point_series(ds, lat=0.0, lon=355.0)
    west = point_series(ds, lat=0.0, lon=-5.0)
    xr.testing.assert_identical(east.drop_attrs(), west.drop_attrs())
    # Halfway between lon 350 (value +35) and lon 0 (value +0): the mean, not an extrapolation.
    np.testing.assert_allclose(
        east["2m_temperature"].values, 280.0 + 17.5 + np.arange(1, 4), atol=1e-4
    )
    assert east.attrs["lon"] == 355.0


def test_display_units():
    display = point_series_to_display(point_series(_dataset(), lat=0.0, lon=0.0))
    np.testing.assert_allclose(
        display["2m_temperature"].values, 280.0 - 273.15 + np.arange(1, 4), atol=1e-4
    )
    assert display["2m_temperature"].attrs == {"units": "°C", "long_name": "2 m temperature"}
    np.testing.assert_allclose(display["mean_sea_level_pressure"].values, 1010.0, atol=1e-3)
    assert display["mean_sea_level_pressure"].attrs["units"] == "hPa"
    assert display["10m_wind_speed"].attrs["units"] == "m/s"
    assert display["total_precipitation_6hr"].attrs["units"] == "mm"
    assert (display["total_precipitation_6hr"].values == 0.0).all()  # negatives shown as dry


def test_reads_a_file(tmp_path):
    path = tmp_path / "forecast.nc"
    _dataset().to_netcdf(path)
    series = point_series(path, lat=-33.9, lon=18.4)
    assert series.sizes["time"] == 3
    assert series.attrs["init_time"] == "2026-11-16T00:00:00"


def test_truth_without_precipitation_keeps_the_rest():
    series = point_series(_dataset().drop_vars("total_precipitation_6hr"), lat=10, lon=10)
    assert "total_precipitation_6hr" not in series
    assert "2m_temperature" in series


@pytest.mark.parametrize(
    ("lat", "lon", "message"),
    [(91.0, 0.0, "latitude"), (0.0, 400.0, "longitude"), (0.0, -181.0, "longitude")],
)
def test_bad_locations(lat, lon, message):
    with pytest.raises(InvalidInputError, match=message):
        point_series(_dataset(), lat=lat, lon=lon)


def test_outside_a_regional_grid():
    with pytest.raises(InvalidInputError, match="outside the forecast's grid"):
        point_series(_dataset(regional=True), lat=0.0, lon=100.0)


def test_missing_file_names_it(tmp_path):
    with pytest.raises(InvalidInputError, match="nope.nc"):
        point_series(tmp_path / "nope.nc", lat=0, lon=0)
