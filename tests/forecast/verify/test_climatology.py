"""Climatology: WeatherBench2's 61-day triangular window over day of year, wrapping the year."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from forecast.errors import InvalidInputError
from forecast.verify.climatology import (
    ClimatologyAccumulator,
    as_climatology,
    climatology_at,
    compute_climatology,
    load_climatology,
    synthetic_climatology,
    triangular_window,
)


def test_triangular_window_shape():
    w = triangular_window(61)
    assert w.size == 61 and w.mean() == pytest.approx(1.0)
    assert w[0] == 0 and w[-1] == 0 and w.argmax() == 30
    np.testing.assert_allclose(w, w[::-1])
    np.testing.assert_allclose(np.diff(w[:31]), w[30] / 30)  # linear rise, zero at ±30 days
    with pytest.raises(InvalidInputError):
        triangular_window(60)


def archive(times, seed=0) -> xr.Dataset:
    times = pd.DatetimeIndex(times)
    rng = np.random.default_rng(seed)
    lat, lon = np.array([-45.0, 0.0, 45.0]), np.array([0.0, 120.0, 240.0])
    # A seasonal cycle plus noise, so the smoothing matters.
    season = 10 * np.sin(2 * np.pi * times.day_of_year.to_numpy() / 366)[:, None, None]
    t2m = 280 + season + rng.standard_normal((len(times), 3, 3))
    z = 5e4 + 100 * season[:, None] + rng.standard_normal((len(times), 2, 3, 3))
    return xr.Dataset(
        {
            "2m_temperature": (("time", "lat", "lon"), t2m),
            "geopotential": (("time", "level", "lat", "lon"), z),
        },
        coords={"time": times, "level": [500, 850], "lat": lat, "lon": lon},
    )


def reference(ds: xr.Dataset, name: str, day: int, hour: int) -> np.ndarray:
    """Direct evaluation: Σ w(k)·x / Σ w(k) over archive times at `hour` within ±30 days of
    `day` (366-day cycle), a non-leap year's day 365 counting for day 366 as well."""
    num, den = 0.0, 0.0
    for i, t in enumerate(pd.DatetimeIndex(ds["time"].values)):
        if t.hour != hour:
            continue
        doys = [t.day_of_year] + ([366] if not t.is_leap_year and t.day_of_year == 365 else [])
        for doy in doys:
            k = (doy - day + 183) % 366 - 183
            if abs(k) < 30:
                weight = 1 - abs(k) / 30
                num = num + weight * ds[name].isel(time=i).values
                den += weight
    return num / den


def test_matches_direct_evaluation_and_wraps_around_the_year():
    # Two winters: Dec 2023 (leap year) … Feb 2024, and Nov 2024 … Jan 2025, twice a day.
    times = pd.date_range("2023-11-20", "2024-02-10", freq="12h").append(
        pd.date_range("2024-11-15", "2025-01-20", freq="12h")
    )
    ds = archive(times)
    days = [1, 15, 340, 365, 366]
    clim = compute_climatology(ds, dayofyear=days)
    assert dict(clim.sizes) == {"dayofyear": 5, "hour": 2, "lat": 3, "lon": 3, "level": 2}
    assert clim["geopotential"].dims == ("dayofyear", "hour", "level", "lat", "lon")
    for name in ("2m_temperature", "geopotential"):
        for day in days:
            for hour in (0, 12):
                expected = reference(ds, name, day, hour)
                got = clim[name].sel(dayofyear=day, hour=hour).values
                np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_smoothing_takes_the_whole_window_and_nothing_beyond():
    # One value per day: 1 on a single day, 0 elsewhere → the climatology is the window itself.
    times = pd.date_range("2025-01-01", "2025-12-31", freq="D")
    x = np.zeros(len(times))
    x[times.day_of_year == 100] = 1.0
    ds = xr.Dataset(
        {
            "2m_temperature": (
                ("time", "lat", "lon"),
                np.broadcast_to(x[:, None, None], (len(x), 2, 2)).copy(),
            )
        },
        coords={"time": times, "lat": [0.0, 10.0], "lon": [0.0, 10.0]},
    )
    clim = compute_climatology(ds)["2m_temperature"].isel(hour=0, lat=0, lon=0)
    w = triangular_window(61)
    expected = np.zeros(366)
    expected[99 - 30 : 99 + 31] = w / w.sum()  # every day's window holds 59 days of data
    np.testing.assert_allclose(clim.values, expected, atol=1e-7)


def test_climatology_at_looks_up_day_and_hour_and_refuses_gaps():
    times = pd.date_range("2024-06-01", "2024-06-20", freq="6h")
    clim = compute_climatology(archive(times), dayofyear=[160, 161, 250])
    valid = xr.DataArray(pd.to_datetime(["2024-06-08T06:00", "2024-06-09T18:00"]), dims="time")
    got = climatology_at(clim, valid)
    assert got["geopotential"].dims == ("time", "level", "lat", "lon")
    np.testing.assert_array_equal(
        got["2m_temperature"].isel(time=1).values,
        clim["2m_temperature"].sel(dayofyear=161, hour=18).values,
    )
    with pytest.raises(InvalidInputError, match="day of year"):
        climatology_at(clim, xr.DataArray(pd.to_datetime(["2024-01-01"]), dims="time"))
    with pytest.raises(InvalidInputError, match="undefined"):  # day 250: no data in its window
        climatology_at(clim, xr.DataArray(pd.to_datetime(["2024-09-06"]), dims="time"))
    with pytest.raises(InvalidInputError, match="lacks"):
        climatology_at(clim, valid, ["temperature"])


def test_user_file_in_weatherbench2_naming_is_normalised(tmp_path):
    clim = xr.Dataset(
        {
            "2m_temperature": (
                ("dayofyear", "hour", "latitude", "longitude"),
                np.ones((366, 4, 3, 2)),
            )
        },
        coords={
            "dayofyear": np.arange(1, 367),
            "hour": [0, 6, 12, 18],
            "latitude": [90.0, 0.0, -90.0],
            "longitude": [0.0, 180.0],
        },
    )
    path = tmp_path / "clim.nc"
    clim.to_netcdf(path)
    loaded = load_climatology(path)
    assert list(loaded["lat"].values) == [-90.0, 0.0, 90.0]
    with pytest.raises(InvalidInputError, match="dayofyear"):
        as_climatology(clim.isel(dayofyear=0))
    with pytest.raises(InvalidInputError, match="cannot read"):
        load_climatology(tmp_path / "missing.nc")


def test_archive_added_in_pieces_gives_the_same_climatology():
    times = pd.date_range("2024-12-01", "2025-01-31", freq="12h")
    ds = archive(times, seed=4)
    whole = compute_climatology(ds, dayofyear=[1, 366, 20])
    accumulator = ClimatologyAccumulator(dayofyear=[1, 366, 20])
    for part in (slice(0, 40), slice(40, 77), slice(77, None)):
        accumulator.add(ds.isel(time=part))
    xr.testing.assert_allclose(accumulator.result(), whole)


def test_synthetic_world_climatology_is_near_the_world_around_that_day():
    clim = synthetic_climatology(
        [46], grid_deg=30.0, levels=(500,), years=(2024, 2025), day_stride=6
    )
    assert set(clim.data_vars) >= {"2m_temperature", "geopotential", "total_precipitation_6hr"}
    assert clim.attrs["synthetic"] == 1 and clim.attrs["archive_times_used"] > 0
    z = clim["geopotential"].sel(dayofyear=46, hour=0, level=500)
    assert np.isfinite(z).all() and 4.6e4 < float(z.mean()) < 6.0e4  # ~5.5 km geopotential height
    t2m = clim["2m_temperature"].sel(dayofyear=46)
    assert float(t2m.sel(lat=0).mean()) > float(t2m.sel(lat=90).mean()) + 10  # warm tropics


@pytest.mark.parametrize("days", [[1, 2, 59, 60, 365, 366], None])
def test_dask_path_equals_the_in_memory_path(days):
    from forecast.verify.climatology import compute_climatology_dask

    # A leap year and a non-leap year, with a gap, in chunks of 5 times.
    times = pd.date_range("2023-10-01", "2025-02-01", freq="6h")
    times = times[(times < "2024-03-01") | (times > "2024-03-10")]
    data = archive(times)
    data["2m_temperature"][7, 1, 1] = np.nan  # a missing value drops out of both sums
    reference = compute_climatology(data, dayofyear=days)
    got = compute_climatology_dask(data.chunk({"time": 5}), dayofyear=days, block_bytes=4000)
    assert got["2m_temperature"].chunks is not None
    got = got.compute()
    assert got.attrs == reference.attrs
    xr.testing.assert_allclose(got, reference, rtol=1e-6)


def test_climatology_command_runs_on_a_local_cluster(tmp_path):
    from forecast.cli import main

    times = pd.date_range("2024-01-01", "2024-03-31", freq="6h")
    data = archive(times)
    store = tmp_path / "archive.zarr"
    data.rename(lat="latitude", lon="longitude").chunk({"time": 8}).to_zarr(
        store, consolidated=True, zarr_format=2
    )
    out = tmp_path / "clim.nc"
    argv = ["climatology", "--archive", str(store), "--output", str(out), "--days", "30-32"]
    assert main([*argv, "--workers", "1", "--memory-limit", "1GiB"]) == 0
    written = xr.load_dataset(out)
    xr.testing.assert_allclose(
        written, compute_climatology(data, dayofyear=[30, 31, 32]), rtol=1e-6
    )
    assert main([*argv[:-2], "--days", "x"]) == 2


def test_climatology_command_uses_a_running_scheduler(tmp_path):
    """--scheduler ADDRESS: the graph goes to an existing cluster (here one started by the test)."""
    from distributed import LocalCluster

    from forecast.cli import main

    data = archive(pd.date_range("2024-01-01", "2024-02-29", freq="6h"))
    store = tmp_path / "archive.zarr"
    data.chunk({"time": 8}).to_zarr(store, consolidated=True, zarr_format=2)
    out = tmp_path / "clim.zarr"
    import dask

    with (
        dask.config.set({"temporary-directory": str(tmp_path)}),
        LocalCluster(
            n_workers=1, threads_per_worker=1, dashboard_address=None, local_directory=tmp_path
        ) as cluster,
    ):
        argv = ["climatology", "--archive", str(store), "--output", str(out), "--days", "40"]
        assert main([*argv, "--scheduler", cluster.scheduler_address]) == 0
        # The tasks ran on this scheduler (a LocalCluster of the command's own would not).
        assert cluster.scheduler.task_prefixes
    written = xr.open_zarr(out).load()
    xr.testing.assert_allclose(written, compute_climatology(data, dayofyear=[40]), rtol=1e-6)
