"""acquire_inputs / acquire_truth end to end: local CDS → cache → conversion → guardrails."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import numpy as np
import pytest
import xarray as xr

from forecast.data.acquire import acquire_inputs, acquire_truth, resolve_init_time
from forecast.data.cache import Era5Cache
from forecast.data.convert import open_cds_file
from forecast.data.guardrails import check_task_inputs
from forecast.data.layout import from_example_batch
from forecast.data.requests import plan_inputs
from forecast.errors import DataUnavailableError, InvalidInputError
from forecast.model.config import TASK_13

INIT = dt.datetime(2026, 11, 16, 0)
GRID = 10.0


@pytest.mark.network
def test_fetch_convert_validate_matches_the_world_the_server_serves(
    make_client, local_cds, tmp_path
):
    events = []
    path = acquire_inputs(
        INIT,
        levels=13,
        grid_deg=GRID,
        cache_dir=tmp_path / "cache",
        output=tmp_path / "inputs.nc",
        client=make_client(),
        progress=events.append,
    )
    # One request per dataset, day and step type, plus the statics: 7 for a 00 UTC init.
    assert local_cds.counts["submit"] == 7
    assert {e.stage for e in events} >= {"submitted", "successful", "downloaded"}

    with xr.open_dataset(path) as raw:
        batch = raw.load()
    assert batch.sizes["batch"] == 1 and "datetime" in batch.coords
    assert batch.attrs["source"] == "era5" and batch.attrs["init_time"] == "2026-11-16T00:00:00"
    assert len(json.loads(batch.attrs["era5_requests"])) == 7
    report = check_task_inputs(batch, TASK_13, grid_deg=GRID)
    assert report.ok

    era5 = from_example_batch(batch)
    synthetic = from_example_batch(
        xr.load_dataset(
            acquire_inputs(
                INIT, levels=13, grid_deg=GRID, cache_dir=tmp_path / "cache", source="synthetic"
            )
        )
    )
    assert set(era5.data_vars) == set(synthetic.data_vars)
    assert era5["time"].values.tolist() == synthetic["time"].values.tolist()
    for name in era5.data_vars:
        if name == "total_precipitation_6hr":  # 6 float32 hours summed vs one float64 sum
            np.testing.assert_allclose(era5[name], synthetic[name], rtol=1e-5, atol=1e-9)
        elif name == "toa_incident_solar_radiation":  # the JAX formula rounds per batch (1 ulp)
            np.testing.assert_allclose(era5[name], synthetic[name], rtol=1e-6)
        else:
            np.testing.assert_array_equal(era5[name].values, synthetic[name].values, err_msg=name)


@pytest.mark.network
def test_a_second_acquisition_is_served_from_the_cache(make_client, local_cds, tmp_path):
    kwargs = dict(levels=(500, 850), grid_deg=GRID, cache_dir=tmp_path / "cache")
    acquire_inputs(INIT, output=tmp_path / "a.nc", client=make_client(), **kwargs)
    local_cds.reset_counts()
    acquire_inputs(INIT, output=tmp_path / "b.nc", client=make_client(), **kwargs)
    assert local_cds.counts["total"] == 0
    # The next cycle (12 h later, one day): 3 requests; the statics come from the cache.
    acquire_inputs(
        INIT + dt.timedelta(hours=12), output=tmp_path / "c.nc", client=make_client(), **kwargs
    )
    assert local_cds.counts["submit"] == 3


@pytest.mark.network
def test_a_corrupt_cached_file_is_fetched_again(make_client, local_cds, tmp_path):
    cache_dir = tmp_path / "cache"
    kwargs = dict(levels=(500,), grid_deg=GRID, cache_dir=cache_dir, client=make_client())
    acquire_inputs(INIT, output=tmp_path / "a.nc", **kwargs)
    first = plan_inputs(INIT, levels=(500,), grid_deg=GRID)[0]
    cached = Era5Cache(cache_dir).get(first)
    cached.write_bytes(cached.read_bytes()[:200])  # damaged on disk
    local_cds.reset_counts()
    acquire_inputs(INIT, output=tmp_path / "b.nc", **kwargs)
    assert local_cds.counts["submit"] == 1


@pytest.mark.network
def test_an_init_time_beyond_the_horizon_is_transient(make_client, local_cds, tmp_path):
    with pytest.raises(DataUnavailableError, match="not available|available yet"):
        acquire_inputs(
            local_cds.available_until + dt.timedelta(hours=12),
            levels=(500,),
            grid_deg=GRID,
            cache_dir=tmp_path / "cache",
            client=make_client(),
        )
    # Requests that did complete (the statics) stay cached; nothing half-made is visible.
    for path in (tmp_path / "cache").rglob("*.nc"):
        assert "2026-11-17" not in path.name
        open_cds_file(path)


@pytest.mark.network
def test_truth_comes_through_the_same_cache(make_client, local_cds, tmp_path):
    valid = [INIT + dt.timedelta(hours=6 * k) for k in (1, 2)]
    path = acquire_truth(
        valid,
        levels=(500, 850),
        grid_deg=GRID,
        cache_dir=tmp_path / "cache",
        output=tmp_path / "truth.nc",
        client=make_client(),
    )
    truth = xr.load_dataset(path)
    assert "toa_incident_solar_radiation" not in truth and "land_sea_mask" not in truth
    assert truth["time"].values.tolist() == np.array(valid, "datetime64[ns]").tolist()
    synthetic = xr.load_dataset(
        acquire_truth(
            valid,
            levels=(500, 850),
            grid_deg=GRID,
            cache_dir=tmp_path / "cache",
            output=tmp_path / "synthetic.nc",
            source="synthetic",
        )
    )
    np.testing.assert_array_equal(truth["temperature"].values, synthetic["temperature"].values)


def test_synthetic_init_time_lags_five_days_on_00_or_12_utc():
    assert resolve_init_time("synthetic", now=dt.datetime(2026, 11, 21, 6)) == dt.datetime(
        2026, 11, 16, 0
    )
    assert resolve_init_time("synthetic", now=dt.datetime(2026, 11, 21, 19)) == dt.datetime(
        2026, 11, 16, 12
    )


def test_bad_arguments_are_clear(tmp_path):
    with pytest.raises(InvalidInputError, match="no level set of 12 levels"):
        acquire_inputs(INIT, levels=12, cache_dir=tmp_path, source="synthetic")
    with pytest.raises(InvalidInputError, match="unknown source 'ftp'"):
        acquire_inputs(INIT, levels=13, cache_dir=tmp_path, source="ftp")
    with pytest.raises(InvalidInputError, match="on the hour"):
        acquire_inputs(INIT.replace(minute=30), cache_dir=tmp_path, source="synthetic")


@pytest.mark.network
def test_grib_from_the_cds_converts_like_netcdf(make_client, local_cds, tmp_path):
    kwargs = dict(levels=(500, 850), grid_deg=GRID, cache_dir=tmp_path / "cache")
    grib = from_example_batch(
        xr.load_dataset(
            acquire_inputs(
                INIT, output=tmp_path / "g.nc", client=make_client(), data_format="grib", **kwargs
            )
        )
    )
    assert list((tmp_path / "cache").rglob("*.grib"))
    netcdf = from_example_batch(
        xr.load_dataset(
            acquire_inputs(INIT, output=tmp_path / "n.nc", client=make_client(), **kwargs)
        )
    )
    check_task_inputs(grib, dataclasses.replace(TASK_13, pressure_levels=(500, 850)), grid_deg=GRID)
    for name in netcdf.data_vars:
        spread = float(netcdf[name].max() - netcdf[name].min())
        # 16-bit packing: error below range / 2^16 (two fields summed for precipitation).
        np.testing.assert_allclose(
            grib[name], netcdf[name], atol=6 * spread / 2**16 + 1e-12, err_msg=name
        )


@pytest.mark.network
def test_misses_are_submitted_together_so_queue_waits_overlap(make_client, local_cds, tmp_path):
    local_cds.faults.queue_seconds = 0.5
    acquire_inputs(
        INIT, levels=(500,), grid_deg=GRID, cache_dir=tmp_path / "cache", client=make_client()
    )
    assert local_cds.counts["submit"] == 7
    assert local_cds.counts["peak_active"] >= 3
