"""Reads of verification records: scores of a run, of any window of runs, history, scorecards.

Per-run scores are read from the run's `ScoreSum` rows (one query per run page); window scores
(history tables, scorecards) from the per-day aggregates `ScoreDay`, one query for all fields,
so a page costs the same at 1,000 or 1,000,000 score rows. Definitions: `scoring`.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Sequence

from django.db.models import Count, Max, Q, QuerySet, Sum

from webapp.runs.models import ForecastRun, Product
from webapp.verification.models import (
    DEFAULT_TRUTH,
    RunVerification,
    ScoreDay,
    ScoredRegion,
    ScoresStamp,
    ScoreSum,
    TruthSource,
)
from webapp.verification.scoring import MEAN_SCORES, per_run_expressions, window_from_totals

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
# Windows of init days the pages offer; the default is bounded so a page's cost is too.
WINDOW_DAYS = (30, 90, 365, 0)
DEFAULT_WINDOW_DAYS = 90

Field = tuple[str, int]
# {(variable, level): {predictor: {lead_hours: {"n", "rmse", "mse", "bias", "mae", "acc"}}}}
FieldScores = dict[Field, dict[str, dict[int, dict[str, float | None]]]]


def _fields_q(fields: Sequence[Field]) -> Q:
    q = Q()
    for variable, level in fields:
        q |= Q(variable=variable, level=level)
    return q


def latest_scored_day() -> dt.date | None:
    """The newest UTC init day with any score (one index lookup)."""
    latest = ScoreSum.objects.aggregate(latest=Max("init_time"))["latest"]
    return latest.astimezone(dt.UTC).date() if latest is not None else None


def window_start(*, days: int, end: dt.date | None = None) -> dt.date | None:
    """First UTC init day of a window of `days` days ending at `end` (default: the newest
    scored day, so a quiet spell does not empty the pages); None means all history."""
    if days <= 0:
        return None
    end = end or latest_scored_day()
    return end - dt.timedelta(days=days - 1) if end is not None else None


def fields_window_scores(
    *,
    fields: Sequence[Field],
    region: str = "global",
    truth_source: str = DEFAULT_TRUTH,
    init_from: dt.date | None = None,
    init_to: dt.date | None = None,
    predictors: Sequence[str] | None = None,
) -> FieldScores:
    """Scores of several fields over a window of UTC init days, in one query of `ScoreDay`.

    Args:
      fields: (variable, level) pairs (level 0 for surface fields).
      region: region name as stored ("global", "europe", ...).
      truth_source: what the runs were scored against.
      init_from, init_to: first and last UTC init day (inclusive); None leaves it open.
      predictors: restrict to these (default: all).
    """
    if not fields:
        return {}
    qs = ScoreDay.objects.filter(_fields_q(fields), truth_source=truth_source, region=region)
    if init_from is not None:
        qs = qs.filter(init_date__gte=init_from)
    if init_to is not None:
        qs = qs.filter(init_date__lte=init_to)
    if predictors is not None:
        qs = qs.filter(predictor__in=list(predictors))
    rows = (
        qs.values("variable", "level", "predictor", "lead_hours")
        .annotate(
            n=Sum("runs"),
            **{f"t_{name}": Sum(f"{name}_total") for name in MEAN_SCORES},
            **{f"c_{name}": Sum(f"{name}_count") for name in MEAN_SCORES},
        )
        .order_by()
    )
    result: FieldScores = defaultdict(lambda: defaultdict(dict))
    for row in rows:
        result[(row["variable"], row["level"])][row["predictor"]][row["lead_hours"]] = (
            window_from_totals(
                runs=row["n"],
                totals={name: row[f"t_{name}"] for name in MEAN_SCORES},
                counts={name: row[f"c_{name}"] for name in MEAN_SCORES},
            )
        )
    return {field: dict(by_pred) for field, by_pred in result.items()}


def window_scores(
    *,
    variable: str,
    level: int,
    region: str = "global",
    truth_source: str = DEFAULT_TRUTH,
    runs: QuerySet | Sequence[int] | None = None,
    init_from: dt.date | None = None,
    init_to: dt.date | None = None,
) -> dict[str, dict[int, dict[str, float | None]]]:
    """Scores of one field over a window of runs.

    Args:
      variable, level: the field (level 0 for surface fields).
      region: region name (as stored, e.g. "global", "europe").
      truth_source: what the runs were scored against.
      runs: exactly these runs (ids or a queryset), read from their sums; otherwise
        init_from/init_to: a window of UTC init days (inclusive), read from the day aggregates.

    Returns:
      `{predictor: {lead_hours: {"rmse", "mse", "bias", "mae", "acc", "n"}}}` — n = runs.
    """
    if runs is None:
        return fields_window_scores(
            fields=[(variable, level)],
            region=region,
            truth_source=truth_source,
            init_from=init_from,
            init_to=init_to,
        ).get((variable, level), {})
    per_run = per_run_expressions()
    rows = (
        ScoreSum.objects.filter(
            variable=variable,
            level=level,
            region=region,
            truth_source=truth_source,
            run__in=runs,
        )
        .values("predictor", "lead_hours")
        .annotate(
            n=Count("id"),
            **{f"t_{name}": Sum(expr) for name, expr in per_run.items()},
            **{f"c_{name}": Count(expr) for name, expr in per_run.items()},
        )
        .order_by()
    )
    result: dict[str, dict[int, dict]] = defaultdict(dict)
    for row in rows:
        result[row["predictor"]][row["lead_hours"]] = window_from_totals(
            runs=row["n"],
            totals={name: row[f"t_{name}"] for name in MEAN_SCORES},
            counts={name: row[f"c_{name}"] for name in MEAN_SCORES},
        )
    return dict(result)


def run_scores(
    *, run: ForecastRun | int, region: str = "global", truth_source: str = DEFAULT_TRUTH
) -> FieldScores:
    """Every score of one run in one query: `{(variable, level): {predictor: {lead: scores}}}`."""
    run_id = run if isinstance(run, int) else run.pk
    per_run = per_run_expressions()
    rows = (
        ScoreSum.objects.filter(run_id=run_id, region=region, truth_source=truth_source)
        .annotate(**{f"s_{name}": expr for name, expr in per_run.items()})
        .values("variable", "level", "predictor", "lead_hours", *(f"s_{n}" for n in per_run))
        .order_by()
    )
    result: FieldScores = defaultdict(lambda: defaultdict(dict))
    for row in rows:
        scores = {name: row[f"s_{name}"] for name in MEAN_SCORES}
        mse = scores["mse"]
        scores["rmse"] = math.sqrt(mse) if mse is not None and mse >= 0 else None
        scores["n"] = 1
        result[(row["variable"], row["level"])][row["predictor"]][row["lead_hours"]] = scores
    return {field: dict(by_pred) for field, by_pred in result.items()}


def run_scores_by_truth(*, run: ForecastRun | int, region: str = "global") -> list[dict]:
    """The model's RMSE of the headline fields against each truth source, side by side.

    Returns:
      `[{"variable", "level", "label", "lead_hours", "rmse": {truth_source: value | None}}]`
      for every headline field and lead scored against any truth, headline order then lead.
    """
    by_truth = {
        truth: run_scores(run=run, region=region, truth_source=truth)
        for truth in TruthSource.values
    }
    rows = []
    for variable, level, label in HEADLINE_FIELDS:
        leads = sorted(
            {
                lead
                for scores in by_truth.values()
                for lead in scores.get((variable, level), {}).get("model", {})
            }
        )
        for lead in leads:
            rmse = {
                truth: scores.get((variable, level), {}).get("model", {}).get(lead, {}).get("rmse")
                for truth, scores in by_truth.items()
            }
            rows.append(
                {
                    "variable": variable,
                    "level": level,
                    "label": label,
                    "lead_hours": lead,
                    "rmse": rmse,
                }
            )
    return rows


def order_fields(fields) -> list[Field]:
    """Headline fields first (in their order), then the rest alphabetically."""
    fields = set(fields)
    headline = [(v, lv) for v, lv, _ in HEADLINE_FIELDS if (v, lv) in fields]
    return headline + sorted(fields - set(headline))


def score_curves(
    scores: dict[str, dict[int, dict]], metrics: Sequence[str] = ("rmse", "acc", "bias")
) -> dict[str, dict[str, dict[int, float | None]]]:
    """One field's scores as curves: `{metric: {predictor: {lead_hours: value}}}`."""
    return {
        metric: {
            predictor: {lead: values[metric] for lead, values in sorted(by_lead.items())}
            for predictor, by_lead in scores.items()
        }
        for metric in metrics
    }


def run_score_curves(
    *, run: ForecastRun, variable: str, level: int, region: str = "global",
    truth_source: str = DEFAULT_TRUTH, metrics: Sequence[str] = ("rmse", "acc", "bias"),
) -> dict[str, dict[str, dict[int, float | None]]]:  # fmt: skip
    """One run's scores against lead time: `{metric: {predictor: {lead_hours: value}}}`."""
    scores = window_scores(
        variable=variable, level=level, region=region, truth_source=truth_source, runs=[run.pk]
    )
    return score_curves(scores, metrics)


def run_scored_fields(*, run: ForecastRun) -> list[Field]:
    """The (variable, level) fields scored for a run, headline fields first."""
    fields = (
        ScoreSum.objects.filter(run=run, predictor="model", region="global")
        .values_list("variable", "level")
        .distinct()
    )
    return order_fields(fields)


def verification_history(
    *,
    variable: str,
    level: int,
    region: str = "global",
    metric: str = "rmse",
    lead_hours: Sequence[int] = HISTORY_LEADS,
    predictors: Sequence[str] = ("model", "persistence"),
    truth_source: str = DEFAULT_TRUTH,
    init_from: dt.datetime | None = None,
) -> dict[str, list[tuple[dt.datetime, float | None]]]:
    """A score at fixed leads against init time, one series per (predictor, lead).

    Returns:
      `{"<predictor> <lead> h": [(init_time, value), ...]}`, oldest first; only leads that
      some run has been verified at and that have a defined value.
    """
    expressions = per_run_expressions()
    qs = ScoreSum.objects.filter(
        variable=variable,
        level=level,
        region=region,
        truth_source=truth_source,
        lead_hours__in=list(lead_hours),
        predictor__in=list(predictors),
    )
    if init_from is not None:
        qs = qs.filter(init_time__gte=init_from)
    rows = (
        qs.annotate(**expressions)
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


def percent_change(model: float | None, base: float | None) -> float | None:
    """100·(model − base)/|base|, or None where either is undefined or the base is 0."""
    if model is None or base is None or base == 0.0:
        return None
    return 100.0 * (model - base) / abs(base)


def scorecard(
    *,
    region: str = "global",
    baseline: str = "persistence",
    metric: str = "rmse",
    truth_source: str = DEFAULT_TRUTH,
    init_from: dt.date | None = None,
    init_to: dt.date | None = None,
    fields: Sequence[tuple[str, int, str]] = HEADLINE_FIELDS,
) -> dict[tuple[str, int], float | None]:
    """The model's % change against a baseline over a window: 100·(model − base)/|base|.

    For RMSE/MAE negative is better; for ACC positive is better. One query for all fields.

    Returns:
      `{(field label, lead_hours): percent}` for every field and lead both have scores for.
    """
    scores = fields_window_scores(
        fields=[(v, lv) for v, lv, _ in fields],
        region=region,
        truth_source=truth_source,
        init_from=init_from,
        init_to=init_to,
        predictors=("model", baseline),
    )
    card: dict[tuple[str, int], float | None] = {}
    for variable, level, label in fields:
        by_pred = scores.get((variable, level), {})
        model, base = by_pred.get("model", {}), by_pred.get(baseline, {})
        for lead in sorted(set(model) & set(base)):
            card[(label, lead)] = percent_change(model[lead].get(metric), base[lead].get(metric))
    return card


def run_verification_get(*, run: ForecastRun) -> RunVerification | None:
    """The run's verification summary record, if it has been scored at all."""
    return RunVerification.objects.filter(run=run).first()


def run_headline_table(
    *, run: ForecastRun, region: str = "global", leads: Sequence[int] = (24, 72, 120, 240),
    truth_source: str = DEFAULT_TRUTH,
) -> list[dict]:  # fmt: skip
    """Per headline field: the run's RMSE and ACC at a few leads, with persistence's RMSE.

    Returns:
      `[{"label", "variable", "level", "cells": [{"lead", "rmse", "acc", "persistence_rmse"}]}]`
    """
    scores = run_scores(run=run, region=region, truth_source=truth_source)
    table = []
    for variable, level, label in HEADLINE_FIELDS:
        by_pred = scores.get((variable, level), {})
        if "model" not in by_pred:
            continue
        cells = []
        for lead in leads:
            model = by_pred["model"].get(lead)
            if model is None:
                continue
            cells.append(
                {
                    "lead": lead,
                    "rmse": model["rmse"],
                    "acc": model["acc"],
                    "persistence_rmse": by_pred.get("persistence", {}).get(lead, {}).get("rmse"),
                }
            )
        table.append({"label": label, "variable": variable, "level": level, "cells": cells})
    return table


def run_error_map_count(*, run: ForecastRun) -> int:
    """How many error maps the run has (they are shown among its products)."""
    return Product.objects.filter(run=run, kind=Product.Kind.ERROR_MAP).count()


def verified_runs() -> QuerySet[RunVerification]:
    """Runs with any scores, newest init time first (paginate it)."""
    return RunVerification.objects.select_related("run").order_by("-run__init_time", "-run_id")


def regions_scored() -> list[str]:
    """Region names some score exists for (from the small region table)."""
    return list(ScoredRegion.objects.values_list("name", flat=True))


def runs_awaiting_verification(
    *, run_ids: Sequence[int] | None = None, truth_source: str = DEFAULT_TRUTH
) -> list[dict]:
    """Succeeded runs not yet verified against `truth_source` at every lead (the IFS
    analysis: open-data runs only).

    Returns:
      `[{"run_id", "data_source", "leads_scored": [hours]}]`, oldest init time first.
    """
    runs = ForecastRun.objects.filter(status=ForecastRun.Status.SUCCEEDED).order_by("init_time")
    if truth_source != DEFAULT_TRUTH:
        runs = runs.filter(data_source="opendata")
    if run_ids is not None:
        runs = runs.filter(pk__in=list(run_ids))
    out = []
    for run in runs:
        scored = sorted(
            ScoreSum.objects.filter(run=run, truth_source=truth_source, predictor="model")
            .values_list("lead_hours", flat=True)
            .distinct()
        )
        if len(scored) < run.steps:
            out.append({"run_id": run.pk, "data_source": run.data_source, "leads_scored": scored})
    return out


def run_scores_display(
    *, run: ForecastRun, region: str = "global", truth_source: str = DEFAULT_TRUTH
) -> list[dict]:
    """Every score of a run in display units with human names (the API's shape).

    Returns:
      `[{"variable", "level", "name", "units", "predictors": {predictor: [{"lead_hours",
      "valid_time", "rmse", "bias", "mae", "acc"}]}}]`, headline fields first.
    """
    from webapp.verification.display import score_style, scores_to_display

    scores = run_scores(run=run, region=region, truth_source=truth_source)
    out = []
    for variable, level in order_fields(scores):
        style = score_style(variable, level)
        predictors = {}
        for predictor, by_lead in sorted(scores[(variable, level)].items()):
            predictors[predictor] = [
                {
                    "lead_hours": lead,
                    "valid_time": run.init_time + dt.timedelta(hours=lead),
                    **{
                        k: v
                        for k, v in scores_to_display(values, style).items()
                        if k in ("rmse", "bias", "mae", "acc")
                    },
                }
                for lead, values in sorted(by_lead.items())
            ]
        out.append(
            {
                "variable": variable,
                "level": level,
                "name": style.label,
                "units": style.units,
                "predictors": predictors,
            }
        )
    return out


def scores_version() -> str:
    """When scores last changed (keys the cached score pages; one primary-key lookup)."""
    stamp = ScoresStamp.objects.filter(pk=1).values_list("changed_at", flat=True).first()
    return stamp.isoformat() if stamp is not None else "never"
