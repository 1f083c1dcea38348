"""Reads of runs and products for the pages and the flows."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from django.core.cache import cache
from django.db import connection
from django.db.models import Q, QuerySet

from webapp.runs.models import ForecastRun, Product


def run_list(
    *,
    status: str = "",
    init_from: dt.date | None = None,
    init_to: dt.date | None = None,
    predictor: str = "",
    data_source: str = "",
    trigger: str = "",
) -> QuerySet[ForecastRun]:
    """Runs matching the filters, newest init time first (paginate it; never sliced here).

    Args:
      status, data_source, trigger: exact `ForecastRun` choice values ("" = any).
      init_from, init_to: first and last UTC init day, inclusive.
      predictor: a predictor name, checkpoint file name or predictor spec ("" = any).
    """
    runs = ForecastRun.objects.select_related("triggered_by_user")
    if status:
        runs = runs.filter(status=status)
    if data_source:
        runs = runs.filter(data_source=data_source)
    if trigger:
        runs = runs.filter(triggered_by=trigger)
    if predictor:
        runs = runs.filter(
            Q(predictor_name=predictor) | Q(checkpoint_name=predictor) | Q(predictor_spec=predictor)
        )
    if init_from is not None:
        runs = runs.filter(init_time__gte=dt.datetime.combine(init_from, dt.time(), dt.UTC))
    if init_to is not None:
        end = dt.datetime.combine(init_to, dt.time(), dt.UTC) + dt.timedelta(days=1)
        runs = runs.filter(init_time__lt=end)
    return runs.order_by("-init_time", "-id")


def runs_version() -> str:
    """When any run last changed, and the newest run's id (keys the cached run pages).

    Saves move `updated_at`; progress and stage writes (queryset updates) move `heartbeat_at`.
    Each part is one index lookup (three scalar subqueries: SQLite, unlike PostgreSQL, uses
    an index for one MIN/MAX per SELECT only); no COUNT, which scans the table. A deleted run
    leaves the pages that showed it until their cache timeout.
    """
    table = connection.ops.quote_name(ForecastRun._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT (SELECT MAX(updated_at) FROM {table}),"  # noqa: S608 (no user input)
            f" (SELECT MAX(heartbeat_at) FROM {table}), (SELECT MAX(id) FROM {table})"
        )
        changed, beat, newest = cursor.fetchone()
    return f"{changed}|{beat}|{newest}"


def run_predictor_names() -> list[str]:
    """Predictor and checkpoint names runs have used (for the run list's filter; cached)."""
    names = cache.get("runs:predictor-names")
    if names is None:
        pairs = ForecastRun.objects.values_list("predictor_name", "checkpoint_name").distinct()
        names = sorted({name for pair in pairs for name in pair if name})
        cache.set("runs:predictor-names", names, 300)
    return names


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


def run_missing_init_times(
    *, init_times: list, predictor_spec: str = "", data_source: str = ""
) -> list:
    """Those of `init_times` with no succeeded or active run (what a backfill must run),
    counting only runs of this predictor and data source when given."""
    runs = ForecastRun.objects.filter(init_time__in=init_times).exclude(
        status__in=[*ForecastRun.RETRYABLE, ForecastRun.Status.QUARANTINED]
    )
    if predictor_spec:
        runs = runs.filter(predictor_spec=predictor_spec)
    if data_source:
        runs = runs.filter(data_source=data_source)
    done = set(runs.values_list("init_time", flat=True))
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


def run_products(*, run: ForecastRun) -> list[dict]:
    """The run's published files with human names and display units, by kind, field and lead.

    Returns:
      `[{"kind", "variable", "level", "name", "units", "lead_hours", "valid_time", "url"}]`.
    """
    from forecast.plots.styles import style_for

    out = []
    for product in Product.objects.filter(run=run).order_by(
        "kind", "variable", "level", "lead_hours"
    ):
        style = style_for(product.variable, product.level)
        lead = product.lead_hours
        out.append(
            {
                "kind": product.kind,
                "variable": product.variable,
                "level": product.level,
                "name": style.label,
                "units": style.units,
                "lead_hours": lead,
                "valid_time": run.init_time + dt.timedelta(hours=lead)
                if lead is not None
                else None,
                "url": product.file.url,
            }
        )
    return out


def run_point_forecast(*, run: ForecastRun, lat: float, lon: float) -> dict:
    """The run's forecast at (lat, lon) in display units: the meteogram's data.

    Read from the run's forecast file (only the four surrounding grid columns) and cached per
    file version and location, as a finished forecast never changes.

    Returns:
      `{"lat", "lon", "grid_lat", "grid_lon", "method", "init_time", "valid_times",
      "lead_hours", "series": [{"variable", "name", "units", "values"}]}`.

    Raises:
      RunDataMissingError: the run has no forecast file (yet).
      forecast.errors.InvalidInputError: the location is off the globe or the grid.
    """
    import math

    from forecast.point import point_series, point_series_to_display
    from webapp.errors import RunDataMissingError
    from webapp.runs.paths import forecast_path

    path = forecast_path(run.pk)
    try:
        version = path.stat().st_mtime_ns
    except FileNotFoundError:
        raise RunDataMissingError(
            f"run {run.pk} has no forecast file (status {run.status})"
        ) from None
    key = f"runs:point:{run.pk}:{version}:{lat:.4f}:{lon:.4f}"
    cached = cache.get(key)
    if cached is not None:
        return cached
    series = point_series_to_display(point_series(path, lat=lat, lon=lon))
    times = [t.astype("datetime64[s]").item().replace(tzinfo=dt.UTC) for t in series["time"].values]
    result = {
        "lat": float(series.attrs["lat"]),
        "lon": float(series.attrs["lon"]),
        "grid_lat": float(series.attrs["grid_lat"]),
        "grid_lon": float(series.attrs["grid_lon"]),
        "method": str(series.attrs["method"]),
        "init_time": run.init_time,
        "valid_times": times,
        "lead_hours": [round((t - run.init_time).total_seconds() / 3600) for t in times],
        "series": [
            {
                "variable": name,
                "name": field.attrs["long_name"],
                "units": field.attrs["units"],
                "values": [None if math.isnan(v) else float(v) for v in field.values],
            }
            for name, field in series.data_vars.items()
        ],
    }
    cache.set(key, result, 3600)
    return result
