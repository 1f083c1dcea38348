"""Reads of verification records: scores of a run, of any window of runs, history, scorecards.

Scores come from the stored additive sums in the database (`ScoreSum`), with the definitions of
`forecast.verify.metrics` (WeatherBench2's): per run, MSE = sum_e2/sum_w, bias = sum_e/sum_w,
MAE = sum_abs_e/sum_w, ACC = sum_fa/sqrt(sum_ff·sum_aa); over a window of runs (init times),
each is the mean of the per-run values, except RMSE = sqrt(mean MSE) (root after averaging).
A window where some run's value is undefined (null) reports null, as WeatherBench2's
`skipna=False`.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Sequence

from django.db.models import Avg, Case, Count, F, FloatField, Q, QuerySet, Value, When
from django.db.models.functions import Sqrt

from webapp.runs.models import ForecastRun, Product
from webapp.verification.models import RunVerification, ScoreSum

PREDICTORS = ("model", "persistence", "climatology")
HISTORY_LEADS = (24, 72, 120)
# Headline fields for plots and tables: (variable, level, short label).
HEADLINE_FIELDS = (
    ("geopotential", 500, "z500"),
    ("temperature", 850, "t850"),
    ("2m_temperature", 0, "t2m"),
    ("mean_sea_level_pressure", 0, "msl"),
    ("10m_wind_vector", 0, "wv10"),
    ("specific_humidity", 700, "q700"),
    ("wind_vector", 850, "wv850"),
)
METRICS = ("rmse", "mse", "bias", "mae", "acc")


def _per_run_expressions() -> dict:
    float_field = FloatField()
    return {
        "mse": F("sum_e2") / F("sum_w"),
        "bias": F("sum_e") / F("sum_w"),
        "mae": F("sum_abs_e") / F("sum_w"),
        # Undefined (null) where an anomaly vanishes everywhere, e.g. the climatology itself.
        "acc": Case(
            When(
                Q(sum_ff__gt=0) & Q(sum_aa__gt=0),
                then=F("sum_fa") / Sqrt(F("sum_ff") * F("sum_aa")),
            ),
            default=Value(None),
            output_field=float_field,
        ),
    }


def _sums(
    *,
    variable: str,
    level: int,
    region: str,
    runs: QuerySet | Sequence[int] | None = None,
    init_from: dt.datetime | None = None,
    init_to: dt.datetime | None = None,
) -> QuerySet[ScoreSum]:
    qs = ScoreSum.objects.filter(variable=variable, level=level, region=region)
    if runs is not None:
        qs = qs.filter(run__in=runs)
    if init_from is not None:
        qs = qs.filter(init_time__gte=init_from)
    if init_to is not None:
        qs = qs.filter(init_time__lte=init_to)
    return qs


def _finalize(row: dict) -> dict:
    """Window aggregates → scores: null if any run lacks a value; RMSE = sqrt(mean MSE)."""
    out = {"n": row["n"]}
    for name in ("mse", "bias", "mae", "acc"):
        complete = row[f"n_{name}"] == row["n"]
        out[name] = row[name] if complete and row[name] is not None else None
    out["rmse"] = math.sqrt(out["mse"]) if out["mse"] is not None and out["mse"] >= 0 else None
    return out


def window_scores(
    *,
    variable: str,
    level: int,
    region: str = "global",
    runs: QuerySet | Sequence[int] | None = None,
    init_from: dt.datetime | None = None,
    init_to: dt.datetime | None = None,
) -> dict[str, dict[int, dict[str, float | None]]]:
    """Scores over a window of runs, from the stored sums (computed in the database).

    Args:
      variable, level: the field (level 0 for surface fields).
      region: region name (as stored, e.g. "global", "europe").
      runs: restrict to these runs (ids or a queryset); init_from/init_to: init-time window.

    Returns:
      `{predictor: {lead_hours: {"rmse", "mse", "bias", "mae", "acc", "n"}}}` — n = runs.
    """
    expressions = _per_run_expressions()
    rows = (
        _sums(
            variable=variable,
            level=level,
            region=region,
            runs=runs,
            init_from=init_from,
            init_to=init_to,
        )
        .values("predictor", "lead_hours")
        .annotate(
            n=Count("id"),
            **{name: Avg(expr) for name, expr in expressions.items()},
            **{f"n_{name}": Count(expr) for name, expr in expressions.items()},
        )
        .order_by("predictor", "lead_hours")
    )
    result: dict[str, dict[int, dict]] = defaultdict(dict)
    for row in rows:
        result[row["predictor"]][row["lead_hours"]] = _finalize(row)
    return dict(result)


def run_score_curves(
    *, run: ForecastRun, variable: str, level: int, region: str = "global",
    metrics: Sequence[str] = ("rmse", "acc", "bias"),
) -> dict[str, dict[str, dict[int, float | None]]]:  # fmt: skip
    """One run's scores against lead time: `{metric: {predictor: {lead_hours: value}}}`."""
    scores = window_scores(variable=variable, level=level, region=region, runs=[run.pk])
    return {
        metric: {
            predictor: {lead: values[metric] for lead, values in sorted(by_lead.items())}
            for predictor, by_lead in scores.items()
        }
        for metric in metrics
    }


def run_scored_fields(*, run: ForecastRun) -> list[tuple[str, int]]:
    """The (variable, level) fields scored for a run, headline fields first."""
    fields = set(
        ScoreSum.objects.filter(run=run, predictor="model", region="global")
        .values_list("variable", "level")
        .distinct()
    )
    headline = [(v, lv) for v, lv, _ in HEADLINE_FIELDS if (v, lv) in fields]
    return headline + sorted(fields - set(headline))


def verification_history(
    *,
    variable: str,
    level: int,
    region: str = "global",
    metric: str = "rmse",
    lead_hours: Sequence[int] = HISTORY_LEADS,
    predictors: Sequence[str] = ("model", "persistence"),
) -> dict[str, list[tuple[dt.datetime, float | None]]]:
    """A score at fixed leads against init time, one series per (predictor, lead).

    Returns:
      `{"<predictor> <lead> h": [(init_time, value), ...]}`, oldest first; only leads that
      some run has been verified at and that have a defined value.
    """
    expressions = _per_run_expressions()
    rows = (
        _sums(variable=variable, level=level, region=region)
        .filter(lead_hours__in=list(lead_hours), predictor__in=list(predictors))
        .annotate(**expressions)
        .values("predictor", "lead_hours", "init_time", *expressions)
        .order_by("init_time")
    )
    series: dict[str, list] = {}
    for predictor in predictors:
        for lead in lead_hours:
            series[f"{predictor} {lead} h"] = []
    for row in rows:
        value = row["mse" if metric in ("rmse", "mse") else metric]
        if metric == "rmse" and value is not None:
            value = math.sqrt(value)
        series[f"{row['predictor']} {row['lead_hours']} h"].append((row["init_time"], value))
    # Series with no defined value (e.g. ACC of a wind vector) are left out.
    return {
        label: points
        for label, points in series.items()
        if any(value is not None for _, value in points)
    }


def scorecard(
    *,
    region: str = "global",
    baseline: str = "persistence",
    metric: str = "rmse",
    init_from: dt.datetime | None = None,
    init_to: dt.datetime | None = None,
    fields: Sequence[tuple[str, int, str]] = HEADLINE_FIELDS,
) -> dict[tuple[str, int], float | None]:
    """The model's % change against a baseline over a window: 100·(model − base)/|base|.

    For RMSE/MAE negative is better; for ACC positive is better.

    Returns:
      `{(field label, lead_hours): percent}` for every field and lead both have scores for.
    """
    card: dict[tuple[str, int], float | None] = {}
    for variable, level, label in fields:
        scores = window_scores(
            variable=variable, level=level, region=region, init_from=init_from, init_to=init_to
        )
        model, base = scores.get("model", {}), scores.get(baseline, {})
        for lead in sorted(set(model) & set(base)):
            m, b = model[lead].get(metric), base[lead].get(metric)
            card[(label, lead)] = (
                100.0 * (m - b) / abs(b) if m is not None and b not in (None, 0.0) else None
            )
    return card


def run_verification_get(*, run: ForecastRun) -> RunVerification | None:
    """The run's verification summary record, if it has been scored at all."""
    return RunVerification.objects.filter(run=run).first()


def run_headline_table(
    *, run: ForecastRun, region: str = "global", leads: Sequence[int] = (24, 72, 120, 240)
) -> list[dict]:
    """Per headline field: the run's RMSE and ACC at a few leads, with persistence's RMSE.

    Returns:
      `[{"label", "variable", "level", "cells": [{"lead", "rmse", "acc", "persistence_rmse"}]}]`
    """
    table = []
    for variable, level, label in HEADLINE_FIELDS:
        scores = window_scores(variable=variable, level=level, region=region, runs=[run.pk])
        if "model" not in scores:
            continue
        cells = []
        for lead in leads:
            model = scores["model"].get(lead)
            if model is None:
                continue
            cells.append(
                {
                    "lead": lead,
                    "rmse": model["rmse"],
                    "acc": model["acc"],
                    "persistence_rmse": scores.get("persistence", {}).get(lead, {}).get("rmse"),
                }
            )
        table.append({"label": label, "variable": variable, "level": level, "cells": cells})
    return table


def run_error_map_count(*, run: ForecastRun) -> int:
    """How many error maps the run has (they are shown among its products)."""
    return Product.objects.filter(run=run, kind=Product.Kind.ERROR_MAP).count()


def verified_runs(*, limit: int = 200) -> QuerySet[RunVerification]:
    """Runs with any scores, newest init time first."""
    return RunVerification.objects.select_related("run").order_by("-run__init_time")[:limit]


def regions_scored() -> list[str]:
    """Region names present in the stored sums."""
    return sorted(ScoreSum.objects.values_list("region", flat=True).distinct())


def runs_awaiting_verification(*, run_ids: Sequence[int] | None = None) -> list[dict]:
    """Succeeded runs not yet verified at every lead.

    Returns:
      `[{"run_id", "data_source", "leads_scored": [hours]}]`, oldest init time first.
    """
    runs = ForecastRun.objects.filter(status=ForecastRun.Status.SUCCEEDED).order_by("init_time")
    if run_ids is not None:
        runs = runs.filter(pk__in=list(run_ids))
    out = []
    for run in runs.select_related("verification"):
        record = getattr(run, "verification", None)
        scored = list(record.leads_scored) if record is not None else []
        if len(scored) < run.steps:
            out.append({"run_id": run.pk, "data_source": run.data_source, "leads_scored": scored})
    return out
