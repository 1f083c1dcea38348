"""`forecast fetch --source opendata` against the local open-data server (`GCF_OPENDATA_URL`)."""

from __future__ import annotations

import pytest
import xarray as xr

from forecast.cli import main

pytestmark = pytest.mark.network


@pytest.fixture
def opendata_env(local_opendata, monkeypatch, tmp_path):
    monkeypatch.setenv("GCF_OPENDATA_URL", local_opendata.url)
    monkeypatch.setenv("GCF_VAR_DIR", str(tmp_path / "var"))
    return local_opendata


def test_latest_writes_the_same_example_batch_layout_as_era5(opendata_env, tmp_path, capsys):
    opendata_env.now = None  # the command asks "what is newest now": both use the real clock
    newest = opendata_env.latest_published()
    out = tmp_path / "inputs.nc"
    argv = ["fetch", "--source", "opendata", "--latest", "--grid", "4", "--levels", "13"]
    assert main([*argv, "--output", str(out), "--quiet"]) == 0
    err = capsys.readouterr().err
    if newest != opendata_env.latest_published():  # a cycle appeared meanwhile
        pytest.skip("the newest cycle changed during the test")
    assert f"latest available init time: {newest:%Y-%m-%dT%H}:00Z" in err
    batch = xr.load_dataset(out)
    assert batch.sizes["batch"] == 1 and batch.sizes["time"] == 2 and batch.sizes["level"] == 13
    assert "datetime" in batch.coords and batch["geopotential"].dims[:2] == ("batch", "time")
    assert batch.attrs["source"] == "ifs-opendata"
    assert batch.attrs["init_time"] == newest.isoformat()
    # The open-data cache sits beside the ERA5 one under GCF_VAR_DIR.
    assert list((tmp_path / "var" / "cache" / "opendata").rglob("*.grib"))


def test_an_unpublished_cycle_is_one_clear_line(opendata_env, tmp_path, capsys):
    argv = ["fetch", "--source", "opendata", "--init-time", "2026-11-30T18", "--grid", "4"]
    assert main([*argv, "--output", str(tmp_path / "x.nc"), "--quiet"]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    # Its T − 6 h cycle is checked first: 12 UTC is not out yet either (server clock 15 UTC).
    assert err[-1].startswith("forecast fetch: error: open data: cycle 2026-11-30T12Z is not ")
    assert not (tmp_path / "x.nc").exists()
