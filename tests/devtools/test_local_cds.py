"""The local CDS speaks the current CDS protocol, binds 127.0.0.1 and misbehaves on demand."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from devtools.local_cds import LocalCds

pytestmark = pytest.mark.network

REPO = Path(__file__).resolve().parents[2]


def _submit(server: LocalCds, inputs: dict, key: str | None = None) -> requests.Response:
    return requests.post(
        f"{server.url}/retrieve/v1/processes/reanalysis-era5-single-levels/execution",
        json={"inputs": inputs},
        headers={"PRIVATE-TOKEN": key or server.key},
        timeout=10,
    )


INPUTS = {
    "product_type": ["reanalysis"],
    "variable": ["2m_temperature"],
    "year": ["2026"],
    "month": ["11"],
    "day": ["15"],
    "time": ["00:00"],
    "grid": ["10", "10"],
    "data_format": "netcdf",
}


def _wait(server: LocalCds, monitor: str) -> dict:
    for _ in range(200):
        job = requests.get(monitor, headers={"PRIVATE-TOKEN": server.key}, timeout=10).json()
        if job["status"] not in ("accepted", "running"):
            return job
        time.sleep(0.02)
    raise AssertionError("job did not finish")


def test_binds_loopback_only(local_cds):
    assert local_cds._httpd.server_address[0] == "127.0.0.1"
    assert local_cds.url.startswith("http://127.0.0.1:")


def test_job_lifecycle_results_and_ranged_download(local_cds):
    reply = _submit(local_cds, INPUTS)
    assert reply.status_code == 201
    monitor = next(link["href"] for link in reply.json()["links"] if link["rel"] == "monitor")
    job = _wait(local_cds, monitor)
    assert job["status"] == "successful"
    assert any("completed" in line for _, line in job["metadata"]["log"])
    asset = requests.get(
        f"{monitor}/results", headers={"PRIVATE-TOKEN": local_cds.key}, timeout=10
    ).json()["asset"]["value"]
    assert asset["type"] == "application/netcdf"
    whole = requests.get(asset["href"], timeout=10)  # object store: no token needed
    assert whole.headers["Accept-Ranges"] == "bytes" and len(whole.content) == asset["file:size"]
    tail = requests.get(asset["href"], headers={"Range": "bytes=100-"}, timeout=10)
    assert tail.status_code == 206 and tail.content == whole.content[100:]
    stale = requests.get(
        asset["href"], headers={"Range": "bytes=100-", "If-Range": '"other"'}, timeout=10
    )
    assert stale.status_code == 200 and stale.content == whole.content


def test_auth_errors_and_unknown_datasets(local_cds):
    assert _submit(local_cds, INPUTS, key="wrong").status_code == 401
    # The catalogue is public, as on the CDS.
    assert requests.get(f"{local_cds.url}/catalogue/v1/messages", timeout=10).status_code == 200
    missing = requests.get(
        f"{local_cds.url}/retrieve/v1/processes/reanalysis-era5-land",
        headers={"PRIVATE-TOKEN": local_cds.key},
        timeout=10,
    )
    assert missing.status_code == 404


def test_a_mixed_step_type_request_returns_a_zip(local_cds):
    reply = _submit(local_cds, INPUTS | {"variable": ["2m_temperature", "total_precipitation"]})
    monitor = reply.json()["links"][0]["href"]
    assert _wait(local_cds, monitor)["status"] == "successful"
    asset = requests.get(
        f"{monitor}/results", headers={"PRIVATE-TOKEN": local_cds.key}, timeout=10
    ).json()["asset"]["value"]
    assert asset["type"] == "application/zip"


def test_faults_503_then_recovery(local_cds):
    local_cds.faults.unavailable = 1
    assert requests.get(f"{local_cds.url}/catalogue/v1/messages", timeout=10).status_code == 503
    assert requests.get(f"{local_cds.url}/catalogue/v1/messages", timeout=10).status_code == 200


@pytest.mark.slow
def test_offline_demo_server_and_fetch_as_processes(tmp_path):
    """`python -m devtools.local_cds` + `python -m forecast fetch --latest`, with faults."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "devtools.local_cds", "--port", "0"]
        + ["--available-until", "2026-11-16T12:00", "--unavailable", "2", "--truncate", "1"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        assert line.startswith("local CDS listening on http://127.0.0.1:")
        url = line.split()[-1]
        key = proc.stdout.readline().split("CDSAPI_KEY=")[1].strip()
        env = dict(os.environ, CDSAPI_URL=url, CDSAPI_KEY=key, PYTHONPATH=str(REPO))
        out = tmp_path / "inputs.nc"
        fetch = subprocess.run(
            [sys.executable, "-m", "forecast", "fetch", "--latest", "--grid", "10"]
            + ["--levels", "13", "--output", str(out), "--cache", str(tmp_path / "cache")],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert fetch.returncode == 0, fetch.stderr
        assert "latest available init time: 2026-11-16T12:00Z" in fetch.stderr
        assert "downloading" in fetch.stderr and "wrote" in fetch.stderr
        assert out.is_file()
    finally:
        proc.terminate()
        proc.wait(10)
