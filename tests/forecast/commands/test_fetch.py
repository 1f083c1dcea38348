"""`forecast fetch` against the local CDS (real cdsapi client, configured by environment)."""

from __future__ import annotations

import pytest
import xarray as xr

from forecast.cli import main
from tests.devtools.fixtures import local_cds, local_cds_server  # noqa: F401


@pytest.fixture
def cds_env(local_cds, monkeypatch):  # noqa: F811
    monkeypatch.setenv("CDSAPI_URL", local_cds.url)
    monkeypatch.setenv("CDSAPI_KEY", local_cds.key)
    return local_cds


@pytest.mark.network
def test_fetch_writes_an_example_batch_and_shows_progress(cds_env, tmp_path, capsys):
    out = tmp_path / "inputs.nc"
    argv = ["fetch", "--init-time", "2026-11-16T00", "--grid", "10", "--levels", "13"]
    assert main([*argv, "--output", str(out), "--cache", str(tmp_path / "cache")]) == 0
    err = capsys.readouterr().err
    assert "submitted" in err and "downloaded" in err and "wrote" in err
    batch = xr.load_dataset(out)
    assert batch.sizes["batch"] == 1 and batch.sizes["time"] == 2 and batch.sizes["level"] == 13
    assert batch.attrs["source"] == "era5"


@pytest.mark.network
def test_fetch_latest_picks_the_newest_available_init_time(cds_env, tmp_path, capsys):
    out = tmp_path / "inputs.nc"
    argv = ["fetch", "--latest", "--grid", "10", "--levels", "13", "--quiet"]
    assert main([*argv, "--output", str(out), "--cache", str(tmp_path / "cache")]) == 0
    assert "latest available init time: 2026-11-16T12:00Z" in capsys.readouterr().err
    assert xr.load_dataset(out).attrs["init_time"] == "2026-11-16T12:00:00"


@pytest.mark.network
def test_a_bad_key_is_one_clear_line_and_exit_code_1(cds_env, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("CDSAPI_KEY", "wrong-key")
    argv = ["fetch", "--init-time", "2026-11-16T00", "--grid", "10", "--quiet"]
    assert main([*argv, "--output", str(tmp_path / "x.nc"), "--cache", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("forecast fetch: error: CDS answered HTTP 401")
    assert not (tmp_path / "x.nc").exists()


def test_synthetic_source_needs_no_cds(monkeypatch, tmp_path):
    monkeypatch.delenv("CDSAPI_URL", raising=False)
    monkeypatch.setenv("CDSAPI_RC", str(tmp_path / "none"))
    out = tmp_path / "inputs.nc"
    argv = ["fetch", "--init-time", "2026-11-16T00", "--grid", "10", "--levels", "13"]
    assert main([*argv, "--source", "synthetic", "--output", str(out), "--quiet"]) == 0
    assert xr.load_dataset(out).attrs["source"] == "synthetic"


def test_missing_cds_configuration_is_explained(monkeypatch, tmp_path, capsys):
    monkeypatch.delenv("CDSAPI_URL", raising=False)
    monkeypatch.delenv("CDSAPI_KEY", raising=False)
    monkeypatch.setenv("CDSAPI_RC", str(tmp_path / "none"))
    argv = ["fetch", "--init-time", "2026-11-16T00", "--output", str(tmp_path / "x.nc")]
    assert main(argv) == 1
    assert "CDS not configured" in capsys.readouterr().err
