"""Forecast files: NetCDF (CF-1.11), Zarr and GRIB2 round trips, metadata, errors."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import netCDF4
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from forecast.data.synthetic import synthetic_era5
from forecast.errors import InvalidInputError
from forecast.io import open_forecast, write_forecast
from forecast.io.atomic import leftover_temporaries
from forecast.predictor import PersistencePredictor

INIT = pd.Timestamp("2026-11-16T00:00")


@pytest.fixture(scope="module")
def forecast() -> xr.Dataset:
    """A 3-lead forecast in the forecast layout on a 4° grid, 13 levels, every target variable."""
    inputs = synthetic_era5(
        pd.date_range(INIT - pd.Timedelta(hours=6), INIT, freq="6h"), grid_deg=4.0
    )
    result = PersistencePredictor().forecast(inputs, steps=3)
    # Persistence repeats the init state; make the leads differ so lead order is checked.
    return result + xr.DataArray(np.arange(3, dtype=np.float32), dims="time") * 1e-3 * result


@pytest.mark.parametrize("suffix", [".nc", ".zarr"])
def test_netcdf_and_zarr_round_trip_exactly(forecast, tmp_path, suffix):
    path = write_forecast(forecast, tmp_path / f"forecast{suffix}")
    back = open_forecast(path)
    xr.testing.assert_identical(back.load(), forecast)
    assert back.attrs["init_time"] == "2026-11-16T00:00:00"
    assert leftover_temporaries(tmp_path) == []


def test_grib2_round_trips_within_packing_precision(forecast, tmp_path):
    path = write_forecast(forecast, tmp_path / "forecast.grib2")
    back = open_forecast(path)
    assert set(back.data_vars) == set(forecast.data_vars)
    np.testing.assert_array_equal(back["time"].values, forecast["time"].values)
    np.testing.assert_array_equal(back["lead_time"].values, forecast["lead_time"].values)
    np.testing.assert_array_equal(back["level"].values, forecast["level"].values)
    np.testing.assert_array_equal(back["lat"].values, forecast["lat"].values)
    np.testing.assert_array_equal(back["lon"].values, forecast["lon"].values)
    for name, field in forecast.data_vars.items():
        assert back[name].dims == field.dims
        # 16-bit simple packing of each (lead, level) field: error ≤ half a quantum of its range.
        reduce = [d for d in ("lat", "lon") if d in field.dims]
        span = (field.max(reduce) - field.min(reduce)).astype(np.float64)
        error = abs(back[name].astype(np.float64) - field).max(reduce)
        assert bool((error <= span / 2**16 + 1e-6 * abs(field).max(reduce)).all()), name


def test_grib2_keys_follow_ecmwf_conventions(forecast, tmp_path):
    import eccodes

    path = write_forecast(forecast, tmp_path / "forecast.grib2")
    seen = {}
    with open(path, "rb") as handle:
        while (message := eccodes.codes_grib_new_from_file(handle)) is not None:
            keys = ("shortName", "paramId", "typeOfLevel", "level", "stepRange", "dataDate")
            row = {k: eccodes.codes_get(message, k) for k in keys}
            row["edition"] = eccodes.codes_get(message, "edition")
            eccodes.codes_release(message)
            seen[(row["shortName"], row["typeOfLevel"], row["level"], row["stepRange"])] = row
    levels = forecast.sizes["level"]
    assert len(seen) == 3 * (5 + 6 * levels)
    assert {r["edition"] for r in seen.values()} == {2}
    assert {r["dataDate"] for r in seen.values()} == {20261116}
    assert seen[("2t", "heightAboveGround", 2, "12")]["paramId"] == 167
    assert seen[("10u", "heightAboveGround", 10, "6")]["paramId"] == 165
    assert seen[("msl", "meanSea", 0, "18")]["paramId"] == 151
    assert seen[("tp", "surface", 0, "12-18")]["paramId"] == 228  # the 6 h ending at +18 h
    assert seen[("z", "isobaricInhPa", 500, "6")]["paramId"] == 129
    assert seen[("w", "isobaricInhPa", 850, "6")]["paramId"] == 135


def test_netcdf_carries_cf_metadata_compression_and_lead_chunks(forecast, tmp_path):
    path = write_forecast(forecast, tmp_path / "forecast.nc")
    with netCDF4.Dataset(path) as nc:
        assert nc.Conventions == "CF-1.11"
        assert "init_time" not in nc.ncattrs()
        for axis in ("time", "lat", "lon", "level", "lead_time", "forecast_reference_time"):
            assert "_FillValue" not in nc[axis].ncattrs(), axis
            assert nc[axis].standard_name
        assert [nc[a].axis for a in ("time", "level", "lat", "lon")] == ["T", "Z", "Y", "X"]
        assert nc["lead_time"].standard_name == "forecast_period"
        assert nc["lead_time"].units == "hours"
        np.testing.assert_array_equal(nc["lead_time"][:], [6, 12, 18])
        reference = netCDF4.num2date(
            nc["forecast_reference_time"][:], nc["forecast_reference_time"].units
        )
        assert str(reference) == "2026-11-16 00:00:00"
        t = nc["temperature"]
        assert (t.standard_name, t.units) == ("air_temperature", "K")
        assert "forecast_reference_time" in t.coordinates and "lead_time" in t.coordinates
        assert t.filters()["zlib"] and t.filters()["shuffle"]
        assert t.chunking() == [
            1,
            forecast.sizes["level"],
            forecast.sizes["lat"],
            forecast.sizes["lon"],
        ]
        assert nc["total_precipitation_6hr"].cell_methods.startswith("time: sum")
    assert path.stat().st_size < 0.8 * forecast.nbytes  # compressed


def test_zarr_is_consolidated_chunked_by_lead_and_lazy(forecast, tmp_path):
    path = write_forecast(forecast, tmp_path / "forecast.zarr")
    assert (path / ".zmetadata").is_file()
    raw = xr.open_zarr(path, consolidated=True)
    assert raw["temperature"].encoding["chunks"][0] == 1
    assert raw.attrs["Conventions"] == "CF-1.11"
    back = open_forecast(path)
    assert back["temperature"].chunks is not None  # dask-backed: nothing read yet
    assert back["temperature"].chunks[0] == (1, 1, 1)


def test_rewriting_replaces_a_store_whole(forecast, tmp_path):
    target = tmp_path / "forecast.zarr"
    write_forecast(forecast.isel(time=[0]), target)
    write_forecast(forecast, target)
    assert open_forecast(target).sizes["time"] == 3
    assert leftover_temporaries(tmp_path) == []


def test_unknown_extension_and_missing_file_are_clear(forecast, tmp_path):
    with pytest.raises(InvalidInputError, match=r"forecast\.tiff.*\.nc, \.zarr, \.grib2"):
        write_forecast(forecast, tmp_path / "forecast.tiff")
    with pytest.raises(InvalidInputError, match="not found"):
        open_forecast(tmp_path / "absent.nc")


def test_failed_write_leaves_nothing(forecast, tmp_path):
    bad = forecast.assign(mystery=forecast["2m_temperature"])
    for suffix in (".nc", ".zarr", ".grib2"):
        with pytest.raises(InvalidInputError, match="mystery"):
            write_forecast(bad, tmp_path / f"forecast{suffix}")
    assert list(tmp_path.iterdir()) == []


def test_legacy_netcdf_with_init_time_attribute_opens(forecast, tmp_path):
    legacy = tmp_path / "forecast.nc"
    forecast.to_netcdf(legacy)
    xr.testing.assert_identical(open_forecast(legacy).load(), forecast)


@pytest.mark.skipif(
    shutil.which("compliance-checker", path=str(Path(sys.executable).parent)) is None,
    reason="compliance-checker (test extra) not installed",
)
def test_netcdf_passes_the_ioos_cf_checker(forecast, tmp_path):
    path = write_forecast(forecast, tmp_path / "forecast.nc")
    report = tmp_path / "cf.json"
    checker = Path(sys.executable).parent / "compliance-checker"
    subprocess.run(
        [str(checker), "--test", "cf:1.11", "-f", "json", "-o", str(report), str(path)],
        check=False,
        capture_output=True,
        timeout=300,
    )
    result = json.loads(report.read_text())["cf:1.11"]
    failures = {
        item["name"]: item["msgs"]
        for level in ("high_priorities", "medium_priorities", "low_priorities")
        for item in result[level]
        if item["msgs"]
    }
    # The one accepted finding: ERA5/WeatherBench 2 variable names start with a digit
    # (2m_temperature, 10m_u_component_of_wind); CF 2.3 recommends a letter, NetCDF-4 allows it.
    naming = failures.pop("§2.3 Naming Conventions", [])
    assert all(m.startswith(("variable 2m_", "variable 10m_")) for m in naming), naming
    assert failures == {}
    assert result["high_count"] == 0
