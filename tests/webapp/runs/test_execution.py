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


def _rendered(run_id: int, parts: int, token: str) -> list[int]:
    execution.execute_rollout(run_id=run_id)
    return [
        execution.execute_render_part(run_id=run_id, part=part, parts=parts, token=token)
        for part in range(parts)
    ]


def test_render_parts_then_publish_replace_the_runs_maps(run_with_inputs):
    run = run_with_inputs
    old = paths.media_dir(run.pk) / "stale.png"
    old.parent.mkdir(parents=True)
    old.write_bytes(b"an earlier attempt's map")
    counts = _rendered(run.pk, parts=3, token="t1")
    staging = paths.products_staging_dir(run.pk, "t1")
    assert sorted(p.name for p in staging.glob("part-*")) == [
        "part-0-of-3.json",
        "part-1-of-3.json",
        "part-2-of-3.json",
    ]
    published = execution.execute_publish_products(run_id=run.pk, token="t1", parts=3)
    # The parts shared the 12 maps (6 fields × 2 leads), and publishing swapped the directory.
    assert counts == [4, 4, 4] and published == 12
    files = sorted(p.name for p in paths.media_dir(run.pk).iterdir())
    assert len(files) == 12 and "stale.png" not in files and not staging.exists()
    assert not list(paths.media_dir(run.pk).parent.glob(".tmp-*"))
    variables = {p.variable for p in ForecastRun.objects.get(pk=run.pk).products.all()}
    assert len(variables) == 6
    for product in ForecastRun.objects.get(pk=run.pk).products.all():
        assert Path(product.file.path).is_file()


def test_more_parts_than_maps_leave_the_extra_parts_empty(run_with_inputs):
    run = run_with_inputs
    counts = _rendered(run.pk, parts=14, token="t2")
    assert counts == [1] * 12 + [0, 0]
    assert execution.execute_publish_products(run_id=run.pk, token="t2", parts=14) == 12


def test_render_parts_read_the_zarr_store_else_the_netcdf(run_with_inputs, caplog):
    run = run_with_inputs
    execution.execute_rollout(run_id=run.pk)
    store = paths.forecast_file(run.pk, "zarr")
    assert execution.render_source(run.pk) == store and store.is_dir()
    shutil.rmtree(store)
    with caplog.at_level("INFO", logger="webapp.runs.execution"):
        assert execution.render_source(run.pk) == paths.forecast_path(run.pk)
    assert f"no {store}" in caplog.text
    assert execution.execute_render_part(run_id=run.pk, part=0, parts=1, token="t6") == 12


def test_publish_refuses_an_attempt_with_a_missing_part_and_discard_cleans_it(run_with_inputs):
    run = run_with_inputs
    execution.execute_rollout(run_id=run.pk)
    execution.execute_render_part(run_id=run.pk, part=0, parts=2, token="t3")
    with pytest.raises(RuntimeError, match="part-1-of-2.json"):
        execution.execute_publish_products(run_id=run.pk, token="t3", parts=2)
    assert not paths.media_dir(run.pk).exists()
    assert execution.discard_products(run_id=run.pk, token="t3") == 7  # 6 maps + manifest
    assert not paths.products_staging_dir(run.pk, "t3").exists()


def test_a_failed_part_voids_its_attempt(run_with_inputs):
    run = run_with_inputs
    execution.execute_rollout(run_id=run.pk)
    execution.execute_render_part(run_id=run.pk, part=0, parts=2, token="t4")
    (execution.render_source(run.pk) / ".zmetadata").write_text("not a forecast any more")
    with pytest.raises(InvalidInputError, match="cannot read forecast"):
        execution.execute_render_part(run_id=run.pk, part=1, parts=2, token="t4")
    with pytest.raises(RuntimeError, match="part-1-of-2.json"):
        execution.execute_publish_products(run_id=run.pk, token="t4", parts=2)
    assert execution.discard_products(run_id=run.pk, token="t4") > 0
    assert not list(paths.media_dir(run.pk).parent.glob(".tmp-*"))


def test_a_superseded_render_part_stops(run_with_inputs):
    run = run_with_inputs
    services.run_set_stage(run_id=run.pk, stage=execution.render_stage(1), celery_task_id="new")
    with pytest.raises(execution.RunAborted, match="render1 is now task new"):
        execution.execute_render_part(run_id=run.pk, part=1, parts=2, token="t5", task_id="old")
