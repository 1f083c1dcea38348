"""Thin views of the runs pages: parse the request, call one selector, render."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.decorators import method_decorator
from django.views import View

from webapp.pagecache import shared_page
from webapp.runs import selectors
from webapp.runs.forms import RunFilterForm
from webapp.runs.models import ForecastRun


@method_decorator(shared_page(timeout=300, version=selectors.runs_version), name="get")
class RunListView(View):
    """Runs, newest first: filters (status, init days, predictor, data, trigger), paginated."""

    PER_PAGE = 50

    def get(self, request: HttpRequest) -> HttpResponse:
        form = RunFilterForm(request.GET or None)
        runs = selectors.run_list(**form.filters()) if form.is_bound else selectors.run_list()
        page = Paginator(runs, self.PER_PAGE).get_page(request.GET.get("page"))
        context = {
            "runs": page,
            "page": page,
            "form": form,
            "filtered": bool(form.is_bound and form.filters()),
            "predictor_names": selectors.run_predictor_names(),
        }
        return render(request, "runs/run_list.html", context)


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
