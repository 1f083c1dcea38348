"""The daily cycle end to end on real Redis, real Celery workers and a real Prefect flow run.

Also its failure paths: a rollout that raises, a worker killed mid-rollout, invalid inputs.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import matplotlib.image
import pandas as pd
import pytest
import xarray as xr
from django.conf import settings
from django.db import connection

from flows import daily as daily_flow
from flows.daily import daily_forecast
from forecast.data.synthetic import synthetic_era5
from forecast.errors import InvalidInputError
from forecast.io import open_forecast
from forecast.variables import PRESSURE_LEVELS
from webapp.runs import execution
from webapp.runs.models import ForecastRun, Product

pytestmark = [pytest.mark.slow, pytest.mark.network]
Status = ForecastRun.Status
INIT = "2026-11-16T00:00:00"


@pytest.fixture
def predictor(monkeypatch):
    """Sets the predictor spec the next cycle records (the workers load it by that spec)."""

    def use(spec: str) -> None:
        monkeypatch.setattr(settings, "GCF_PREDICTOR", spec)

    use("persistence")
    return use


def _only_run() -> ForecastRun:
    runs = list(ForecastRun.objects.all())
    assert len(runs) == 1, runs
    return runs[0]


def _assert_no_active_runs() -> None:
    active = ForecastRun.objects.filter(status__in=[Status.QUEUED, Status.RUNNING])
    assert not active.exists(), list(active.values("pk", "status", "stage"))


def _wait_for_step(step: int, timeout: float = 120.0) -> ForecastRun:
    """Polls (from another thread) until some run's rollout reached `step`."""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            run = ForecastRun.objects.filter(progress_step__gte=step, stage="rollout").first()
            if run is not None:
                return run
            time.sleep(0.1)
        raise TimeoutError(f"no rollout reached step {step} in {timeout} s")
    finally:
        connection.close()


def test_daily_cycle_publishes_maps_with_lineage(cycle, predictor):
    run_id = daily_forecast(init_time=INIT)

    run = ForecastRun.objects.get(pk=run_id)
    assert run.status == Status.SUCCEEDED, (run.error_type, run.error_message)
    assert run.queued_at <= run.running_at <= run.succeeded_at
    assert (run.progress_step, run.progress_total) == (2, 2)
    assert run.predictor_name == "persistence" and run.synthetic and run.data_source == "synthetic"
    assert run.prefect_flow_run_id and run.celery_task_id
    # Lineage: the input file and its hash, the code and library versions.
    [source] = run.lineage["inputs"]
    assert len(source["sha256"]) == 64 and source["cache_key"]
    assert run.lineage["code_version"] and run.lineage["libraries"]["jax"]
    assert {"rollout", "render", "total"} <= set(run.timings)

    assert execution.forecast_path(run_id).stat().st_mode & 0o777 == 0o644
    forecast = open_forecast(execution.forecast_path(run_id))
    assert forecast.attrs["predictor"] == "persistence" and forecast.attrs["synthetic"] == 1
    assert forecast.sizes["time"] == 2 and forecast.attrs["init_time"] == INIT
    # Every run is also written as a consolidated Zarr store equal to the NetCDF.
    zarr = open_forecast(execution.forecast_file(run_id, "zarr"))
    xr.testing.assert_identical(zarr.load(), forecast.load())
    forecast.close()
    assert run.lineage["archive"].endswith(".zarr")

    products = list(Product.objects.filter(run=run))
    assert len(products) >= 6 * 2  # six map products at each of two leads
    assert {p.lead_hours for p in products} == {6, 12}
    assert {"2m_temperature", "mean_sea_level_pressure"} <= {p.variable for p in products}
    for product in products:
        path = Path(settings.MEDIA_ROOT) / product.file.name
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", path
        assert path.stat().st_mode & 0o777 == 0o644, path  # a front web server may serve it
        height, width, _ = matplotlib.image.imread(path).shape
        assert height > 200 and width > 300
    _assert_no_active_runs()


def test_rollout_that_raises_fails_the_run_with_its_reason(cycle, predictor):
    predictor("tests.e2e.predictors:failing")
    with pytest.raises(RuntimeError, match="injected rollout failure"):
        daily_forecast(init_time=INIT)
    run = _only_run()
    assert run.status == Status.FAILED and run.failed_at
    assert run.error_type == "RuntimeError"
    assert "injected rollout failure after step 1" in run.error_message
    assert not Product.objects.filter(run=run).exists()
    _assert_no_active_runs()


def test_invalid_inputs_quarantine_the_run(cycle, predictor, monkeypatch, tmp_path):
    bad = tmp_path / "inputs-without-temperature.nc"
    times = ["2026-11-15T18:00", "2026-11-16T00:00"]
    world = synthetic_era5(times, grid_deg=10.0, levels=PRESSURE_LEVELS[13])
    world.drop_vars("temperature").to_netcdf(bad)
    # The data source hands over a file that lacks a variable.
    monkeypatch.setattr(daily_flow.inputs, "acquire_inputs", lambda *a, **k: bad)

    with pytest.raises(InvalidInputError, match="temperature"):
        daily_forecast(init_time=INIT)
    run = _only_run()
    assert run.status == Status.QUARANTINED and run.quarantined_at
    assert run.error_type == "InvalidInputError"
    assert "missing variable temperature" in run.error_message
    assert not execution.forecast_path(run.pk).exists()
    _assert_no_active_runs()


def test_missing_input_file_fails_the_run(cycle, predictor, monkeypatch, tmp_path):
    monkeypatch.setattr(
        daily_flow.inputs, "acquire_inputs", lambda *a, **k: tmp_path / "never-written.nc"
    )
    with pytest.raises(FileNotFoundError):
        daily_forecast(init_time=INIT)
    run = _only_run()
    assert run.status == Status.FAILED
    assert run.error_type == "FileNotFoundError" and "never-written.nc" in run.error_message
    _assert_no_active_runs()


def test_killed_rollout_process_is_redelivered_and_completes_once(cycle, predictor, monkeypatch):
    predictor("tests.e2e.predictors:slow_persistence")
    monkeypatch.setattr(settings, "GCF_STEPS", 4)
    gpu = cycle["gpu"]
    killed: list[int] = []

    def kill_when_running() -> None:
        _wait_for_step(1)
        for pid in gpu.pool_pids():
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    killer = threading.Thread(target=kill_when_running, daemon=True)
    killer.start()
    run_id = daily_forecast(init_time=INIT)
    killer.join(5)

    assert killed, "the rollout was never killed"
    run = ForecastRun.objects.get(pk=run_id)
    assert run.status == Status.SUCCEEDED, (run.error_type, run.error_message)
    assert (run.progress_step, run.progress_total) == (4, 4)
    log = gpu.log_file.read_text()
    assert "signal 9" in log or "WorkerLostError" in log
    # Received twice (first delivery killed, redelivery), succeeded once.
    task_id = run.lineage["rollout_task_id"]
    assert log.count(f"Task webapp.runs.tasks.rollout_task[{task_id}] succeeded") == 1
    assert Product.objects.filter(run=run).exists()
    _assert_no_active_runs()


def test_graphcast_checkpoint_runs_through_the_cycle(cycle, predictor, monkeypatch, vectors_dir):
    """The real GraphCast rollout on a worker: shared vector A (random weights, 4° grid)."""
    checkpoint = vectors_dir / "A" / "checkpoint.npz"
    predictor(str(checkpoint))
    monkeypatch.setattr(settings, "GCF_STATS_DIR", vectors_dir / "A")
    run_id = daily_forecast(init_time=INIT)

    run = ForecastRun.objects.get(pk=run_id)
    assert run.status == Status.SUCCEEDED, (run.error_type, run.error_message)
    assert run.grid_deg == 4.0  # the checkpoint's grid, not GCF_GRID_DEG
    assert run.predictor_name == "graphcast" and run.checkpoint_name == "checkpoint.npz"
    assert len(run.checkpoint_sha256) == 64 and run.predictor_note == ""
    assert run.config["stats_dir"] == str(vectors_dir / "A")
    assert run.config["checkpoint_sha256"] == run.checkpoint_sha256
    with xr.open_dataset(execution.forecast_path(run_id)) as forecast:
        assert forecast.attrs["predictor"] == "graphcast"
        assert forecast.attrs["checkpoint_sha256"] == run.checkpoint_sha256
    assert Product.objects.filter(run=run).count() >= 12


def test_backfill_runs_only_the_missing_cycles(cycle, predictor):
    from flows.backfill import backfill
    from tests.webapp.runs.factories import make_run
    from webapp.runs import services

    done = make_run(init_time=pd.Timestamp("2026-11-16T00:00", tz="UTC").to_pydatetime())
    services.run_mark_running(run_id=done.pk)
    services.run_mark_succeeded(run_id=done.pk)

    outcome = backfill("2026-11-16T00:00", "2026-11-16T06:00")

    assert list(outcome) == ["2026-11-16T06:00:00+00:00"]
    new = ForecastRun.objects.get(pk=outcome["2026-11-16T06:00:00+00:00"])
    assert new.status == Status.SUCCEEDED and new.triggered_by == ForecastRun.Trigger.BACKFILL
    assert ForecastRun.objects.count() == 2
    _assert_no_active_runs()
