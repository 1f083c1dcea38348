"""The flows' one door into the run records: every read and write a flow makes goes through
here, as calls to `webapp.runs` services with ids and plain values. No flow imports a model
or queries the ORM; swapping the record store means changing this module only.
"""

from __future__ import annotations

import datetime as dt
import uuid

from flows.django_setup import setup_django

setup_django()

from webapp.errors import RunClaimedError, RunStateError  # noqa: E402
from webapp.runs import selectors, services  # noqa: E402
from webapp.runs.config import RunConfig  # noqa: E402
from webapp.runs.execution import render_stage  # noqa: E402
from webapp.runs.models import ForecastRun  # noqa: E402

__all__ = ["RunClaimedError", "RunConfig", "RunStateError", "TERMINAL", "render_stage"]

TERMINAL = frozenset(str(status) for status in ForecastRun.TERMINAL)
TRIGGERS = [str(trigger) for trigger in ForecastRun.Trigger.values]


def get_or_create_run(
    init_time: dt.datetime, config: RunConfig, triggered_by: str
) -> tuple[int, bool]:
    """(run id, created): the cycle's run, new or the one already holding the cycle."""
    run, created = services.run_get_or_create(
        init_time=init_time, config=config, triggered_by=triggered_by
    )
    return run.pk, created


def claim(run_id: int, flow_run_id: str) -> None:
    """This flow takes charge of the run (raises RunClaimedError when another live flow has
    it, RunStateError when it has finished)."""
    services.run_claim(run_id=run_id, flow_run_id=flow_run_id)


def config(run_id: int) -> RunConfig:
    """The run's frozen configuration."""
    return services.run_config(run_id=run_id)


def init_time(run_id: int) -> dt.datetime:
    """The run's init time (aware UTC)."""
    return selectors.run_get(run_id=run_id).init_time


def status(run_id: int) -> str:
    """The run's status now."""
    return selectors.run_get(run_id=run_id).status


def progress(run_id: int) -> tuple[int, int]:
    """(step, total) of the rollout."""
    run = selectors.run_get(run_id=run_id)
    return run.progress_step, run.progress_total


def last_task(run_id: int, stage: str) -> str:
    """The Celery task id the run's flows last submitted for `stage` ("" if none): what a
    resuming flow adopts."""
    return selectors.run_get(run_id=run_id).lineage.get(f"{stage}_task_id", "")


def beat(run_id: int, stage: str = "") -> str:
    """Flow heartbeat; returns the run's status (a cancellation shows here)."""
    return services.run_flow_heartbeat(run_id=run_id, stage=stage)


def record_submission(run_id: int, stage: str, task_id: str) -> None:
    """The flow submitted Celery task `task_id` for `stage` (recorded before it is sent): the
    run's current task, and in lineage as `<stage>_task_id` (the last one of each stage)."""
    services.run_set_stage(run_id=run_id, stage=stage, celery_task_id=task_id)


def products_attempt(run_id: int) -> str:
    """The token naming the run's products attempt (its staging directory): the one a dead
    predecessor flow recorded, so its render parts are adopted, else a new one."""
    token = selectors.run_get(run_id=run_id).lineage.get("products_attempt", "")
    if not token:
        token = uuid.uuid4().hex[:12]
        services.run_record_lineage(run_id=run_id, products_attempt=token)
    return token


def record_lineage(run_id: int, **entries) -> None:
    """Merges entries into the run's lineage."""
    services.run_record_lineage(run_id=run_id, **entries)


def record_input_origin(run_id: int, *, synthetic: bool, description: str) -> None:
    """Where the inputs came from (the inputs file's own account)."""
    services.run_record_input_origin(run_id=run_id, synthetic=synthetic, description=description)


def record_timing(run_id: int, stage: str, seconds: float) -> None:
    """Records how long a stage took."""
    services.run_record_timing(run_id=run_id, stage=stage, seconds=seconds)


def succeed(run_id: int) -> None:
    """RUNNING → SUCCEEDED."""
    services.run_mark_succeeded(run_id=run_id)


def fail(run_id: int, error: BaseException | str) -> None:
    """Any active status → FAILED with the reason (a finished run keeps its status)."""
    services.run_mark_failed(run_id=run_id, error=error)


def quarantine(run_id: int, error: BaseException) -> None:
    """Active → QUARANTINED: the inputs are unusable."""
    services.run_mark_quarantined(run_id=run_id, error=error)


def missing_init_times(init_times: list) -> list:
    """Those of `init_times` with no succeeded or active run (what a backfill must run)."""
    return selectors.run_missing_init_times(init_times=init_times)


def reap() -> dict[str, object]:
    """Resumes or closes the runs whose flow died, and fails those silent for too long."""
    recovered = services.run_recover_orphans()
    return {"recovered": recovered, "reaped": services.run_reap_stale()}
