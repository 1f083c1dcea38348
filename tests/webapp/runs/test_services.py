"""Status transitions, progress, lineage, products and the reaper of `webapp.runs.services`."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from forecast.errors import InvalidInputError
from tests.webapp.runs.factories import INIT, make_run
from webapp.errors import DuplicateRunError, RunClaimedError, RunStateError
from webapp.runs import services
from webapp.runs.models import ForecastRun, Product

pytestmark = pytest.mark.django_db
Status = ForecastRun.Status


def test_create_makes_a_queued_synthetic_run():
    run = make_run()
    assert run.status == Status.QUEUED
    assert run.queued_at is not None and run.running_at is None
    assert run.synthetic and run.progress_total == 2


def test_create_validates_the_record():
    with pytest.raises(ValidationError, match="data_source"):
        make_run(data_source="carrier-pigeon")


def test_happy_path_stamps_each_status():
    run = make_run()
    services.run_mark_running(run_id=run.pk, prefect_flow_run_id="abc")
    for step in (1, 2):
        services.run_update_progress(run_id=run.pk, step=step, total=2)
    services.run_mark_succeeded(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == Status.SUCCEEDED
    assert run.queued_at <= run.running_at <= run.succeeded_at
    assert (run.progress_step, run.progress_total) == (2, 2)
    assert run.prefect_flow_run_id == "abc"


def test_marking_running_twice_is_idempotent():
    run = make_run()
    first = services.run_mark_running(run_id=run.pk).running_at
    assert services.run_mark_running(run_id=run.pk).running_at == first


def test_failed_records_type_and_message():
    run = make_run()
    services.run_mark_running(run_id=run.pk)
    services.run_mark_failed(run_id=run.pk, error=RuntimeError("rollout exploded at step 3"))
    run.refresh_from_db()
    assert run.status == Status.FAILED and run.failed_at
    assert run.error_type == "RuntimeError"
    assert run.error_message == "rollout exploded at step 3"


def test_a_finished_run_is_not_overwritten_by_a_late_failure():
    run = make_run()
    services.run_mark_running(run_id=run.pk)
    services.run_mark_succeeded(run_id=run.pk)
    services.run_mark_failed(run_id=run.pk, error="late")
    run.refresh_from_db()
    assert run.status == Status.SUCCEEDED and run.error_message == ""


def test_quarantine_from_queued_names_the_culprit():
    run = make_run()
    services.run_mark_quarantined(
        run_id=run.pk, error=InvalidInputError("variable 'temperature' is missing")
    )
    run.refresh_from_db()
    assert run.status == Status.QUARANTINED and run.quarantined_at
    assert run.error_type == "InvalidInputError" and "temperature" in run.error_message


@pytest.mark.parametrize("final", [Status.SUCCEEDED, Status.FAILED, Status.QUARANTINED])
def test_a_finished_run_cannot_run_again(final):
    run = make_run()
    services.run_mark_running(run_id=run.pk)
    {
        Status.SUCCEEDED: lambda: services.run_mark_succeeded(run_id=run.pk),
        Status.FAILED: lambda: services.run_mark_failed(run_id=run.pk, error="x"),
        Status.QUARANTINED: lambda: services.run_mark_quarantined(run_id=run.pk, error="x"),
    }[final]()
    with pytest.raises(RunStateError, match=f"is {final}"):
        services.run_mark_running(run_id=run.pk)


def test_queued_cannot_succeed_without_running():
    run = make_run()
    with pytest.raises(RunStateError, match="cannot become succeeded"):
        services.run_mark_succeeded(run_id=run.pk)


def test_progress_out_of_range_is_refused():
    run = make_run()
    with pytest.raises(RunStateError, match="out of range"):
        services.run_update_progress(run_id=run.pk, step=3, total=2)


def test_lineage_and_timings_merge():
    run = make_run()
    services.run_record_lineage(run_id=run.pk, inputs=[{"sha256": "ab"}])
    services.run_record_lineage(run_id=run.pk, code_version="deadbeef")
    services.run_record_timing(run_id=run.pk, stage="rollout", seconds=1.23456)
    run.refresh_from_db()
    assert run.lineage == {"inputs": [{"sha256": "ab"}], "code_version": "deadbeef"}
    assert run.timings == {"rollout": 1.235}


def test_publish_products_replaces_rows_and_checks_files(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    run = make_run()
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "a.png").write_bytes(b"png")
    item = {
        "kind": "map",
        "variable": "2m_temperature",
        "level": None,
        "lead_hours": 6,
        "file": "runs/a.png",
    }
    assert services.run_publish_products(run_id=run.pk, products=[item]) == 1
    assert services.run_publish_products(run_id=run.pk, products=[item]) == 1
    assert Product.objects.filter(run=run).count() == 1
    with pytest.raises(RunStateError, match="missing.png"):
        services.run_publish_products(
            run_id=run.pk, products=[{**item, "file": "runs/missing.png"}]
        )


def test_reaper_fails_only_silent_active_runs():
    silent, alive, done = make_run(), make_run(), make_run()
    services.run_mark_running(run_id=silent.pk, stage="rollout")
    services.run_mark_running(run_id=done.pk)
    services.run_mark_succeeded(run_id=done.pk)
    old = timezone.now() - dt.timedelta(hours=5)
    ForecastRun.objects.filter(pk__in=[silent.pk, done.pk]).update(
        heartbeat_at=old, flow_heartbeat_at=old
    )
    # A live flow keeps a run whose worker is quiet (e.g. loading a checkpoint) alive.
    ForecastRun.objects.filter(pk=alive.pk).update(heartbeat_at=old)
    assert services.run_reap_stale(older_than_s=3600) == [silent.pk]
    silent.refresh_from_db()
    assert silent.status == Status.FAILED and silent.error_type == "StaleRun"
    assert "stage rollout" in silent.error_message
    alive.refresh_from_db()
    assert alive.status == Status.QUEUED


def test_rerun_copies_configuration_and_links_the_original(django_user_model):
    user = django_user_model.objects.create_user("ops", password="pw")
    original = make_run(steps=3, predictor_note="fallback: no checkpoint")
    rerun = services.run_request_rerun(run=original, user=user, launch=False)
    assert rerun.pk != original.pk and rerun.rerun_of == original
    assert rerun.status == Status.QUEUED
    assert (rerun.init_time, rerun.steps, rerun.grid_deg) == (original.init_time, 3, 10.0)
    assert rerun.triggered_by == ForecastRun.Trigger.ADMIN and rerun.triggered_by_user == user
    assert rerun.predictor_note == "fallback: no checkpoint"


@pytest.mark.parametrize("start", [Status.QUEUED, Status.RUNNING])
def test_cancel_records_who_and_when_at_any_stage(start, django_user_model):
    user = django_user_model.objects.create_user("ops", password="pw")
    run = make_run()
    if start == Status.RUNNING:
        services.run_mark_running(run_id=run.pk, stage="rollout")
    cancelled = services.run_cancel(run=run, user=user)
    assert cancelled.status == Status.CANCELLED and cancelled.cancelled_at
    assert cancelled.cancelled_by == user and cancelled.is_terminal
    assert cancelled.error_type == "Cancelled" and "cancelled by ops" in cancelled.error_message
    # A late report from a step does not bring it back.
    services.run_mark_failed(run_id=run.pk, error="worker lost")
    with pytest.raises(RunStateError):
        services.run_mark_succeeded(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == Status.CANCELLED


def test_a_finished_run_cannot_be_cancelled():
    run = make_run()
    services.run_mark_running(run_id=run.pk)
    services.run_mark_succeeded(run_id=run.pk)
    with pytest.raises(RunStateError, match="already succeeded"):
        services.run_cancel(run=run, user=None)


def test_one_run_per_cycle_unless_rerun_or_failed():
    first = make_run(init_time=INIT)
    with pytest.raises(DuplicateRunError, match=f"already has run {first.pk}") as raised:
        make_run(init_time=INIT)
    assert raised.value.run == first
    services.run_request_rerun(run=first, launch=False)  # an admin rerun may repeat it
    services.run_cancel(run=first, user=None)
    assert make_run(init_time=INIT).pk != first.pk  # a cancelled run frees its cycle


def test_claim_takes_a_queued_run_and_refuses_a_second_live_flow():
    run = make_run()
    services.run_claim(run_id=run.pk, flow_run_id="flow-a")
    run.refresh_from_db()
    assert run.status == Status.RUNNING and run.prefect_flow_run_id == "flow-a"
    services.run_claim(run_id=run.pk, flow_run_id="flow-a")  # the same flow again: fine
    with pytest.raises(RunClaimedError, match="flow-a"):
        services.run_claim(run_id=run.pk, flow_run_id="flow-b")


class RecordingLauncher:
    """A `FlowLauncher` that records launches (the e2e fault tests launch real flows)."""

    launched: list[int] = []

    def launch(self, *, run_id: int) -> tuple[str, str]:
        self.launched.append(run_id)
        return ForecastRun.Launch.SUBPROCESS, ""

    def cancel(self, *, flow_run_id: str) -> bool:
        return True


def test_a_run_whose_flow_died_is_resumed_once_then_closed(settings):
    settings.GCF_FLOW_LAUNCHER = f"{__name__}.RecordingLauncher"
    launched = RecordingLauncher.launched = []
    run = make_run()
    services.run_claim(run_id=run.pk, flow_run_id="flow-a")
    silent = timezone.now() - dt.timedelta(minutes=10)
    ForecastRun.objects.filter(pk=run.pk).update(flow_heartbeat_at=silent)

    assert services.run_recover_orphans() == {run.pk: "resumed"}
    assert launched == [run.pk]
    # The new flow may claim it at once (the reaper released it), and records the resume.
    services.run_claim(run_id=run.pk, flow_run_id="flow-b")
    run.refresh_from_db()
    assert run.status == Status.RUNNING and len(run.lineage["resumed"]) == 1

    ForecastRun.objects.filter(pk=run.pk).update(flow_heartbeat_at=silent)
    assert services.run_recover_orphans() == {run.pk: "closed"}
    run.refresh_from_db()
    assert run.status == Status.FAILED and run.error_type == "FlowLost"
    assert "its flow stopped beating" in run.error_message and launched == [run.pk]


def test_worker_refuses_a_checkpoint_changed_since_configuration():
    from forecast.errors import CheckpointError

    run = make_run(predictor_spec="/models/a.npz", checkpoint_sha256="a" * 64)
    with pytest.raises(CheckpointError, match="changed since the run was configured"):
        services.run_record_predictor(
            run_id=run.pk, name="graphcast", identity={"checkpoint_sha256": "b" * 64}
        )
