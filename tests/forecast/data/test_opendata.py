"""IFS open data through the real `ecmwf-opendata` client against the local open-data server."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
import xarray as xr

from forecast import variables as V
from forecast.data import opendata
from forecast.data.synthetic import synthetic_era5
from forecast.errors import DataUnavailableError, InvalidInputError
from tests.devtools.opendata_fixtures import NEWEST, NOW

pytestmark = pytest.mark.network

GRID = 4.0  # the checkpoint grid: the published 2° grid nests in it (exact subsampling)
# 16-bit packing of the published values: the error bound per field (range / 2¹⁶, with margin).
TOLERANCE = {
    "2m_temperature": 0.01, "mean_sea_level_pressure": 1.0, "10m_u_component_of_wind": 0.005,
    "10m_v_component_of_wind": 0.005, "temperature": 0.01, "geopotential": 5.0,
    "u_component_of_wind": 0.005, "v_component_of_wind": 0.005, "vertical_velocity": 5e-5,
    "specific_humidity": 1e-6, "toa_incident_solar_radiation": 0.0,
    "geopotential_at_surface": 5.0, "land_sea_mask": 1e-4,
}  # fmt: skip


def _fetch(client, tmp_path, init=NEWEST, **kwargs) -> xr.Dataset:
    return opendata.acquire_opendata_inputs(
        init, grid_deg=kwargs.pop("grid_deg", GRID), cache_dir=tmp_path / "od", client=client,
        **kwargs,
    )  # fmt: skip


def test_both_frames_have_the_right_variables_units_orientation_and_values(
    opendata_client, tmp_path
):
    ds = _fetch(opendata_client(), tmp_path)
    assert list(ds["time"].values) == [
        np.datetime64(NEWEST - dt.timedelta(hours=6), "ns"),
        np.datetime64(NEWEST, "ns"),
    ]
    assert set(ds.data_vars) == set(opendata.INPUT_VARIABLES) | set(V.STATIC_VARS)
    assert "total_precipitation_6hr" not in ds
    assert ds["level"].values.tolist() == list(V.PRESSURE_LEVELS_13)
    # Model layout: latitudes ascending −90…90, longitudes 0…360 − Δ.
    assert ds["lat"].values[0] == -90 and ds["lat"].values[-1] == 90
    assert np.all(np.diff(ds["lat"].values) > 0)
    assert ds["lon"].values[0] == 0 and ds["lon"].values[-1] == 360 - GRID
    for name in ds.data_vars:
        assert ds[name].attrs["units"] == V.UNITS[name], name
    # The values are the synthetic world's at each frame (through GRIB2 16-bit packing),
    # geopotential made from `gh` × g₀; TOA radiation derived exactly as for ERA5.
    truth = synthetic_era5(
        ds["time"].values, grid_deg=GRID, variables=[*opendata.INPUT_VARIABLES, *V.STATIC_VARS]
    )
    for name in ds.data_vars:
        error = float(np.abs(ds[name] - truth[name]).max())
        assert error <= TOLERANCE[name], (name, error)
    assert ds.attrs["source"] == "ifs-opendata"
    assert ds.attrs["synthetic"] == 1  # the local server marks its fields as test products
    assert ds.attrs["statics_source"] == "opendata"
    assert ds.attrs["pressure_geopotential"] == "gh"
    assert ds.attrs["regrid"] == "subsample"


def test_z_on_pressure_levels_is_preferred_where_published(
    local_opendata, opendata_client, tmp_path
):
    local_opendata.pressure_geopotential = "z"
    ds = _fetch(opendata_client(), tmp_path)
    assert ds.attrs["pressure_geopotential"] == "z"
    truth = synthetic_era5(ds["time"].values, grid_deg=GRID, variables=["geopotential"])
    assert float(np.abs(ds["geopotential"] - truth["geopotential"]).max()) <= 5.0


def test_a_second_identical_fetch_makes_no_request(local_opendata, opendata_client, tmp_path):
    _fetch(opendata_client(), tmp_path)
    assert local_opendata.counts["data"] == 4  # 2 cycles × (pressure levels, surface)
    local_opendata.reset_counts()
    again = _fetch(opendata_client(), tmp_path)
    assert local_opendata.counts["total"] == 0
    assert again.sizes["time"] == 2


def test_latest_is_the_newest_cycle_whose_fields_all_exist(local_opendata, opendata_client):
    client = opendata_client()
    assert opendata.latest_cycle(client, now=NOW) == NEWEST
    # The 06 UTC cycle lacks a field (still being written, say): 00 UTC is the newest complete.
    local_opendata.faults.withheld[NEWEST] = {"w"}
    assert opendata.latest_cycle(client, now=NOW) == NEWEST - dt.timedelta(hours=6)
    # The T − 6 h input cycle must be complete too.
    local_opendata.faults.withheld = {NEWEST - dt.timedelta(hours=6): {"2t"}}
    assert opendata.latest_cycle(client, now=NOW) == NEWEST - dt.timedelta(hours=12)


def test_an_unpublished_cycle_is_transient_and_names_it(opendata_client, tmp_path):
    later = NEWEST + dt.timedelta(hours=6)
    with pytest.raises(DataUnavailableError, match=r"2026-11-30T12Z is not published"):
        _fetch(opendata_client(), tmp_path, init=later)


def test_a_missing_parameter_is_permanent_and_named(local_opendata, opendata_client, tmp_path):
    local_opendata.faults.withheld[NEWEST] = {"q"}
    with pytest.raises(InvalidInputError, match=r"2026-11-30T06Z lacks q \(specific_humidity\)"):
        _fetch(opendata_client(), tmp_path)
    assert not list((tmp_path / "od").rglob("*2026-11-30T06*.grib"))  # nothing of 06Z cached


def test_a_truncated_download_is_retried(local_opendata, opendata_client, tmp_path):
    local_opendata.faults.truncate = 1
    ds = _fetch(opendata_client(), tmp_path)
    assert local_opendata.faults.truncate == 0 and local_opendata.counts["data"] == 5
    assert ds.sizes["time"] == 2


def test_downloads_that_keep_breaking_end_transient(local_opendata, opendata_client, tmp_path):
    local_opendata.faults.truncate = 100
    with pytest.raises(DataUnavailableError, match=r"failed 3 times"):
        _fetch(opendata_client(), tmp_path)
    assert not list((tmp_path / "od").rglob("*.grib"))


def test_a_corrupt_grib_is_a_clear_error_and_not_cached(local_opendata, opendata_client, tmp_path):
    local_opendata.faults.corrupt = 1
    with pytest.raises(InvalidInputError, match=r"corrupt GRIB message"):
        _fetch(opendata_client(), tmp_path)
    assert not list((tmp_path / "od").rglob("*.grib"))
    # The server's next answer is sound: fetching again succeeds.
    assert _fetch(opendata_client(), tmp_path).sizes["time"] == 2


def test_statics_come_from_era5_when_the_cycle_lacks_them(
    local_opendata, opendata_client, make_client, tmp_path
):
    from forecast.data.acquire import fetch_fields
    from forecast.data.requests import plan_statics

    local_opendata.statics = False

    def era5_statics(grid_deg: float) -> xr.Dataset:
        fields = fetch_fields(
            [plan_statics(grid_deg=grid_deg)], cache_dir=tmp_path / "era5", client=make_client()
        )
        return xr.Dataset({name: fields[name] for name in V.STATIC_VARS})

    ds = _fetch(opendata_client(), tmp_path, era5_statics=era5_statics)
    assert ds.attrs["statics_source"] == "era5"
    truth = synthetic_era5(ds["time"].values[:1], grid_deg=GRID, variables=list(V.STATIC_VARS))
    assert float(np.abs(ds["land_sea_mask"] - truth["land_sea_mask"]).max()) < 1e-3
    with pytest.raises(InvalidInputError, match="no ERA5 fallback"):
        _fetch(opendata_client(), tmp_path / "again")


def test_a_grid_that_does_not_nest_is_interpolated(opendata_client, tmp_path):
    ds = _fetch(opendata_client(), tmp_path, grid_deg=5.0)  # 2° does not nest in 5°
    assert ds.attrs["regrid"] == "linear"
    assert ds.sizes["lat"] == 37 and ds.sizes["lon"] == 72
    truth = synthetic_era5(ds["time"].values, grid_deg=5.0, variables=["2m_temperature"])
    error = np.abs(ds["2m_temperature"] - truth["2m_temperature"])
    assert float(error.mean()) < 1.0 and not bool(error.isnull().any())


def test_the_analysis_at_valid_times_is_tier_one_truth(opendata_client, tmp_path):
    times = [NEWEST - dt.timedelta(hours=12), NEWEST]
    ds = opendata.acquire_opendata_analysis(
        times, grid_deg=GRID, cache_dir=tmp_path / "od", client=opendata_client()
    )
    assert set(ds.data_vars) == set(opendata.TRUTH_VARIABLES)
    assert ds.sizes["time"] == 2 and ds.attrs["source"] == "ifs-opendata-analysis"


def test_levels_the_open_data_lack_are_refused(opendata_client, tmp_path):
    with pytest.raises(InvalidInputError, match=r"\[875, 975\] hPa are not among them"):
        _fetch(opendata_client(), tmp_path, levels=(500, 875, 975))


def test_tier_one_truth_is_available_up_to_the_newest_complete_analysis(
    local_opendata, opendata_client
):
    client = opendata_client()
    assert opendata.analysis_available_until(client, now=NOW) == NEWEST
    local_opendata.faults.unpublished = {NEWEST}
    assert opendata.analysis_available_until(client, now=NOW) == NEWEST - dt.timedelta(hours=6)


def test_the_source_follows_the_checkpoint_task():
    from forecast.model.config import TASK_13, TASK_13_PRECIP_OUT

    assert opendata.default_source_for_task(TASK_13_PRECIP_OUT) == "opendata"
    assert opendata.default_source_for_task(TASK_13) == "cds"


def test_acquire_truth_writes_the_analysis_through_the_same_entry_point(opendata_client, tmp_path):
    from forecast.data.acquire import acquire_truth

    out = acquire_truth(
        [NEWEST], grid_deg=GRID, cache_dir=tmp_path / "od", output=tmp_path / "truth.nc",
        source="opendata", opendata_client=opendata_client(),
    )  # fmt: skip
    truth = xr.load_dataset(out)
    assert truth.attrs["source"] == "ifs-opendata-analysis" and truth.sizes["time"] == 1


def test_guardrails_pass_for_the_operational_task_and_name_precipitation_for_era5s(
    opendata_client, tmp_path
):
    from forecast.data import guardrails
    from forecast.data.layout import to_example_batch
    from forecast.model.config import TASK_13, TASK_13_PRECIP_OUT

    batch = to_example_batch(_fetch(opendata_client(), tmp_path))
    stats = "stats/demo"  # the statistics of the synthetic world behind the local server
    report = guardrails.check_task_inputs(batch, TASK_13_PRECIP_OUT, grid_deg=GRID, stats=stats)
    assert report.magnitudes_checked and not report.problems
    with pytest.raises(InvalidInputError, match="total_precipitation_6hr"):
        guardrails.check_task_inputs(batch, TASK_13, grid_deg=GRID, stats=stats)
