"""Thin views of the verification pages: parse the request, call selectors, render."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.decorators import method_decorator
from django.views import View

from webapp.pagecache import shared_page
from webapp.runs import selectors as run_selectors
from webapp.runs.models import ForecastRun
from webapp.verification import selectors
from webapp.verification.models import DEFAULT_TRUTH, TruthSource

# Score pages are the same for everyone and change only when scores are stored.
_cached = method_decorator(shared_page(timeout=300, version=selectors.scores_version), name="get")

BASELINES = ("persistence", "climatology")


def _media_url(relative: str) -> str | None:
    """URL of a file under MEDIA_ROOT, or None when it has not been rendered yet."""
    if not (Path(settings.MEDIA_ROOT) / relative).is_file():
        return None
    return settings.MEDIA_URL + relative


def _region(request: HttpRequest, regions: list[str]) -> str:
    region = request.GET.get("region", "global")
    return region if region in regions or region == "global" else "global"


def _truth(request: HttpRequest) -> str:
    truth = request.GET.get("truth", DEFAULT_TRUTH)
    return truth if truth in TruthSource.values else DEFAULT_TRUTH


def _days(request: HttpRequest) -> int:
    """The window in days (0 = all history); bounded to the offered windows."""
    try:
        days = int(request.GET.get("days", selectors.DEFAULT_WINDOW_DAYS))
    except ValueError:
        days = selectors.DEFAULT_WINDOW_DAYS
    return days if days in selectors.WINDOW_DAYS else selectors.DEFAULT_WINDOW_DAYS


@_cached
class VerificationHistoryView(View):
    """The verification record across runs: history plots, window scores, verified runs."""

    def get(self, request: HttpRequest) -> HttpResponse:
        regions = selectors.regions_scored()
        region, truth, days = _region(request, regions), _truth(request), _days(request)
        scores = selectors.fields_window_scores(
            fields=[(v, lv) for v, lv, _ in selectors.HEADLINE_FIELDS],
            region=region,
            truth_source=truth,
            init_from=selectors.window_start(days=days),
        )
        fields = []
        for variable, level, label in selectors.HEADLINE_FIELDS:
            by_pred = scores.get((variable, level), {})
            if "model" not in by_pred:
                continue
            leads = [h for h in selectors.HISTORY_LEADS if h in by_pred["model"]]
            fields.append(
                {
                    "label": label,
                    "variable": variable,
                    "level": level,
                    "rows": [
                        {
                            "lead": lead,
                            **{p: by_pred.get(p, {}).get(lead) for p in selectors.PREDICTORS},
                        }
                        for lead in leads
                    ],
                    "history_rmse": _media_url(f"verification/history_{variable}_{level}_rmse.png"),
                    "history_acc": _media_url(f"verification/history_{variable}_{level}_acc.png"),
                }
            )
        page = Paginator(selectors.verified_runs(), 50).get_page(request.GET.get("page"))
        context = {
            "region": region,
            "regions": regions,
            "truth": truth,
            "truths": TruthSource.choices,
            "days": days,
            "windows": selectors.WINDOW_DAYS,
            "fields": fields,
            "verified": page,
            "page": page,
        }
        return render(request, "verification/history.html", context)


@_cached
class ScorecardView(View):
    """Model vs a baseline, % change by field and lead over a window of init times."""

    def get(self, request: HttpRequest) -> HttpResponse:
        regions = selectors.regions_scored()
        region, truth, days = _region(request, regions), _truth(request), _days(request)
        baseline = request.GET.get("baseline", "persistence")
        baseline = baseline if baseline in BASELINES else "persistence"
        metric = "acc" if request.GET.get("metric") == "acc" else "rmse"
        card = selectors.scorecard(
            region=region,
            baseline=baseline,
            metric=metric,
            truth_source=truth,
            init_from=selectors.window_start(days=days),
        )
        leads = sorted({lead for _, lead in card})
        labels = list(dict.fromkeys(label for label, _ in card))
        rows = [
            {"label": label, "cells": [card.get((label, lead)) for lead in leads]}
            for label in labels
        ]
        context = {
            "region": region,
            "regions": regions,
            "truth": truth,
            "truths": TruthSource.choices,
            "windows": selectors.WINDOW_DAYS,
            "baseline": baseline,
            "baselines": BASELINES,
            "metric": metric,
            "days": days,
            "leads": leads,
            "rows": rows,
            "image": _media_url(f"verification/scorecard_{baseline}.png")
            if region == "global" and metric == "rmse" and truth == DEFAULT_TRUTH
            else None,
        }
        return render(request, "verification/scorecard.html", context)


@_cached
class RunScoresView(View):
    """One run's scores against lead time, with the baselines, for every scored field
    (one query for all of them; the fields are paginated)."""

    FIELDS_PER_PAGE = 12

    def get(self, request: HttpRequest, run_id: int) -> HttpResponse:
        try:
            run = run_selectors.run_get(run_id=run_id)
        except ForecastRun.DoesNotExist:
            raise Http404(f"no forecast run {run_id}") from None
        regions = selectors.regions_scored()
        region, truth = _region(request, regions), _truth(request)
        record = selectors.run_verification_get(run=run)
        scores = selectors.run_scores(run=run, region=region, truth_source=truth)
        page = Paginator(selectors.order_fields(scores), self.FIELDS_PER_PAGE).get_page(
            request.GET.get("page")
        )
        tables = []
        for variable, level in page:
            curves = selectors.score_curves(scores[(variable, level)], ("rmse", "acc", "bias"))
            leads = sorted({lead for by_pred in curves["rmse"].values() for lead in by_pred})
            tables.append({"variable": variable, "level": level, "leads": leads, "curves": curves})
        plots = []
        if record is not None:
            plots = [
                {"name": name, "url": url}
                for name, rel in record.plots.items()
                if (url := _media_url(rel)) is not None
            ]
        context = {
            "run": run,
            "record": record,
            "region": region,
            "regions": regions,
            "truth": truth,
            "truths": TruthSource.choices,
            "tables": tables,
            "page": page,
            "plots": plots,
            "error_maps": selectors.run_error_map_count(run=run),
            "by_truth": selectors.run_scores_by_truth(run=run, region=region),
        }
        return render(request, "verification/run_scores.html", context)
