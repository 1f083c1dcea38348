"""Celery tasks of verification (queue `cpu`): score a run, render the cross-run summary plots.

Each takes ids, re-fetches and calls one function of `webapp.verification.execution`; both are
idempotent (scores are upserted, plots overwritten atomically).
"""

from __future__ import annotations

import pyproj  # noqa: F401
from celery import shared_task

# pyproj (cartopy) must initialise before netCDF4 opens any file in this worker process, or the
# heap is corrupted and the worker aborts at exit; Celery imports this module at start-up.


@shared_task(
    bind=True,
    name="webapp.verification.tasks.score_run_task",
    queue="cpu",
    acks_late=True,
    reject_on_worker_lost=True,
)
def score_run_task(self, run_id: int, truth_source: str = "era5") -> dict:
    """Scores run `run_id` against its truth file of `truth_source`; returns what was scored."""
    from webapp.verification.execution import execute_scoring

    return execute_scoring(run_id=run_id, task_id=self.request.id or "", truth_source=truth_source)


@shared_task(
    name="webapp.verification.tasks.render_summary_task",
    queue="cpu",
    acks_late=True,
    reject_on_worker_lost=True,
)
def render_summary_task() -> list[str]:
    """Renders the verification history and scorecard plots; returns their media paths."""
    from webapp.verification.execution import render_summary_plots

    return render_summary_plots()
