"""Reads of runs and products for the pages and the flows."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.db.models import QuerySet

from webapp.runs.models import ForecastRun, Product


def run_list(*, limit: int = 200) -> QuerySet[ForecastRun]:
    """The most recent runs, newest init time first."""
    return ForecastRun.objects.select_related("rerun_of", "triggered_by_user")[:limit]


def run_get(*, run_id: int) -> ForecastRun:
    """One run (raises `ForecastRun.DoesNotExist`)."""
    return ForecastRun.objects.select_related("rerun_of", "triggered_by_user").get(pk=run_id)


def run_product_panels(*, run: ForecastRun) -> list[dict]:
    """The run's maps grouped for display: one panel per (kind, variable, level), its frames
    ordered by lead time.

    Returns:
      `[{"kind", "variable", "level", "title", "frames": [{"lead_hours", "url"}, ...]}, ...]`.
    """
    groups: dict[tuple, list[Product]] = defaultdict(list)
    for product in Product.objects.filter(run=run).order_by(
        "kind", "variable", "level", "lead_hours"
    ):
        groups[(product.kind, product.variable, product.level)].append(product)
    panels = []
    for (kind, variable, level), products in groups.items():
        title = variable.replace("_", " ")
        if level:
            title = f"{title} at {level} hPa"
        if kind != Product.Kind.MAP:
            title = f"{title} ({Product.Kind(kind).label.lower() if kind in Product.Kind.values else kind})"
        panels.append(
            {
                "kind": kind,
                "variable": variable,
                "level": level,
                "title": title[:1].upper() + title[1:],
                "frames": [{"lead_hours": p.lead_hours, "url": p.file.url} for p in products],
            }
        )
    return panels


def run_missing_init_times(*, init_times: list) -> list:
    """Those of `init_times` with no succeeded or active run (what a backfill must run)."""
    done = set(
        ForecastRun.objects.filter(init_time__in=init_times)
        .exclude(status__in=[ForecastRun.Status.FAILED, ForecastRun.Status.QUARANTINED])
        .values_list("init_time", flat=True)
    )
    return [t for t in init_times if t not in done]


def _describe(value: Any) -> str:
    """A lineage value as readable text: mappings as `key value` pairs, lists one item a line."""
    if isinstance(value, dict):
        return " · ".join(f"{key} {_describe(item)}" for key, item in value.items())
    if isinstance(value, list | tuple):
        if all(not isinstance(item, dict | list | tuple) for item in value):
            return ", ".join(str(item) for item in value)
        return "\n".join(_describe(item) for item in value)
    return "—" if value is None else str(value)


def run_lineage_rows(*, run: ForecastRun) -> list[tuple[str, str]]:
    """The run's lineage and timings as (label, text) rows for display."""
    rows = [(key.replace("_", " "), _describe(value)) for key, value in run.lineage.items()]
    rows += [
        (f"time: {stage.replace('_', ' ')}", f"{seconds:.1f} s")
        for stage, seconds in run.timings.items()
    ]
    return rows
