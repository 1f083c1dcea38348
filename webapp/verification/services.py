"""Writes of verification records: idempotent upserts of score sums, the per-run summary,
the per-day aggregates and region list kept in step with them."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Sequence

from django.db import connection, transaction
from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from webapp.runs.models import ForecastRun, Product
from webapp.verification.models import (
    DEFAULT_TRUTH,
    SUM_FIELDS,
    RunVerification,
    ScoreDay,
    ScoredRegion,
    ScoresStamp,
    ScoreSum,
    TruthSource,
)
from webapp.verification.scoring import per_run_expressions

_KEY = ["run", "truth_source", "predictor", "variable", "level", "lead_hours", "region"]
_DAY_KEY = ("init_date", "truth_source", "predictor", "variable", "level", "lead_hours", "region")
# Above this many rows a store is "bulk": the planner statistics are refreshed after it.
BULK_ROWS = 20_000


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
    truth_source: str = DEFAULT_TRUTH,
) -> int:
    """Upserts score sums of a run (re-scoring replaces, never duplicates) and its summary,
    then recomputes the per-day aggregates of the run's init day.

    Args:
      run_id: the run.
      rows: dicts with predictor, variable, level, lead_hours, region, valid_time and the
        `SUM_FIELDS` (NaN → null); a row's own `truth_source` overrides the argument.
      leads_total: how many leads the run has.
      truth_until: newest valid time whose truth was available.
      climatology, notes: what climatology was used; what was skipped and why.
      task_id: the Celery task that scored it.
      truth_source: what the truth was (`TruthSource`: "era5" unless told).

    Returns:
      The number of rows written.

    Raises:
      ValueError: a row names a truth source that is not a `TruthSource`.
    """
    run = ForecastRun.objects.get(pk=run_id)
    objects = []
    leads = set()
    for row in rows:
        sums = {name: _clean(row.get(name)) for name in SUM_FIELDS}
        truth = row.get("truth_source") or truth_source
        if truth not in TruthSource.values:
            raise ValueError(
                f"run {run_id}: truth source {truth!r} is not one of {TruthSource.values}"
            )
        objects.append(
            ScoreSum(
                run_id=run_id,
                truth_source=truth,
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
        _register_regions({obj.region for obj in objects})
        verification_refresh_days(init_dates=[run.init_time.astimezone(dt.UTC).date()])
    if len(objects) >= BULK_ROWS:
        database_analyze(tables=[ScoreSum._meta.db_table, ScoreDay._meta.db_table])
    return len(objects)


def _register_regions(names: Iterable[str]) -> None:
    ScoredRegion.objects.bulk_create(
        [ScoredRegion(name=name) for name in sorted(set(names))], ignore_conflicts=True
    )


def verification_refresh_days(*, init_dates: Sequence[dt.date] | None = None) -> int:
    """Recomputes the `ScoreDay` aggregates of these UTC init days (all days if None).

    Computed in the database from `ScoreSum`, deleting the days' old rows first, so the result
    is the same however often and in whatever order runs are (re-)scored. Also bumps the
    cached-page version so pages built on scores are rebuilt.

    Returns:
      The number of aggregate rows written.
    """
    sums = ScoreSum.objects.all()
    days = ScoreDay.objects.all()
    if init_dates is not None:
        init_dates = sorted(set(init_dates))
        if not init_dates:
            return 0
        in_days = Q()
        for day in init_dates:
            start = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
            in_days |= Q(init_time__gte=start, init_time__lt=start + dt.timedelta(days=1))
        sums = sums.filter(in_days)
        days = days.filter(init_date__in=init_dates)
    per_run = per_run_expressions()
    grouped = (
        sums.annotate(init_date=TruncDate("init_time", tzinfo=dt.UTC))
        .values(*_DAY_KEY)
        .annotate(
            runs=Count("id"),
            **{f"{name}_total": Sum(expr) for name, expr in per_run.items()},
            **{f"{name}_count": Count(expr) for name, expr in per_run.items()},
        )
        .order_by()
    )
    written = 0
    with transaction.atomic():
        days.delete()
        batch: list[ScoreDay] = []
        for row in grouped.iterator(chunk_size=5000):
            batch.append(ScoreDay(**row))
            if len(batch) >= 5000:
                ScoreDay.objects.bulk_create(batch)
                written += len(batch)
                batch = []
        ScoreDay.objects.bulk_create(batch)
        written += len(batch)
    if init_dates is None:
        _register_regions(ScoreDay.objects.values_list("region", flat=True).distinct())
    scores_changed()
    return written


def scores_changed() -> None:
    """Stamps the time scores changed: cached score pages are keyed by it."""
    ScoresStamp.objects.update_or_create(pk=1, defaults={"changed_at": timezone.now()})


def database_analyze(*, tables: Sequence[str]) -> None:
    """Refreshes the query planner's statistics after a bulk change of these tables.

    Without them SQLite's planner walks the wrong index (a 1 s run page at 1M score rows) and
    PostgreSQL's may until autovacuum gets round to it.
    """
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            for table in tables:
                cursor.execute(f'ANALYZE "{table}"')
        elif connection.vendor == "sqlite":
            for table in tables:
                cursor.execute(f'ANALYZE "{table}"')
            cursor.execute("PRAGMA optimize")


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
    scores_changed()


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
