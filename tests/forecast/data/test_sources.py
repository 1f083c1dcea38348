"""ERA5 archives as a data source: WB2/ARCO Zarr and many-file NetCDF, read lazily."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from forecast.cli import main
from forecast.data.requests import TRUTH_VARIABLES
from forecast.data.sources import frames_from_archive, open_era5_archive, truth_from_archive
from forecast.data.synthetic import synthetic_era5
from forecast.errors import InvalidInputError
from forecast.variables import PRESSURE_LEVELS_13

INIT = pd.Timestamp("2026-11-16T00")
LEVELS = PRESSURE_LEVELS_13


@pytest.fixture(scope="module")
def hourly_world() -> xr.Dataset:
    hours = pd.date_range(INIT - pd.Timedelta(hours=11), INIT, freq="h")
    return synthetic_era5(hours.to_numpy(), grid_deg=10.0, levels=LEVELS, precipitation_hours=1)


@pytest.fixture(scope="module")
def arco(hourly_world, tmp_path_factory) -> Path:
    """As ARCO-ERA5 stores it: `latitude` descending, `longitude`, statics along time."""
    path = tmp_path_factory.mktemp("arco") / "era5.zarr"
    statics = ["geopotential_at_surface", "land_sea_mask"]
    world = hourly_world.assign(
        {n: hourly_world[n].expand_dims(time=hourly_world["time"]) for n in statics}
    )
    world = world.rename(lat="latitude", lon="longitude").sortby("latitude", ascending=False)
    world.chunk({"time": 1}).to_zarr(path, consolidated=True, zarr_format=2)
    return path


def test_zarr_archive_opens_lazily_in_the_model_layout(arco):
    archive = open_era5_archive(arco)
    assert archive["temperature"].dims == ("time", "level", "lat", "lon")
    assert archive["temperature"].chunks is not None  # nothing read yet
    assert float(archive["lat"][0]) == -90.0


def test_frames_sum_hourly_precipitation_and_drop_the_statics_time_axis(arco):
    frames = [INIT - pd.Timedelta(hours=6), INIT]
    ds = frames_from_archive(
        open_era5_archive(arco), frames, levels=LEVELS, variables=["total_precipitation_6hr"]
    )
    want = synthetic_era5(np.array(frames, dtype="datetime64[ns]"), grid_deg=10.0, levels=LEVELS)
    np.testing.assert_allclose(
        ds["total_precipitation_6hr"], want["total_precipitation_6hr"], rtol=1e-5, atol=1e-9
    )
    assert ds["land_sea_mask"].dims == ("lat", "lon")
    xr.testing.assert_equal(ds["land_sea_mask"], want["land_sea_mask"])


def test_truth_from_a_many_file_netcdf_archive(hourly_world, tmp_path):
    for i in range(0, 12, 4):  # three files of four hours, opened as one by glob
        hourly_world.isel(time=slice(i, i + 4)).to_netcdf(tmp_path / f"era5-{i:02d}.nc")
    archive = open_era5_archive(str(tmp_path / "era5-*.nc"))
    truth = truth_from_archive(archive, [INIT], levels=LEVELS)
    assert set(truth.data_vars) == set(TRUTH_VARIABLES)
    xr.testing.assert_equal(truth["temperature"], hourly_world["temperature"].sel(time=[INIT]))


def test_missing_time_and_archive_are_named(arco, tmp_path):
    with pytest.raises(InvalidInputError, match="no data at 2026-11-17T00"):
        truth_from_archive(open_era5_archive(arco), [INIT + pd.Timedelta(days=1)], levels=LEVELS)
    with pytest.raises(InvalidInputError, match="not found"):
        open_era5_archive(tmp_path / "nothing.zarr")


def test_fetch_from_an_archive_writes_the_example_batch(arco, tmp_path, capsys):
    out = tmp_path / "inputs.nc"
    argv = ["fetch", "--init-time", "2026-11-16T00", "--archive", str(arco), "--levels", "13"]
    assert main([*argv, "--output", str(out)]) == 0
    batch = xr.load_dataset(out)
    assert batch.sizes["batch"] == 1 and batch.sizes["time"] == 2 and batch.sizes["level"] == 13
    want = synthetic_era5([INIT - pd.Timedelta(hours=6), INIT], grid_deg=10.0)
    np.testing.assert_array_equal(batch["temperature"].values[0], want["temperature"].values)
    assert main([*argv[:-1], "37", "--output", str(out)]) == 1  # 37 levels: the archive has 13
    assert "lacks pressure levels" in capsys.readouterr().err
    assert main(["fetch", "--latest", "--archive", str(arco), "--output", str(out)]) == 2
