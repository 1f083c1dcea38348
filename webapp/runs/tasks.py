"""Celery tasks of a run: the rollout (queue `gpu`) and product rendering (queue `cpu`).

Each takes a run id, re-fetches the run and calls one function of `webapp.runs.execution`.
Both are idempotent by run id; `acks_late` + `reject_on_worker_lost` give a rollout whose
worker died back to the queue.
"""

from __future__ import annotations

from celery import shared_task


@shared_task(
    bind=True,
    name="webapp.runs.tasks.rollout_task",
    queue="gpu",
    acks_late=True,
    reject_on_worker_lost=True,
)
def rollout_task(self, run_id: int) -> str:
    """Rolls run `run_id` out and writes `var/runs/<id>/forecast.nc`; returns its path."""
    from webapp.runs.execution import execute_rollout

    return execute_rollout(run_id=run_id, task_id=self.request.id or "")


@shared_task(
    name="webapp.runs.tasks.render_products_task",
    queue="cpu",
    acks_late=True,
    reject_on_worker_lost=True,
)
def render_products_task(run_id: int) -> list[dict]:
    """Renders run `run_id`'s maps; returns the product descriptions to publish."""
    from webapp.runs.execution import execute_render

    return execute_render(run_id=run_id)
