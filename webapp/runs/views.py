"""Thin views of the runs pages: parse the request, call one selector, render."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views import View

from webapp.runs import selectors
from webapp.runs.models import ForecastRun


class RunListView(View):
    """All recent runs, newest first."""

    def get(self, request: HttpRequest) -> HttpResponse:
        return render(request, "runs/run_list.html", {"runs": selectors.run_list()})


def _get_run(run_id: int) -> ForecastRun:
    try:
        return selectors.run_get(run_id=run_id)
    except ForecastRun.DoesNotExist:
        raise Http404(f"no forecast run {run_id}") from None


class RunDetailView(View):
    """One run: its identity, status, lineage and maps (a lead-time slider per product)."""

    def get(self, request: HttpRequest, run_id: int) -> HttpResponse:
        run = _get_run(run_id)
        context = {
            "run": run,
            "panels": selectors.run_product_panels(run=run),
            "lineage": selectors.run_lineage_rows(run=run),
        }
        return render(request, "runs/run_detail.html", context)


class RunStatusApi(View):
    """The run's status and progress as JSON (the detail page polls it while a run is active)."""

    def get(self, request: HttpRequest, run_id: int) -> JsonResponse:
        run = _get_run(run_id)
        return JsonResponse(
            {
                "id": run.pk,
                "status": run.status,
                "stage": run.stage,
                "progress_step": run.progress_step,
                "progress_total": run.progress_total,
                "error_type": run.error_type,
                "error_message": run.error_message,
            }
        )
