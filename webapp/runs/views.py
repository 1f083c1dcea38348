"""Thin views of the site: parse the request, call one selector or renderer, render.

Maps, meteograms and files come from `webapp.runs.viewer` (the only module here that touches
forecast/); these views only translate its answers into HTTP.
"""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.views import View

from webapp.pagecache import shared_page
from webapp.runs import selectors, viewer
from webapp.runs.forms import RunFilterForm
from webapp.runs.models import ForecastRun

# Rendered maps never change under their name (new truth → new cache dir): cache for a day.
_IMAGE_CACHE = "public, max-age=86400"


def _site_version() -> str:
    """Runs and scores: what the home, run, viewer and compare pages show."""
    from webapp.verification.selectors import scores_version

    return f"{selectors.runs_version()}|{scores_version()}"


# Pages the same for everyone, cached per data version; 30 s bounds the clock-based parts
# (the home page's next cycle).
_shared = method_decorator(shared_page(timeout=30, version=_site_version), name="get")


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


def _int_or_none(value: str | None, name: str) -> int | None:
    if value in (None, "", "None"):
        return None
    try:
        return int(value)
    except ValueError:
        raise Http404(f"{name} must be a whole number, got {value!r}") from None


def _float(value: str | None, name: str) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise Http404(f"{name} must be a number, got {value!r}") from None


@_shared
class HomeView(View):
    """The latest forecast at a glance and the state of the pipeline."""

    def get(self, request: HttpRequest) -> HttpResponse:
        latest = viewer.home_latest_run()
        lead = _int_or_none(request.GET.get("lead"), "lead") or viewer.HOME_LEADS[0]
        leads = []
        if latest is not None:
            horizon = 6 * latest.steps
            leads = [h for h in viewer.HOME_LEADS if h <= horizon] or [horizon]
            if lead not in leads:
                lead = leads[0]
        context = {
            "latest": latest,
            "lead": lead,
            "leads": leads,
            "key_maps": viewer.home_key_maps(run=latest, lead=lead) if latest else [],
            "verified": viewer.home_latest_verified(),
            "active": viewer.pipeline_active_runs(),
            "next_cycle": viewer.pipeline_next_cycle(),
            "failures": viewer.pipeline_recent_failures(),
        }
        return render(request, "runs/home.html", context)


class PipelineApi(View):
    """Active runs, queue lengths and workers as JSON (the home page polls it)."""

    def get(self, request: HttpRequest) -> JsonResponse:
        active = [
            run
            | {
                "init_time": run["init_time"].isoformat(),
                "eta": run["eta"].isoformat() if run["eta"] else None,
                "url": reverse("runs:detail", args=[run["id"]]),
            }
            for run in viewer.pipeline_active_runs()
        ]
        return JsonResponse({"active": active} | viewer.pipeline_queues())


@_shared
class RunDetailView(View):
    """One run: identity, status, lineage, downloads and a link to its map viewer."""

    def get(self, request: HttpRequest, run_id: int) -> HttpResponse:
        run = _get_run(run_id)
        context = {
            "run": run,
            # File locations are the server's business while the run is still on its way.
            "lineage": selectors.run_lineage_rows(run=run) if run.is_terminal else [],
            "downloads": viewer.run_downloads(run=run),
            "viewer": viewer.run_viewer(run=run),
        }
        return render(request, "runs/run_detail.html", context)


@method_decorator(shared_page(timeout=30, version=selectors.runs_version), name="get")
class RunStatusApi(View):
    """The run's status and progress as JSON (the detail page polls it while a run is active;
    progress writes move the runs' data version, so a cached answer is never behind it)."""

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


@_shared
class RunMapsView(View):
    """The map viewer of one run: field, level, kind, region and lead selectors."""

    def get(self, request: HttpRequest, run_id: int) -> HttpResponse:
        run = _get_run(run_id)
        return render(
            request,
            "runs/viewer.html",
            {"run": run, "viewer": viewer.run_viewer(run=run), "cities": viewer.CITIES},
        )


class MapImageView(View):
    """One map PNG (`?kind=&variable=&level=&region=&lead=&other=`), rendered on first use."""

    def get(self, request: HttpRequest, run_id: int) -> HttpResponse:
        run = _get_run(run_id)
        other_id = _int_or_none(request.GET.get("other"), "other")
        other = _get_run(other_id) if other_id is not None else None
        lead = _int_or_none(request.GET.get("lead"), "lead")
        if lead is None:
            raise Http404("lead is required")
        try:
            path = viewer.map_image(
                run=run,
                kind=request.GET.get("kind", "forecast"),
                variable=request.GET.get("variable", "2m_temperature"),
                level=_int_or_none(request.GET.get("level"), "level"),
                region=request.GET.get("region", "global"),
                lead=lead,
                other=other,
            )
        except viewer.ProductUnavailable as exc:
            raise Http404(str(exc)) from None
        response = FileResponse(path.open("rb"), content_type="image/png")
        response["Cache-Control"] = _IMAGE_CACHE
        return response


class RunDownloadView(View):
    """A file of the run's own store (`forecast.nc`, `truth.nc`), as an attachment."""

    def get(self, request: HttpRequest, run_id: int, name: str) -> HttpResponse:
        run = _get_run(run_id)
        try:
            path = viewer.run_download_path(run=run, name=name)
        except viewer.ProductUnavailable as exc:
            raise Http404(str(exc)) from None
        return FileResponse(
            path.open("rb"),
            as_attachment=True,
            filename=f"run{run.pk}_{run.init_time:%Y%m%dT%H}_{name}",
            content_type="application/x-netcdf",
        )


def _point(request: HttpRequest) -> tuple[float, float, str]:
    """(lat, lon, place) from `?city=` or `?lat=&lon=`; the first city when neither is given."""
    city = request.GET.get("city", "")
    if not city and not request.GET.get("lat"):
        city = next(iter(viewer.CITIES))
    if city:
        if city not in viewer.CITIES:
            raise Http404(f"unknown place {city!r}")
        lat, lon = viewer.CITIES[city]
        return lat, lon, city
    return _float(request.GET.get("lat"), "lat"), _float(request.GET.get("lon"), "lon"), ""


class MeteogramView(View):
    """Time series at a place (`?city=`) or point (`?lat=&lon=`) over every lead."""

    def get(self, request: HttpRequest, run_id: int) -> HttpResponse:
        run = _get_run(run_id)
        lat, lon, place = _point(request)
        try:
            path, rows = viewer.run_meteogram(run=run, lat=lat, lon=lon, place=place)
        except viewer.ProductUnavailable as exc:
            raise Http404(str(exc)) from None
        image = reverse("runs:meteogram_png", args=[run.pk]) + f"?lat={lat}&lon={lon}"
        if place:
            image += f"&place={place}"
        labels = viewer.point_labels()
        return render(
            request,
            "runs/meteogram.html",
            {
                "run": run,
                "lat": lat,
                "lon": lon,
                "place": place,
                "cities": viewer.CITIES,
                "image": image,
                "rows": rows,
                "columns": [{"name": name, "label": labels[name]} for name in viewer.POINT_COLUMNS],
            },
        )


class MeteogramImageView(View):
    """The meteogram PNG of a point (rendered and cached by `viewer.run_meteogram`)."""

    def get(self, request: HttpRequest, run_id: int) -> HttpResponse:
        run = _get_run(run_id)
        lat, lon = _float(request.GET.get("lat"), "lat"), _float(request.GET.get("lon"), "lon")
        place = request.GET.get("place", "")
        if place and place not in viewer.CITIES:
            place = ""
        try:
            path, _ = viewer.run_meteogram(run=run, lat=lat, lon=lon, place=place)
        except viewer.ProductUnavailable as exc:
            raise Http404(str(exc)) from None
        response = FileResponse(path.open("rb"), content_type="image/png")
        response["Cache-Control"] = _IMAGE_CACHE
        return response


@_shared
class CompareView(View):
    """Two runs side by side (`?a=&b=`): maps valid at the same time, A − B, score deltas."""

    def get(self, request: HttpRequest) -> HttpResponse:
        a = _get_run(_int_or_none(request.GET.get("a"), "a") or 0)
        b_id = _int_or_none(request.GET.get("b"), "b")
        candidates = viewer.run_compare_candidates(run=a)
        if b_id is None:
            if not candidates:
                return render(request, "runs/compare.html", {"a": a, "b": None, "candidates": []})
            b_id = candidates[0]["id"]
        b = _get_run(b_id)
        return render(
            request,
            "runs/compare.html",
            {
                "a": a,
                "b": b,
                "candidates": candidates,
                "viewer": viewer.run_viewer(run=a),
                "offset_hours": int((b.init_time - a.init_time).total_seconds() // 3600),
                "compare_ctx": {
                    "b": b,
                    "offset_hours": int((b.init_time - a.init_time).total_seconds() // 3600),
                    "b_steps": b.steps,
                },
                "score_deltas": viewer.compare_score_deltas(a=a, b=b),
            },
        )
