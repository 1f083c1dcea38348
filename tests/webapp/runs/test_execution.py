"""The steps as a worker runs them, in-process: what they refuse, sweep and write."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from forecast.data.acquire import acquire_inputs
from forecast.errors import InvalidInputError
from tests.webapp.runs.factories import INIT, make_run
from webapp.runs import execution, paths, services
from webapp.runs.models import ForecastRun

pytestmark = pytest.mark.django_db


@pytest.fixture
def run_with_inputs(settings, tmp_path):
    settings.GCF_RUNS_DIR = tmp_path / "runs"
    settings.GCF_CACHE_DIR = tmp_path / "cache"
    settings.MEDIA_ROOT = tmp_path / "media"
    run = make_run(init_time=INIT)
    services.run_claim(run_id=run.pk, flow_run_id="flow")
    cached = acquire_inputs(
        INIT.replace(tzinfo=None),
        levels=13,
        grid_deg=10.0,
        cache_dir=tmp_path / "cache" / "era5",
        source="synthetic",
    )
    paths.inputs_path(run.pk).parent.mkdir(parents=True)
    shutil.copyfile(cached, paths.inputs_path(run.pk))
    return run


def test_rollout_sweeps_a_killed_writers_leftovers_and_writes_a_readable_file(run_with_inputs):
    run = run_with_inputs
    leftover = paths.run_dir(run.pk) / ".tmp-forecast.nc.abc.part"
    leftover.write_bytes(b"half a file")
    path = Path(execution.execute_rollout(run_id=run.pk))
    assert path == paths.forecast_path(run.pk) and not leftover.exists()
    assert path.stat().st_mode & 0o777 == 0o644
    run.refresh_from_db()
    assert (run.progress_step, run.progress_total) == (2, 2) and "rollout" in run.timings


def test_rollout_of_a_cancelled_run_writes_nothing(run_with_inputs):
    run = run_with_inputs
    services.run_cancel(run=run, user=None)
    with pytest.raises(execution.RunAborted, match="cancelled"):
        execution.execute_rollout(run_id=run.pk)
    assert not paths.forecast_path(run.pk).exists()


def test_a_superseded_task_stops(run_with_inputs):
    run = run_with_inputs
    services.run_set_stage(run_id=run.pk, stage="rollout", celery_task_id="new-task")
    with pytest.raises(execution.RunAborted, match="new-task"):
        execution.execute_rollout(run_id=run.pk, task_id="old-task")


def test_inputs_corrupted_after_validation_name_the_file(run_with_inputs):
    run = run_with_inputs
    with open(paths.inputs_path(run.pk), "r+b") as handle:
        handle.seek(64)  # into the HDF5 metadata
        handle.write(b"\xff" * 4096)
    with pytest.raises(InvalidInputError, match=f"{paths.inputs_path(run.pk)}.*HDF error"):
        execution.execute_rollout(run_id=run.pk)


def test_a_rerun_reuses_its_originals_forecast(run_with_inputs):
    original = run_with_inputs
    execution.execute_rollout(run_id=original.pk)
    services.run_mark_failed(run_id=original.pk, error="flow lost after the rollout")
    rerun = services.run_request_rerun(run=original, launch=False)
    services.run_claim(run_id=rerun.pk, flow_run_id="flow-2")
    same = {"inputs": [{"sha256": "abc"}], "code_version": "c0ffee"}
    services.run_record_lineage(run_id=original.pk, **same)
    services.run_record_lineage(run_id=rerun.pk, **{**same, "code_version": "different"})
    shutil.copyfile(paths.inputs_path(original.pk), _inputs(rerun.pk))
    # Other code: computed again, not reused.
    execution.execute_rollout(run_id=rerun.pk)
    assert "forecast_reused_from" not in ForecastRun.objects.get(pk=rerun.pk).lineage
    paths.forecast_path(rerun.pk).unlink()
    services.run_record_lineage(run_id=rerun.pk, **same)
    path = Path(execution.execute_rollout(run_id=rerun.pk))
    assert path.read_bytes() == paths.forecast_path(original.pk).read_bytes()
    assert ForecastRun.objects.get(pk=rerun.pk).lineage["forecast_reused_from"] == str(original.pk)


def _inputs(run_id: int) -> Path:
    paths.run_dir(run_id).mkdir(parents=True, exist_ok=True)
    return paths.inputs_path(run_id)
