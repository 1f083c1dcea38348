"""Writes to the run record: creation, status transitions, progress, lineage, products, reruns."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from forecast.errors import CheckpointError
from forecast.times import format_utc, to_aware_utc
from webapp.errors import ApplicationError, DuplicateRunError, RunClaimedError, RunStateError
from webapp.runs.config import RunConfig
from webapp.runs.models import ForecastRun, Product

logger = logging.getLogger(__name__)

Status = ForecastRun.Status

# Which status may follow which; marking a run with its current status again is a no-op.
_ALLOWED = {
    Status.QUEUED: {Status.RUNNING, Status.FAILED, Status.QUARANTINED, Status.CANCELLED},
    Status.RUNNING: {Status.SUCCEEDED, Status.FAILED, Status.QUARANTINED, Status.CANCELLED},
    Status.SUCCEEDED: set(),
    Status.FAILED: set(),
    Status.QUARANTINED: set(),
    Status.CANCELLED: set(),
}
_STAMP = {
    Status.QUEUED: "queued_at",
    Status.RUNNING: "running_at",
    Status.SUCCEEDED: "succeeded_at",
    Status.FAILED: "failed_at",
    Status.QUARANTINED: "quarantined_at",
    Status.CANCELLED: "cancelled_at",
}


def run_create(
    *,
    init_time: dt.datetime,
    config: RunConfig | None = None,
    triggered_by: str = ForecastRun.Trigger.CLI,
    user=None,
    rerun_of: ForecastRun | None = None,
    **config_fields,
) -> ForecastRun:
    """Creates a QUEUED run executing `config`, stored verbatim on the record.

    Args:
      init_time: the analysis time the forecast starts from (aware, UTC).
      config: the frozen run configuration; or give its fields as keywords instead
        (predictor_spec, data_source, grid_deg, levels, steps, ...).
      triggered_by: schedule / admin / cli / backfill.
      user: who asked (admin reruns).
      rerun_of: the run this one repeats.

    Raises:
      DuplicateRunError: the cycle already has a run (one run per init time, predictor and
        data source, unless it is a rerun or the other run failed or was cancelled).
    """
    if config is None:
        config = RunConfig(**config_fields)
    elif config_fields:
        raise TypeError(f"give config or its fields, not both ({sorted(config_fields)})")
    now = timezone.now()
    run = ForecastRun(
        init_time=init_time,
        config=config.to_json(),
        predictor_spec=config.predictor_spec,
        predictor_note=config.predictor_note,
        checkpoint_name=Path(config.checkpoint_path).name if config.checkpoint_path else "",
        checkpoint_sha256=config.checkpoint_sha256,
        data_source=config.data_source,
        synthetic=config.data_source == ForecastRun.DataSource.SYNTHETIC,
        grid_deg=config.grid_deg,
        levels=config.levels,
        steps=config.steps,
        progress_total=config.steps,
        triggered_by=triggered_by,
        triggered_by_user=user,
        rerun_of=rerun_of,
        status=Status.QUEUED,
        queued_at=now,
        heartbeat_at=now,
        flow_heartbeat_at=now,
    )
    # The one-run-per-cycle constraint is the database's to enforce (a Python check races).
    run.full_clean(validate_constraints=False)
    try:
        with transaction.atomic():
            run.save()
    except IntegrityError as exc:
        if "runs_one_run_per_cycle" not in str(exc):
            raise
        existing = _active_run_of_cycle(run)
        raise DuplicateRunError(
            f"cycle {run.init_time:%Y-%m-%d %H:%MZ} ({config.predictor_spec}, "
            f"{config.data_source}) already has run {existing.pk if existing else '?'}",
            run=existing,
        ) from exc
    logger.info("created %s (%s, triggered by %s)", run, config.predictor_spec, triggered_by)
    return run


def _active_run_of_cycle(run: ForecastRun) -> ForecastRun | None:
    """The run holding `run`'s cycle (the one-run-per-cycle constraint's other row)."""
    return (
        ForecastRun.objects.filter(
            init_time=run.init_time,
            predictor_spec=run.predictor_spec,
            checkpoint_sha256=run.checkpoint_sha256,
            data_source=run.data_source,
            rerun_of__isnull=True,
        )
        .exclude(status__in=ForecastRun.RETRYABLE)
        .first()
    )


def run_get_or_create(
    *,
    init_time: dt.datetime,
    config: RunConfig,
    triggered_by: str = ForecastRun.Trigger.CLI,
    user=None,
) -> tuple[ForecastRun, bool]:
    """The cycle's run: a new QUEUED one, or the one that already holds the cycle.

    Two triggers at once both insert; the database's unique index lets one through and the
    other gets the winner's run. Returns (run, created).
    """
    try:
        return run_create(
            init_time=init_time, config=config, triggered_by=triggered_by, user=user
        ), True
    except DuplicateRunError as exc:
        if exc.run is None:  # the holder ended failed/cancelled meanwhile: try once more
            return run_create(
                init_time=init_time, config=config, triggered_by=triggered_by, user=user
            ), True
        logger.info("cycle already has %s; not creating another", exc.run)
        return exc.run, False


def run_config(*, run_id: int) -> RunConfig:
    """The frozen configuration run `run_id` executes."""
    return RunConfig.from_json(ForecastRun.objects.values_list("config", flat=True).get(pk=run_id))


def _transition(run_id: int, status: str, **fields) -> ForecastRun:
    """Moves a run to `status` under a row lock, stamping the time; raises if not allowed."""
    with transaction.atomic():
        run = ForecastRun.objects.select_for_update().get(pk=run_id)
        if run.status == status:
            return run
        if status not in _ALLOWED[run.status]:
            raise RunStateError(f"run {run_id} is {run.status}; it cannot become {status}")
        now = timezone.now()
        run.status = status
        setattr(run, _STAMP[status], now)
        run.heartbeat_at = now
        for name, value in fields.items():
            setattr(run, name, value)
        run.save()
    logger.info("run %s is now %s", run_id, status)
    return run


def run_mark_running(*, run_id: int, stage: str = "", prefect_flow_run_id: str = "") -> ForecastRun:
    """QUEUED → RUNNING (idempotent for a running run); records the flow run id if given."""
    fields: dict = {"stage": stage} if stage else {}
    if prefect_flow_run_id:
        fields["prefect_flow_run_id"] = prefect_flow_run_id
    run = _transition(run_id, Status.RUNNING, **fields)
    if fields:
        ForecastRun.objects.filter(pk=run_id).update(flow_heartbeat_at=timezone.now(), **fields)
    return run


def run_claim(*, run_id: int, flow_run_id: str) -> ForecastRun:
    """The flow `flow_run_id` takes charge of the run: QUEUED → RUNNING, or a RUNNING run
    whose own flow stopped beating (resumed after its flow died).

    Raises:
      RunClaimedError: another flow is alive and in charge of the run.
      RunStateError: the run has finished.
    """
    with transaction.atomic():
        run = ForecastRun.objects.select_for_update().get(pk=run_id)
        if run.is_terminal:
            raise RunStateError(f"run {run_id} is already {run.status}")
        now = timezone.now()
        if run.status == Status.RUNNING and run.prefect_flow_run_id != flow_run_id:
            silent_s = (now - (run.flow_heartbeat_at or run.running_at or now)).total_seconds()
            # An empty owner: the reaper released the run for resumption.
            if run.prefect_flow_run_id and silent_s < settings_value("GCF_FLOW_STALE_AFTER_S", 120):
                raise RunClaimedError(
                    f"run {run_id} is in the hands of flow run {run.prefect_flow_run_id or '?'} "
                    f"(last beat {silent_s:.0f} s ago)"
                )
            run.lineage = {
                **run.lineage,
                "resumed": [*run.lineage.get("resumed", []), format_utc(now)],
            }
            logger.warning("run %s: its flow went silent %.0f s ago; resuming it", run_id, silent_s)
        if run.status == Status.QUEUED:
            run.status = Status.RUNNING
            run.running_at = now
        run.prefect_flow_run_id = flow_run_id
        run.flow_heartbeat_at = now
        run.save()
    return run


def settings_value(name: str, default):
    """A setting the service reads with a default (ops owns the settings files)."""
    return getattr(settings, name, default)


def run_flow_heartbeat(*, run_id: int, stage: str = "") -> str:
    """The flow is alive (and, if given, at `stage`); returns the run's status, so the flow
    notices a cancellation."""
    fields: dict = {"flow_heartbeat_at": timezone.now()}
    if stage:
        fields["stage"] = stage
    ForecastRun.objects.filter(pk=run_id).update(**fields)
    return ForecastRun.objects.values_list("status", flat=True).get(pk=run_id)


def run_set_stage(*, run_id: int, stage: str, celery_task_id: str = "") -> None:
    """Records the stage the flow has reached, and the Celery task it submitted for it: the
    run's current task, and in lineage as `<stage>_task_id`, the one task that may write the
    stage's results (a stale redelivery of an earlier one stops: `webapp.runs.execution`)."""
    if not celery_task_id:
        ForecastRun.objects.filter(pk=run_id).update(stage=stage, flow_heartbeat_at=timezone.now())
        return
    with transaction.atomic():
        run = ForecastRun.objects.select_for_update().get(pk=run_id)
        run.stage, run.flow_heartbeat_at, run.celery_task_id = stage, timezone.now(), celery_task_id
        run.lineage = {**run.lineage, f"{stage}_task_id": celery_task_id}
        run.save(
            update_fields=["stage", "flow_heartbeat_at", "celery_task_id", "lineage", "updated_at"]
        )


def run_worker_heartbeat(*, run_id: int) -> None:
    """The worker executing the run's current step is alive."""
    ForecastRun.objects.filter(pk=run_id).update(heartbeat_at=timezone.now())


def run_update_progress(*, run_id: int, step: int, total: int) -> None:
    """Records rollout progress k/N (called after every step; also a worker heartbeat)."""
    if not 0 <= step <= total:
        raise RunStateError(f"progress {step}/{total} is out of range for run {run_id}")
    ForecastRun.objects.filter(pk=run_id).update(
        progress_step=step, progress_total=total, heartbeat_at=timezone.now()
    )


def run_record_predictor(*, run_id: int, name: str, identity: dict[str, str]) -> None:
    """Records which predictor actually ran, and its checkpoint identity (empty for baselines).

    Raises:
      CheckpointError: the checkpoint loaded is not the one the run was configured with (the
        file changed on disk since).
    """
    run = ForecastRun.objects.get(pk=run_id)
    loaded = identity.get("checkpoint_sha256", "")
    configured = run.config.get("checkpoint_sha256", "")
    if configured and loaded and loaded != configured:
        raise CheckpointError(
            f"checkpoint {run.config.get('checkpoint_path')} of run {run_id} changed since the "
            f"run was configured: sha256 {loaded[:12]}… is not {configured[:12]}…"
        )
    # The checkpoint identity columns come from the config (they key one run per cycle).
    ForecastRun.objects.filter(pk=run_id).update(predictor_name=name)


def run_record_lineage(*, run_id: int, **entries) -> None:
    """Merges `entries` into the run's lineage JSON (input files, hashes, versions...)."""
    with transaction.atomic():
        run = ForecastRun.objects.select_for_update().get(pk=run_id)
        run.lineage = {**run.lineage, **entries}
        run.save(update_fields=["lineage", "updated_at"])


def run_record_input_origin(*, run_id: int, synthetic: bool, description: str) -> None:
    """Records where the inputs came from, as the inputs file says (the record and every page
    show it); a server publishing synthetic fields (the local open-data server's test
    products) marks the run synthetic whatever its data source."""
    with transaction.atomic():
        run = ForecastRun.objects.select_for_update().get(pk=run_id)
        run.lineage = {**run.lineage, "input_origin": description}
        run.synthetic = run.synthetic or synthetic
        run.save(update_fields=["lineage", "synthetic", "updated_at"])


def run_record_timing(*, run_id: int, stage: str, seconds: float) -> None:
    """Records how long a stage took, in seconds."""
    with transaction.atomic():
        run = ForecastRun.objects.select_for_update().get(pk=run_id)
        run.timings = {**run.timings, stage: round(seconds, 3)}
        run.save(update_fields=["timings", "updated_at"])


def run_mark_succeeded(*, run_id: int) -> ForecastRun:
    """RUNNING → SUCCEEDED."""
    return _transition(run_id, Status.SUCCEEDED, stage="done")


def _describe(error: BaseException | str) -> tuple[str, str]:
    if isinstance(error, BaseException):
        return type(error).__name__, str(error) or repr(error)
    return "Error", str(error)


def run_mark_failed(*, run_id: int, error: BaseException | str) -> ForecastRun:
    """Any non-terminal status → FAILED, with the error's type and message.

    A run already finished keeps its status (a late failure report must not overwrite success).
    """
    error_type, message = _describe(error)
    run = ForecastRun.objects.get(pk=run_id)
    if run.is_terminal:
        logger.warning(
            "run %s is already %s; not marking it failed (%s)", run_id, run.status, message
        )
        return run
    return _transition(run_id, Status.FAILED, error_type=error_type, error_message=message[:10000])


def run_mark_quarantined(*, run_id: int, error: BaseException | str) -> ForecastRun:
    """Non-terminal → QUARANTINED: the inputs are invalid; retrying will not help."""
    error_type, message = _describe(error)
    return _transition(
        run_id, Status.QUARANTINED, error_type=error_type, error_message=message[:10000]
    )


def run_publish_products(*, run_id: int, products: Iterable[dict]) -> int:
    """Replaces the run's Product rows with `products` (dicts: kind, variable, level,
    lead_hours, file relative to MEDIA_ROOT). Returns how many were published.

    Raises:
      RunStateError: a product file does not exist under MEDIA_ROOT.
    """
    rows = []
    media_root = Path(settings.MEDIA_ROOT)
    for item in products:
        if not (media_root / item["file"]).is_file():
            raise RunStateError(f"product file {item['file']} of run {run_id} does not exist")
        rows.append(
            Product(
                run_id=run_id,
                kind=item.get("kind", Product.Kind.MAP),
                variable=item["variable"],
                level=item.get("level"),
                lead_hours=item.get("lead_hours"),
                file=item["file"],
            )
        )
    with transaction.atomic():
        Product.objects.filter(run_id=run_id).delete()
        Product.objects.bulk_create(rows)
    return len(rows)


def run_reap_stale(*, older_than_s: int | None = None, now: dt.datetime | None = None) -> list[int]:
    """Fails QUEUED/RUNNING runs with no sign of life from flow or worker for longer than
    `older_than_s` (default GCF_STALE_AFTER_S). Returns the ids failed."""
    limit = settings.GCF_STALE_AFTER_S if older_than_s is None else older_than_s
    cutoff = (now or timezone.now()) - dt.timedelta(seconds=limit)
    stale = (
        ForecastRun.objects.filter(status__in=[Status.QUEUED, Status.RUNNING])
        .filter(heartbeat_at__lt=cutoff)
        .filter(Q(flow_heartbeat_at__isnull=True) | Q(flow_heartbeat_at__lt=cutoff))
        .values_list("pk", "stage", "heartbeat_at")
    )
    reaped = []
    for run_id, stage, heartbeat in stale:
        message = (
            f"no sign of life since {format_utc(heartbeat)} (stage {stage or 'none'}): "
            f"its flow and worker were lost; reaped after {limit} s"
        )
        if _close(run_id, message, error_type="StaleRun"):
            reaped.append(run_id)
    if reaped:
        logger.warning("reaped stale runs %s", reaped)
    return reaped


def _close(run_id: int, message: str, *, error_type: str) -> bool:
    """Fails an active run with `message`; False when it finished meanwhile."""
    try:
        run = run_mark_failed(run_id=run_id, error=RunStateError(message))
    except RunStateError:
        return False
    if run.status != Status.FAILED:
        return False
    ForecastRun.objects.filter(pk=run_id).update(error_type=error_type)
    _stop_execution(run)
    return True


def run_recover_orphans(*, now: dt.datetime | None = None) -> dict[int, str]:
    """Runs whose flow died (no flow heartbeat for GCF_FLOW_STALE_AFTER_S): each is resumed
    once by a new flow (which reuses what the dead one finished: inputs, forecast), and
    closed as failed, with the reason, if its flow dies again.

    Returns:
      {run id: "resumed" or "closed"}.
    """
    now = now or timezone.now()
    limit = settings_value("GCF_FLOW_STALE_AFTER_S", 120)
    cutoff = now - dt.timedelta(seconds=limit)
    orphans = ForecastRun.objects.filter(status=Status.RUNNING, flow_heartbeat_at__lt=cutoff)
    outcome: dict[int, str] = {}
    for run in orphans:
        silent = f"its flow stopped beating at {format_utc(run.flow_heartbeat_at)}"
        if len(run.lineage.get("resumed", [])) >= settings_value("GCF_MAX_RESUMES", 1):
            if _close(
                run.pk,
                f"{silent} (stage {run.stage or 'none'}) after it had been resumed already; closed",
                error_type="FlowLost",
            ):
                outcome[run.pk] = "closed"
            continue
        # Counted from now: the new flow gets a full period to start and claim the run.
        ForecastRun.objects.filter(pk=run.pk).update(flow_heartbeat_at=now, prefect_flow_run_id="")
        try:
            run_launch_flow(run=run)
        except Exception as exc:  # noqa: BLE001 - no way to resume: close with the reason
            if _close(run.pk, f"{silent}; resuming it failed: {exc}", error_type="FlowLost"):
                outcome[run.pk] = "closed"
            continue
        logger.warning("run %s: %s; resuming it", run.pk, silent)
        outcome[run.pk] = "resumed"
    return outcome


def run_cancel(*, run: ForecastRun, user=None) -> ForecastRun:
    """Cancels a queued or running run at whatever stage it is in.

    The record becomes CANCELLED (with who and when) first, under a row lock, so every step
    that checks the run stops writing into it; then, best effort, the Celery task of the
    current step is revoked (its pool process terminated) and the Prefect flow run cancelled.
    The flow notices the status at its next poll and stops.

    Args:
      run: the run to cancel.
      user: who asked (None: the system, e.g. a command).

    Returns:
      The cancelled run.

    Raises:
      RunStateError: the run has already finished.
    """
    now = timezone.now()
    who = user.get_username() if user is not None else "the system"
    with transaction.atomic():
        locked = ForecastRun.objects.select_for_update().get(pk=run.pk)
        if locked.is_terminal:
            raise RunStateError(f"run {run.pk} is already {locked.status}; nothing to cancel")
        stage = locked.stage or "none"
        locked.status = Status.CANCELLED
        locked.cancelled_at = now
        locked.cancelled_by = user
        locked.error_type = "Cancelled"
        locked.error_message = f"cancelled by {who} at {now:%Y-%m-%d %H:%M:%S} UTC (stage {stage})"
        locked.save()
    logger.info("run %s cancelled by %s at stage %s", run.pk, who, stage)
    _stop_execution(locked)
    return locked


def _stop_execution(run: ForecastRun) -> None:
    """Revokes the run's Celery task and cancels its Prefect flow run; failures are logged
    (the steps check the run's status themselves, so a missed revoke only costs time)."""
    if run.celery_task_id:
        from webapp.celery import app

        try:
            app.control.revoke(run.celery_task_id, terminate=True, signal="SIGTERM")
        except Exception as exc:  # noqa: BLE001 - broker down: the task checks the status
            logger.warning("run %s: revoking task %s failed: %s", run.pk, run.celery_task_id, exc)
    if run.prefect_flow_run_id:
        from webapp.runs.launcher import get_launcher

        try:
            get_launcher().cancel(flow_run_id=run.prefect_flow_run_id)
        except Exception as exc:  # noqa: BLE001 - no Prefect API: the flow polls the status
            logger.warning(
                "run %s: cancelling flow run %s failed: %s", run.pk, run.prefect_flow_run_id, exc
            )


def run_request_rerun(
    *, run: ForecastRun, user=None, launch: bool = True, predictor_spec: str = ""
) -> ForecastRun:
    """Creates a new run repeating `run` (same init time and frozen configuration, linked by
    `rerun_of`) and, if `launch`, starts the real daily flow on it (see `run_launch_flow`).

    `predictor_spec` ("persistence" or a checkpoint path) reruns with another predictor; the
    checkpoint's identity (sha256) is taken now and frozen in the new run's config.
    """
    config = RunConfig.from_json(run.config) if run.config else _config_of_legacy_run(run)
    if predictor_spec:
        config = _with_predictor(config, predictor_spec)
    new = run_create(
        init_time=run.init_time,
        config=config,
        triggered_by=ForecastRun.Trigger.ADMIN if user is not None else ForecastRun.Trigger.CLI,
        user=user,
        rerun_of=run,
    )
    if launch:
        run_launch_flow(run=new)
    return new


def _config_of_legacy_run(run: ForecastRun) -> RunConfig:
    """The configuration of a run recorded before configs were stored (its columns)."""
    return RunConfig(
        predictor_spec=run.predictor_spec or "persistence",
        predictor_note=run.predictor_note,
        checkpoint_sha256=run.checkpoint_sha256,
        stats_dir=str(run.lineage.get("stats_dir", "")),
        data_source=run.data_source,
        grid_deg=run.grid_deg,
        levels=run.levels,
        steps=run.steps,
    )


def run_launch_flow(*, run: ForecastRun) -> str:
    """Starts `daily_forecast(run_id=run.pk)` without waiting, through the configured
    launcher (`GCF_FLOW_LAUNCHER`, provided by `flows`); the record says how
    (`launched_via`, and the Prefect flow-run id when there is one)."""
    from webapp.runs.launcher import get_launcher

    launched_via, flow_run_id = get_launcher().launch(run_id=run.pk)
    fields = {"launched_via": launched_via}
    if flow_run_id:
        fields["prefect_flow_run_id"] = flow_run_id
    ForecastRun.objects.filter(pk=run.pk).update(**fields)
    for name, value in fields.items():
        setattr(run, name, value)
    logger.info("run %s: flow launched via %s %s", run.pk, launched_via, flow_run_id)
    return launched_via


def _with_predictor(config: RunConfig, spec: str) -> RunConfig:
    """`config` running `spec` instead ("persistence" or an existing checkpoint file)."""
    import dataclasses

    from forecast.errors import InvalidInputError
    from forecast.model.checkpoint import file_sha256
    from webapp.runs.config import parse_predictor_spec

    try:
        parsed = parse_predictor_spec(spec)
    except InvalidInputError as exc:
        raise ApplicationError(str(exc)) from exc
    if parsed.kind == "checkpoint":
        path = Path(parsed.target)
        if not path.is_file():
            raise ApplicationError(f"checkpoint {path} does not exist")
        identity = {"checkpoint_path": str(path), "checkpoint_sha256": file_sha256(path)}
    else:
        identity = {"checkpoint_path": "", "checkpoint_sha256": ""}
    return dataclasses.replace(config, predictor_spec=spec, predictor_note="", **identity)


def run_request_backfill(
    *,
    init_times: Iterable[dt.datetime],
    like: ForecastRun,
    user=None,
    launch: bool = True,
) -> tuple[list[ForecastRun], list[str]]:
    """Creates (and, if `launch`, starts the daily flow of) a run for every init time that has
    no good run yet, each executing `like`'s frozen configuration, triggered "backfill".

    Returns:
      (the new runs, one line per init time skipped and why).
    """
    from webapp.runs.selectors import run_missing_init_times

    config = RunConfig.from_json(like.config) if like.config else _config_of_legacy_run(like)
    wanted = [to_aware_utc(t) for t in init_times]
    missing = set(
        run_missing_init_times(
            init_times=wanted,
            predictor_spec=config.predictor_spec,
            data_source=config.data_source,
        )
    )
    created, skipped = [], []
    for init_time in wanted:
        if init_time not in missing:
            skipped.append(f"{init_time:%Y-%m-%d %H:%MZ}: already has a run")
            continue
        try:
            run = run_create(
                init_time=init_time,
                config=config,
                triggered_by=ForecastRun.Trigger.BACKFILL,
                user=user,
            )
        except DuplicateRunError as exc:  # created meanwhile by another trigger
            skipped.append(f"{init_time:%Y-%m-%d %H:%MZ}: {exc}")
            continue
        run_record_lineage(run_id=run.pk, backfill_like_run=like.pk)
        if launch:
            run_launch_flow(run=run)
        created.append(run)
    return created, skipped
