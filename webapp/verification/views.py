"""Thin views of the verification pages: parse the request, call selectors, render."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views import View

from webapp.runs import selectors as run_selectors
from webapp.runs.models import ForecastRun
from webapp.verification import selectors

BASELINES = ("persistence", "climatology")


def _media_url(relative: str) -> str | None:
    """URL of a file under MEDIA_ROOT, or None when it has not been rendered yet."""
    if not (Path(settings.MEDIA_ROOT) / relative).is_file():
        return None
    return settings.MEDIA_URL + relative


def _region(request: HttpRequest) -> str:
    region = request.GET.get("region", "global")
    return region if region in selectors.regions_scored() or region == "global" else "global"


class VerificationHistoryView(View):
    """The verification record across runs: history plots, window scores, verified runs."""

    def get(self, request: HttpRequest) -> HttpResponse:
        region = _region(request)
        days = int(request.GET.get("days", "0") or 0)
        init_from = timezone.now() - dt.timedelta(days=days) if days > 0 else None
        fields = []
        for variable, level, label in selectors.HEADLINE_FIELDS:
            scores = selectors.window_scores(
                variable=variable, level=level, region=region, init_from=init_from
            )
            if "model" not in scores:
                continue
            leads = [h for h in selectors.HISTORY_LEADS if h in scores["model"]]
            fields.append(
                {
                    "label": label,
                    "variable": variable,
                    "level": level,
                    "rows": [
                        {
                            "lead": lead,
                            **{p: scores.get(p, {}).get(lead) for p in selectors.PREDICTORS},
                        }
                        for lead in leads
                    ],
                    "history_rmse": _media_url(f"verification/history_{variable}_{level}_rmse.png"),
                    "history_acc": _media_url(f"verification/history_{variable}_{level}_acc.png"),
                }
            )
        context = {
            "region": region,
            "regions": selectors.regions_scored(),
            "days": days,
            "fields": fields,
            "verified": selectors.verified_runs(),
        }
        return render(request, "verification/history.html", context)


class ScorecardView(View):
    """Model vs a baseline, % change by field and lead over a window of init times."""

    def get(self, request: HttpRequest) -> HttpResponse:
        region = _region(request)
        baseline = request.GET.get("baseline", "persistence")
        baseline = baseline if baseline in BASELINES else "persistence"
        metric = "acc" if request.GET.get("metric") == "acc" else "rmse"
        days = int(request.GET.get("days", "0") or 0)
        init_from = timezone.now() - dt.timedelta(days=days) if days > 0 else None
        card = selectors.scorecard(
            region=region, baseline=baseline, metric=metric, init_from=init_from
        )
        leads = sorted({lead for _, lead in card})
        labels = list(dict.fromkeys(label for label, _ in card))
        rows = [
            {"label": label, "cells": [card.get((label, lead)) for lead in leads]}
            for label in labels
        ]
        context = {
            "region": region,
            "regions": selectors.regions_scored(),
            "baseline": baseline,
            "baselines": BASELINES,
            "metric": metric,
            "days": days,
            "leads": leads,
            "rows": rows,
            "image": _media_url(f"verification/scorecard_{baseline}.png")
            if region == "global" and metric == "rmse" and not days
            else None,
        }
        return render(request, "verification/scorecard.html", context)


class RunScoresView(View):
    """One run's scores against lead time, with the baselines, for every scored field."""

    def get(self, request: HttpRequest, run_id: int) -> HttpResponse:
        try:
            run = run_selectors.run_get(run_id=run_id)
        except ForecastRun.DoesNotExist:
            raise Http404(f"no forecast run {run_id}") from None
        region = _region(request)
        record = selectors.run_verification_get(run=run)
        tables = []
        for variable, level in selectors.run_scored_fields(run=run):
            curves = selectors.run_score_curves(
                run=run,
                variable=variable,
                level=level,
                region=region,
                metrics=("rmse", "acc", "bias"),
            )
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
            "regions": selectors.regions_scored(),
            "tables": tables,
            "plots": plots,
            "error_maps": selectors.run_error_map_count(run=run),
        }
        return render(request, "verification/run_scores.html", context)
