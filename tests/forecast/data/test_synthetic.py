"""Tests of the synthetic offline world: determinism, time locality, magnitudes, consistency."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from forecast.data.synthetic import (
    R_DRY,
    global_grid,
    synthetic_era5,
    synthetic_static,
    write_synthetic_archive,
)
from forecast.errors import InvalidInputError
from forecast.variables import (
    PRESSURE_LEVELS_13,
    STATIC_VARS,
    TARGET_ATMOSPHERIC_VARS,
    TARGET_SURFACE_VARS,
)

TIMES = pd.date_range("2026-01-10T00", periods=4, freq="6h")
# Solar radiation is skipped where a test does not need it: the real formula is the slow part.
NO_TISR = [*TARGET_SURFACE_VARS, *TARGET_ATMOSPHERIC_VARS, *STATIC_VARS]


@pytest.fixture(scope="module")
def world() -> xr.Dataset:
    """Two January frames and one July frame on a 2° grid, every variable."""
    times = ["2026-01-10T00", "2026-01-10T06", "2026-07-10T12"]
    return synthetic_era5(times, grid_deg=2.0, seed=0)


def test_layout(world: xr.Dataset) -> None:
    assert world.attrs["source"] == "synthetic"
    assert world.attrs["synthetic"] == 1 and world.attrs["synthetic_seed"] == 0
    assert list(world["level"].values) == list(PRESSURE_LEVELS_13)
    assert world["level"].dtype == np.int32
    assert world["time"].dtype == np.dtype("datetime64[ns]")
    lat, lon = world["lat"].values, world["lon"].values
    assert lat.dtype == np.float32 and lon.dtype == np.float32
    assert np.all(np.diff(lat) > 0) and lat[0] == -90 and lat[-1] == 90
    assert lon[0] == 0 and lon[-1] == 358
    for name in (*TARGET_SURFACE_VARS, "toa_incident_solar_radiation"):
        assert world[name].dims == ("time", "lat", "lon"), name
    for name in TARGET_ATMOSPHERIC_VARS:
        assert world[name].dims == ("time", "level", "lat", "lon"), name
    for name in STATIC_VARS:
        assert world[name].dims == ("lat", "lon"), name
    for name, var in world.data_vars.items():
        assert var.dtype == np.float32, name
        assert np.all(np.isfinite(var.values)), name


# Realistic (ERA5-like) bounds: (min, max) of values and of the global mean.
SURFACE_RANGES = {
    "2m_temperature": ((190, 330), (265, 295)),
    "mean_sea_level_pressure": ((94000, 106000), (100500, 102000)),
    "10m_u_component_of_wind": ((-30, 30), (-3, 3)),
    "10m_v_component_of_wind": ((-30, 30), (-3, 3)),
    "total_precipitation_6hr": ((0, 0.05), (1e-4, 2e-3)),
    "toa_incident_solar_radiation": ((0, 5.5e6), (5e5, 2e6)),
    "geopotential_at_surface": ((-1000, 60000), (500, 10000)),
    "land_sea_mask": ((0, 1), (0.15, 0.5)),
}
LEVEL_RANGES = {  # (variable, level): (min, max) of values, (min, max) of the mean
    ("geopotential", 500): ((45000, 60000), (52000, 56000)),
    ("geopotential", 1000): ((-3000, 4000), (0, 2000)),
    ("geopotential", 50): ((180000, 215000), (190000, 210000)),
    ("temperature", 850): ((220, 310), (260, 285)),
    ("temperature", 500): ((210, 280), (240, 260)),
    ("temperature", 50): ((180, 250), (200, 225)),
    ("u_component_of_wind", 250): ((-60, 110), (5, 25)),
    ("v_component_of_wind", 250): ((-80, 80), (-2, 2)),
    ("vertical_velocity", 500): ((-2, 2), (-0.05, 0.05)),
    ("specific_humidity", 1000): ((0, 0.03), (0.003, 0.012)),
    ("specific_humidity", 500): ((0, 0.008), (2e-4, 2e-3)),
    ("specific_humidity", 50): ((0, 1e-5), (1e-6, 6e-6)),
}


@pytest.mark.parametrize("name", sorted(SURFACE_RANGES))
def test_surface_magnitudes(world: xr.Dataset, name: str) -> None:
    (lo, hi), (mean_lo, mean_hi) = SURFACE_RANGES[name]
    values = world[name].values
    assert lo <= values.min() and values.max() <= hi, (values.min(), values.max())
    assert mean_lo <= values.mean() <= mean_hi, values.mean()
    assert values.std() > 0


@pytest.mark.parametrize("key", sorted(LEVEL_RANGES))
def test_level_magnitudes(world: xr.Dataset, key: tuple[str, int]) -> None:
    (lo, hi), (mean_lo, mean_hi) = LEVEL_RANGES[key]
    values = world[key[0]].sel(level=key[1]).values
    assert lo <= values.min() and values.max() <= hi, (values.min(), values.max())
    assert mean_lo <= values.mean() <= mean_hi, values.mean()


def test_every_level_varies(world: xr.Dataset) -> None:
    # A field constant on a level would have a zero stddev and break normalisation.
    for name in TARGET_ATMOSPHERIC_VARS:
        std = world[name].std(("time", "lat", "lon"))
        assert np.all(std.values > 0), name


def test_structure(world: xr.Dataset) -> None:
    jan = world.isel(time=0)
    t2m = jan["2m_temperature"]
    # Tropics warmer than poles; January: the north is colder than the south.
    assert t2m.sel(lat=slice(-10, 10)).mean() > t2m.sel(lat=slice(60, 90)).mean() + 20
    assert t2m.sel(lat=slice(40, 70)).mean() < t2m.sel(lat=slice(-70, -40)).mean()
    # Westerly jets aloft in mid-latitudes, stronger than at the surface.
    u = jan["u_component_of_wind"].sel(lat=slice(30, 50)).mean(("lat", "lon"))
    assert u.sel(level=250) > 15 and u.sel(level=250) > u.sel(level=1000) + 10
    # Land is rougher: orography sits on land.
    land = jan["land_sea_mask"].values > 0.5
    assert np.all(
        jan["geopotential_at_surface"].values[~land & (jan["land_sea_mask"].values == 0)] == 0
    )
    assert jan["geopotential_at_surface"].values[land].mean() > 2000


def test_hydrostatic_thickness(world: xr.Dataset) -> None:
    # Φ500 − Φ1000 ≈ R T̄ ln 2 with T̄ the log-pressure mean temperature of the layer.
    frame = world.isel(time=0)
    levels = [500, 600, 700, 850, 925, 1000]
    temps = frame["temperature"].sel(level=levels).values.astype(np.float64)
    logp = np.log(np.array(levels, dtype=np.float64))
    mean_t = np.trapezoid(temps, logp, axis=0) / (logp[-1] - logp[0])
    thickness = (
        frame["geopotential"].sel(level=500).values - frame["geopotential"].sel(level=1000).values
    )
    np.testing.assert_allclose(thickness, R_DRY * mean_t * np.log(2.0), rtol=0.01)


def test_geostrophic_winds(world: xr.Dataset) -> None:
    # The wave part of v at 500 hPa follows the zonal gradient of Φ500 in mid-latitudes.
    frame = world.isel(time=0).sel(lat=slice(40, 60))
    z = frame["geopotential"].sel(level=500).values.astype(np.float64)
    v = frame["v_component_of_wind"].sel(level=500).values.astype(np.float64)
    phi = np.deg2rad(frame["lat"].values.astype(np.float64))[:, None]
    dlam = np.deg2rad(2.0)
    dz = (np.roll(z, -1, axis=1) - np.roll(z, 1, axis=1)) / (2 * dlam)
    vg = dz / (2 * 7.292e-5 * np.sin(phi) * 6.371e6 * np.cos(phi))
    assert np.corrcoef(vg.ravel(), v.ravel())[0, 1] > 0.9


def test_humidity_bounded_by_saturation(world: xr.Dataset) -> None:
    q = world["specific_humidity"].values.astype(np.float64)
    t = world["temperature"].values.astype(np.float64)
    p = world["level"].values[None, :, None, None] * 100.0
    e_sat = 611.2 * np.exp(17.67 * (t - 273.15) / (t - 29.65))
    q_sat = 0.622 * e_sat / (p - 0.378 * e_sat)
    assert q.min() >= 0
    assert np.all(q <= q_sat * (1 + 1e-5))
    # ... and moist where it rains: precipitation falls where 850 hPa air is near saturation.
    rh850 = (q / q_sat)[:, list(world["level"].values).index(850)]
    rain = world["total_precipitation_6hr"].values > 1e-3
    assert rain.any() and rh850[rain].mean() > 0.6 > rh850[~rain].mean() - 0.1


def test_precipitation_hourly_sums_to_six_hourly() -> None:
    end = pd.Timestamp("2026-03-05T12")
    six = synthetic_era5([end], grid_deg=5.0, variables=["total_precipitation_6hr"])
    hourly = synthetic_era5(
        pd.date_range(end - pd.Timedelta("5h"), end, freq="1h"),
        grid_deg=5.0,
        variables=["total_precipitation"],
        precipitation_hours=1,
    )
    assert "total_precipitation" in hourly and "total_precipitation_6hr" not in hourly
    total = hourly["total_precipitation"].values.astype(np.float64).sum(0)
    expected = six["total_precipitation_6hr"].values[0]
    assert hourly["total_precipitation"].values.min() >= 0
    assert expected.max() > 1e-3
    np.testing.assert_allclose(total, expected, rtol=2e-6, atol=1e-10)


def test_deterministic_by_seed() -> None:
    a = synthetic_era5(TIMES[:1], grid_deg=5.0, seed=3, variables=NO_TISR)
    b = synthetic_era5(TIMES[:1], grid_deg=5.0, seed=3, variables=NO_TISR)
    c = synthetic_era5(TIMES[:1], grid_deg=5.0, seed=4, variables=NO_TISR)
    xr.testing.assert_identical(a, b)
    assert c.attrs["synthetic_seed"] == 4
    assert not np.allclose(a["land_sea_mask"], c["land_sea_mask"])
    assert not np.allclose(a["geopotential"], c["geopotential"])


def test_time_locality() -> None:
    span = synthetic_era5(TIMES, grid_deg=5.0, variables=NO_TISR)
    alone = synthetic_era5(TIMES[2:3], grid_deg=5.0, variables=NO_TISR)
    xr.testing.assert_identical(span.isel(time=slice(2, 3)), alone)
    # Continuous in time: 1 minute later is almost the same, 6 hours later is not.
    later = synthetic_era5(TIMES[2:3] + pd.Timedelta("1min"), grid_deg=5.0, variables=NO_TISR)
    z = "geopotential"
    small = np.abs(later[z].values - alone[z].values).max()
    big = np.abs(span[z].isel(time=3).values - span[z].isel(time=2).values).max()
    assert small < big / 50


def test_regional_grid_samples_the_same_world() -> None:
    lat = np.arange(30.0, 60.1, 1.0)
    lon = np.arange(-20.0, 20.1, 1.0)  # crosses the meridian: wrapped into [0, 360)
    regional = synthetic_era5(TIMES[:1], lat=lat, lon=lon, variables=NO_TISR)
    assert regional.sizes["lat"] == 31 and regional.sizes["lon"] == 41
    assert regional["lon"].values.min() >= 0 and regional["lon"].values.max() < 360
    glob = synthetic_era5(TIMES[:1], grid_deg=1.0, variables=NO_TISR)
    sub = glob.sel(lat=regional["lat"], lon=regional["lon"])
    np.testing.assert_allclose(regional["geopotential"], sub["geopotential"], rtol=1e-6)
    np.testing.assert_allclose(regional["land_sea_mask"], sub["land_sea_mask"])


def test_persistence_error_grows_with_lead() -> None:
    times = pd.date_range("2026-02-01", periods=13, freq="6h")
    ds = synthetic_era5(times, grid_deg=4.0, variables=["geopotential"], levels=[500])
    z = ds["geopotential"].isel(level=0).values
    rmse = [np.sqrt(np.mean((z[k] - z[0]) ** 2)) for k in (1, 4, 12)]  # 6 h, 24 h, 72 h
    assert rmse[0] > 50  # the world moves (> 5 m in 6 h) ...
    assert rmse[0] < rmse[1] < rmse[2]  # ... and drifts further from persistence with time


def test_diurnal_cycle_over_land() -> None:
    times = pd.date_range("2026-04-01T00", periods=4, freq="6h")
    ds = synthetic_era5(times, grid_deg=5.0, variables=["2m_temperature", "land_sea_mask"])
    land = ds["land_sea_mask"].values > 0.9
    sea = ds["land_sea_mask"].values < 0.1
    swing = np.ptp(ds["2m_temperature"].values, axis=0)
    assert swing[land].mean() > 2 * swing[sea].mean()


def test_static_matches_dataset(world: xr.Dataset) -> None:
    static = synthetic_static(world["lat"].values, world["lon"].values, seed=0)
    xr.testing.assert_allclose(static["land_sea_mask"], world["land_sea_mask"])


def test_variables_subset_and_levels() -> None:
    ds = synthetic_era5(TIMES[:1], grid_deg=10.0, levels=[850, 500], variables=["temperature"])
    assert list(ds.data_vars) == ["temperature"]
    assert list(ds["level"].values) == [850, 500]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"variables": ["2m_temprature"]}, "2m_temprature"),
        ({"grid_deg": 7.0}, "7.0"),
        ({"precipitation_hours": 3}, "precipitation_hours"),
        ({"lat": np.array([10.0, 0.0]), "lon": np.array([0.0])}, "ascending"),
        ({"lat": np.array([0.0, 10.0])}, "both lat and lon"),
        ({"levels": [500, 500]}, "repeated"),
    ],
)
def test_bad_input_is_named(kwargs: dict, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        synthetic_era5(TIMES[:1], **kwargs)


def test_bad_times_are_named() -> None:
    with pytest.raises(InvalidInputError, match="times"):
        synthetic_era5(["not a date"])


def test_global_grid() -> None:
    lat, lon = global_grid(0.25)
    assert lat.size == 721 and lon.size == 1440 and lon[-1] == 359.75


def test_archive_round_trip(tmp_path) -> None:
    times = pd.date_range("2026-05-01", periods=5, freq="6h")
    path = write_synthetic_archive(
        tmp_path / "world.nc", times, chunk_times=2, grid_deg=10.0, variables=NO_TISR
    )
    with xr.open_dataset(path) as archive:
        direct = synthetic_era5(times, grid_deg=10.0, variables=NO_TISR)
        np.testing.assert_array_equal(archive["time"].values, times.to_numpy())
        xr.testing.assert_allclose(archive.load(), direct)
        assert archive.attrs["source"] == "synthetic"
    assert not list(tmp_path.glob(".*partial"))
