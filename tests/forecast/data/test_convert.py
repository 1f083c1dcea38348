"""Conversion of CDS files (real ERA5 GRIB samples, CDS-format NetCDF) to the model layout."""

from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from devtools.local_cds import cds_format
from forecast.data import convert, lexicon
from forecast.data.grib import check_grib
from forecast.data.synthetic import synthetic_era5
from forecast.errors import InvalidInputError

DAY = dt.datetime(2026, 11, 15)


@pytest.fixture(scope="module")
def grib_dir(shared_dir: Path) -> Path:
    return shared_dir / "data" / "era5-grib-samples"


def test_real_grib_with_members_needs_a_member_and_then_converts(grib_dir):
    path = grib_dir / "era5-levels-members.grib"
    with pytest.raises(InvalidInputError, match=r"era5-levels-members.grib.*10 ensemble members"):
        convert.open_cds_file(path)

    ds = convert.open_cds_file(path, member=0)
    assert set(ds.data_vars) == {"geopotential", "temperature"}
    assert ds["temperature"].dims == ("time", "level", "lat", "lon")
    assert ds["level"].values.tolist() == [850, 500] and ds["level"].dtype == np.int32
    assert np.all(np.diff(ds["lat"].values) > 0) and ds["lat"].values[0] == -90.0
    assert ds["lon"].values[0] == 0.0 and ds["lon"].values[-1] == 357.0
    assert ds.sizes["time"] == 4 and ds["temperature"].dtype == np.float32
    assert 180 < float(ds["temperature"].min()) and float(ds["temperature"].max()) < 320
    # The same values cfgrib reads, merely flipped north-south.
    raw = xr.open_dataset(path, engine="cfgrib", backend_kwargs={"indexpath": ""})
    np.testing.assert_array_equal(
        ds["temperature"].isel(time=0, level=1).values,
        raw["t"].isel(number=0, time=0).sel(isobaricInhPa=500).values[::-1],
    )


def test_real_single_level_grib_with_a_scalar_time_gets_a_time_axis(grib_dir):
    ds = convert.open_cds_file(grib_dir / "era5-single-level-scalar-time.grib")
    assert list(ds.data_vars) == ["2m_temperature"]
    assert ds["2m_temperature"].dims == ("time", "lat", "lon") and ds.sizes["time"] == 1
    # A −10…40 area wraps into [0, 360): 350…359.75 sort after 0…40.
    lon = ds["lon"].values
    assert lon.min() == 0.0 and lon.max() == 359.75 and np.all(np.diff(lon) > 0)
    assert ds.sizes["lon"] == 201 and ds["lat"].values[0] == 30.0


def test_the_corrupted_grib_sample_is_refused_naming_the_file(grib_dir):
    path = grib_dir / "era5-levels-corrupted.grib"
    with pytest.raises(
        InvalidInputError, match=r"era5-levels-corrupted.grib: corrupt GRIB message"
    ):
        check_grib(path)
    with pytest.raises(InvalidInputError, match="era5-levels-corrupted.grib"):
        convert.open_cds_file(path)


def test_garbage_and_empty_files_are_refused(tmp_path):
    junk = tmp_path / "junk.nc"
    junk.write_bytes(b"<html>503 Service Unavailable</html>")
    with pytest.raises(InvalidInputError, match="junk.nc: neither NetCDF"):
        convert.open_cds_file(junk)
    half = tmp_path / "half.nc"
    half.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)
    with pytest.raises(InvalidInputError, match="half.nc: not a readable NetCDF"):
        convert.open_cds_file(half)


def _cds_file(tmp_path: Path, dataset: str, names, times, **kw) -> Path:
    variables = [lexicon.lookup(n) for n in names]
    ds = cds_format.cds_dataset(
        dataset,
        variables,
        times,
        levels=kw.get("levels", [500, 850]),
        grid=kw.get("grid", 10.0),
        area=kw.get("area"),
        seed=0,
        expver=["0005"] * len(times),
    )
    path = tmp_path / f"{dataset}-{len(list(tmp_path.iterdir()))}.nc"
    path.write_bytes(cds_format.to_netcdf_bytes(ds))
    return path


def test_cds_netcdf_converts_to_the_model_layout(tmp_path):
    times = [DAY, DAY + dt.timedelta(hours=6)]
    path = _cds_file(
        tmp_path, lexicon.PRESSURE_LEVELS_DATASET, ["temperature", "geopotential"], times
    )
    with xr.open_dataset(path) as raw:  # what the CDS writes
        assert raw["latitude"].values[0] == 90 and "valid_time" in raw.dims
        assert raw["pressure_level"].values.tolist() == [850.0, 500.0]
    ds = convert.open_cds_file(path)
    truth = synthetic_era5(times, grid_deg=10.0, levels=(850, 500))
    for name in ("temperature", "geopotential"):
        xr.testing.assert_equal(ds[name], truth[name].drop_attrs().assign_attrs(ds[name].attrs))
    assert ds["time"].values.tolist() == truth["time"].values.tolist()


def test_surface_geopotential_is_not_confused_with_pressure_level_geopotential(tmp_path):
    path = _cds_file(
        tmp_path,
        lexicon.SINGLE_LEVELS_DATASET,
        ["geopotential_at_surface", "land_sea_mask"],
        [dt.datetime(2000, 1, 1)],
    )
    ds = convert.open_cds_file(path)
    assert set(ds.data_vars) == {"geopotential_at_surface", "land_sea_mask"}
    assert ds["land_sea_mask"].dims == ("lat", "lon")  # statics lose the time axis


def test_a_minus180_to_180_area_wraps_without_a_duplicate_meridian(tmp_path):
    path = _cds_file(
        tmp_path,
        lexicon.SINGLE_LEVELS_DATASET,
        ["2m_temperature"],
        [DAY],
        area=[90, -180, -90, 180],
    )
    with xr.open_dataset(path) as raw:
        assert raw.sizes["longitude"] == 37  # −180 and 180 both present, as the CDS sends
    ds = convert.open_cds_file(path)
    assert ds["lon"].values.tolist() == [float(x) for x in range(0, 360, 10)]
    truth = synthetic_era5([DAY], grid_deg=10.0, variables=["2m_temperature"])
    np.testing.assert_array_equal(ds["2m_temperature"].values, truth["2m_temperature"].values)


def test_a_zip_of_step_types_is_merged(tmp_path):
    parsed = cds_format.parse_request(
        lexicon.SINGLE_LEVELS_DATASET,
        {
            "variable": ["2m_temperature", "total_precipitation"],
            "year": ["2026"],
            "month": ["11"],
            "day": ["15"],
            "time": ["06:00"],
            "grid": ["10", "10"],
            "data_format": "netcdf",
        },
    )
    content, name, _ = cds_format.build_result(
        lexicon.SINGLE_LEVELS_DATASET, parsed, seed=0, era5t_after=DAY
    )
    assert name == "data.zip"
    path = tmp_path / name
    path.write_bytes(content)
    assert len(zipfile.ZipFile(path).namelist()) == 2
    ds = convert.open_cds_file(path)
    assert set(ds.data_vars) == {"2m_temperature", "total_precipitation"}


def test_six_hour_precipitation_is_the_sum_of_the_hours_ending_at_each_frame(tmp_path):
    frames = [DAY + dt.timedelta(hours=18), DAY + dt.timedelta(days=1)]
    hours = [frames[1] - dt.timedelta(hours=k) for k in range(11, -1, -1)]
    hourly = synthetic_era5(
        hours, grid_deg=10.0, variables=["total_precipitation"], precipitation_hours=1
    )
    tp6 = convert.accumulate_precipitation(hourly["total_precipitation"], frames)
    truth = synthetic_era5(frames, grid_deg=10.0, variables=["total_precipitation_6hr"])
    np.testing.assert_allclose(
        tp6.values, truth["total_precipitation_6hr"].values, rtol=1e-5, atol=1e-9
    )
    assert float(truth["total_precipitation_6hr"].max()) > 1e-4  # it does rain somewhere

    with pytest.raises(InvalidInputError, match=r"missing at 2026-11-15T13"):
        convert.accumulate_precipitation(
            hourly["total_precipitation"].isel(time=slice(1, None)), frames
        )


def test_missing_variables_times_and_levels_are_named(tmp_path):
    times = [DAY, DAY + dt.timedelta(hours=6)]
    fields = convert.load_files(
        [_cds_file(tmp_path, lexicon.PRESSURE_LEVELS_DATASET, ["temperature"], times)]
    )
    with pytest.raises(InvalidInputError, match="geopotential missing"):
        convert.assemble_frames(fields, times, levels=[500], variables=["geopotential"])
    with pytest.raises(InvalidInputError, match="temperature missing at 2026-11-15T12"):
        convert.assemble_frames(
            fields, [DAY + dt.timedelta(hours=12)], levels=[500], variables=["temperature"]
        )
    with pytest.raises(InvalidInputError, match=r"lacks pressure levels \[1000\]"):
        convert.assemble_frames(
            fields, times, levels=[500, 1000], variables=["temperature"], statics=False
        )
    ds = convert.assemble_frames(
        fields, times, levels=[850, 500], variables=["temperature"], statics=False
    )
    assert ds["level"].values.tolist() == [850, 500]  # the task's order


def test_files_on_different_grids_are_refused(tmp_path):
    a = _cds_file(tmp_path, lexicon.SINGLE_LEVELS_DATASET, ["2m_temperature"], [DAY])
    b = _cds_file(
        tmp_path,
        lexicon.SINGLE_LEVELS_DATASET,
        ["mean_sea_level_pressure"],
        [DAY],
        grid=5.0,
    )
    fields = convert.load_files([a, b])
    with pytest.raises(InvalidInputError, match="different grids"):
        convert.assemble_frames(
            fields,
            [DAY],
            levels=[],
            variables=["2m_temperature", "mean_sea_level_pressure"],
            statics=False,
        )


def test_grib_accumulations_on_forecast_axes_become_valid_times():
    """cfgrib gives ERA5 accumulations as (time, step) from 06/18 UTC bases; flatten them."""
    base = np.array(["2026-11-15T06", "2026-11-15T18"], dtype="datetime64[ns]")
    step = np.array([1, 2, 12], dtype="timedelta64[h]").astype("timedelta64[ns]")
    values = np.arange(2 * 3 * 2 * 2, dtype=np.float32).reshape(2, 3, 2, 2)
    raw = xr.Dataset(
        {"tp": (("time", "step", "latitude", "longitude"), values)},
        coords={
            "time": base,
            "step": step,
            "valid_time": (("time", "step"), base[:, None] + step[None, :]),
            "latitude": [10.0, 0.0],
            "longitude": [0.0, 10.0],
            "number": 0,
            "surface": 0.0,
        },
    )
    ds = convert.to_model_layout(raw)
    times = ds["time"].values.astype("datetime64[h]").astype(str).tolist()
    assert times == [
        "2026-11-15T07",
        "2026-11-15T08",
        "2026-11-15T18",
        "2026-11-15T19",
        "2026-11-15T20",
        "2026-11-16T06",
    ]
    assert ds["total_precipitation"].dims == ("time", "lat", "lon")
    # 2026-11-15T19 is base 18 UTC + 1 h: values[1, 0], flipped to ascending latitude.
    np.testing.assert_array_equal(ds["total_precipitation"].values[3], values[1, 0][::-1])


def test_an_expver_axis_spanning_era5_and_era5t_is_merged():
    values = np.array([[[1.0]], [[np.nan]]], dtype=np.float32)  # time 0 in ERA5
    era5t = np.array([[[np.nan]], [[2.0]]], dtype=np.float32)  # time 1 in ERA5T
    raw = xr.Dataset(
        {"t2m": (("expver", "valid_time", "latitude", "longitude"), np.stack([values, era5t]))},
        coords={
            "expver": ["0001", "0005"],
            "valid_time": np.array(["2026-11-15T00", "2026-11-15T06"], dtype="datetime64[ns]"),
            "latitude": [0.0],
            "longitude": [0.0],
        },
    )
    ds = convert.to_model_layout(raw)
    assert ds["2m_temperature"].values.ravel().tolist() == [1.0, 2.0]
