"""Celery tasks of a run: the rollout (queue `gpu`), and its products (queue `cpu`): render
parts that run in parallel, then one publish.

Each task owns its step: it takes a run id, reads the run's frozen configuration and makes
one call into `webapp.runs.execution`, which writes the step's results. Both are idempotent
by run id; `acks_late` + `reject_on_worker_lost` give the message of a killed pool process
back to the queue. The flow passes the Celery time limits from the run's config, and
records each task id before it submits it: a task whose id is no longer the run's (a stale
redelivery after the flow re-submitted a lost task) stops without writing.
"""

from __future__ import annotations

import logging

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded

logger = logging.getLogger(__name__)


@shared_task(
    bind=True,
    name="webapp.runs.tasks.rollout_task",
    queue="gpu",
    acks_late=True,
    reject_on_worker_lost=True,
)
def rollout_task(self, run_id: int) -> str:
    """Rolls run `run_id` out and writes `var/runs/<id>/forecast.nc`; returns its path ("" when
    the run was finished, cancelled or superseded meanwhile)."""
    from webapp.runs.execution import RunAborted, execute_rollout

    try:
        return execute_rollout(run_id=run_id, task_id=self.request.id or "")
    except RunAborted as exc:
        logger.warning("rollout of run %s stopped: %s", run_id, exc)
        return ""
    except SoftTimeLimitExceeded:
        raise TimeoutError(
            f"rollout of run {run_id} reached its soft time limit (Celery time limits "
            f"{self.request.timelimit} s) and was stopped"
        ) from None


@shared_task(
    bind=True,
    name="webapp.runs.tasks.render_part_task",
    queue="cpu",
    acks_late=True,
    reject_on_worker_lost=True,
)
def render_part_task(self, run_id: int, part: int, parts: int, token: str) -> int:
    """Renders part `part` of `parts` of run `run_id`'s maps (products attempt `token`);
    returns how many (-1 when the run was finished, cancelled or superseded meanwhile)."""
    from webapp.runs.execution import RunAborted, execute_render_part

    try:
        return execute_render_part(
            run_id=run_id, part=part, parts=parts, token=token, task_id=self.request.id or ""
        )
    except RunAborted as exc:
        logger.warning("render part %s of run %s stopped: %s", part, run_id, exc)
        return -1


@shared_task(
    bind=True,
    name="webapp.runs.tasks.publish_products_task",
    queue="cpu",
    acks_late=True,
    reject_on_worker_lost=True,
)
def publish_products_task(self, run_id: int, token: str, parts: int) -> int:
    """Publishes the maps the `parts` render tasks of attempt `token` drew; returns how many
    (-1 when the run was finished, cancelled or superseded meanwhile)."""
    from webapp.runs.execution import RunAborted, execute_publish_products

    try:
        return execute_publish_products(
            run_id=run_id, token=token, parts=parts, task_id=self.request.id or ""
        )
    except RunAborted as exc:
        logger.warning("products of run %s stopped: %s", run_id, exc)
        return -1


@shared_task(
    bind=True,
    name="webapp.runs.tasks.discard_products_task",
    queue="cpu",
    acks_late=True,
    reject_on_worker_lost=True,
)
def discard_products_task(self, run_id: int, token: str) -> int:
    """Removes the staging directory of run `run_id`'s failed products attempt `token`;
    returns how many files it held."""
    from webapp.runs.execution import discard_products

    return discard_products(run_id=run_id, token=token)
