"""Writes of verification records: idempotent upserts of score sums, the per-run summary."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from webapp.runs.models import ForecastRun, Product
from webapp.verification.models import SUM_FIELDS, RunVerification, ScoreSum

_KEY = ["run", "predictor", "variable", "level", "lead_hours", "region"]


def _clean(value) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) or math.isinf(value) else value


def verification_store_sums(
    *,
    run_id: int,
    rows: Iterable[dict],
    leads_total: int,
    truth_until: dt.datetime | None,
    climatology: str = "",
    notes: str = "",
    task_id: str = "",
) -> int:
    """Upserts score sums of a run (re-scoring replaces, never duplicates) and its summary.

    Args:
      run_id: the run.
      rows: dicts with predictor, variable, level, lead_hours, region, valid_time and the
        `SUM_FIELDS` (NaN → null).
      leads_total: how many leads the run has.
      truth_until: newest valid time whose truth was available.
      climatology, notes: what climatology was used; what was skipped and why.
      task_id: the Celery task that scored it.

    Returns:
      The number of rows written.
    """
    run = ForecastRun.objects.get(pk=run_id)
    objects = []
    leads = set()
    for row in rows:
        sums = {name: _clean(row.get(name)) for name in SUM_FIELDS}
        objects.append(
            ScoreSum(
                run_id=run_id,
                predictor=row["predictor"],
                variable=row["variable"],
                level=int(row["level"]),
                lead_hours=int(row["lead_hours"]),
                region=row["region"],
                init_time=run.init_time,
                valid_time=row["valid_time"],
                **sums,
            )
        )
        leads.add(int(row["lead_hours"]))
    with transaction.atomic():
        ScoreSum.objects.bulk_create(
            objects,
            batch_size=2000,
            update_conflicts=True,
            unique_fields=_KEY,
            update_fields=["valid_time", "init_time", "updated_at", *SUM_FIELDS],
        )
        record, _ = RunVerification.objects.select_for_update().get_or_create(run_id=run_id)
        record.leads_scored = sorted(set(record.leads_scored) | leads)
        record.leads_total = leads_total
        record.truth_until = truth_until
        record.climatology = climatology
        record.notes = notes
        record.scored_at = timezone.now()
        record.error_type = record.error_message = ""
        if task_id:
            record.celery_task_id = task_id
        record.save()
    return len(objects)


def verification_record_failure(*, run_id: int, error: BaseException | str) -> None:
    """Records why scoring a run failed (the run itself keeps its status)."""
    error_type = type(error).__name__ if isinstance(error, BaseException) else "Error"
    RunVerification.objects.update_or_create(
        run_id=run_id, defaults={"error_type": error_type, "error_message": str(error)[:5000]}
    )


def verification_record_plots(*, run_id: int, plots: dict[str, str]) -> None:
    """Records the run's score plots (paths relative to MEDIA_ROOT)."""
    record, _ = RunVerification.objects.get_or_create(run_id=run_id)
    record.plots = {**record.plots, **plots}
    record.save(update_fields=["plots", "updated_at"])


def verification_publish_error_maps(*, run_id: int, products: Iterable[dict]) -> int:
    """Adds (or replaces) the run's error-map Products; its other products are untouched.

    Args:
      products: dicts with variable, level (None for surface), lead_hours, file (relative to
        MEDIA_ROOT).
    """
    count = 0
    with transaction.atomic():
        for item in products:
            Product.objects.update_or_create(
                run_id=run_id,
                kind=Product.Kind.ERROR_MAP,
                variable=item["variable"],
                level=item.get("level"),
                lead_hours=item["lead_hours"],
                defaults={"file": item["file"]},
            )
            count += 1
    return count
