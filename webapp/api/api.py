"""The read-only JSON API: runs, their products, scores and point forecasts.

Thin endpoints (parse, call one selector, shape) on django-ninja, which writes the OpenAPI
schema (`/api/openapi.json`) from the same type hints that validate the parameters. Errors
are `{"detail": ...}`: 404 for a run or data that does not exist, 422 for bad parameters.
"""

import datetime as dt
import re

from django.http import HttpRequest
from django.urls import reverse
from ninja import NinjaAPI, Query, Schema
from ninja.decorators import decorate_view
from ninja.pagination import LimitOffsetPagination, paginate
from pydantic import Field, field_validator

from forecast.errors import InvalidInputError
from webapp.errors import RunDataMissingError
from webapp.pagecache import shared_page
from webapp.runs import selectors as run_selectors
from webapp.runs.models import ForecastRun
from webapp.verification import selectors as score_selectors
from webapp.verification.models import DEFAULT_TRUTH, TruthSource

from .schemas import (
    ErrorOut,
    PointOut,
    ProductOut,
    RunDetailOut,
    RunOut,
    RunScoresOut,
)

_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")

# Responses are the same for everyone: cached per version of the data they show.
_runs_cached = decorate_view(shared_page(timeout=300, version=run_selectors.runs_version))
_scores_cached = decorate_view(
    shared_page(timeout=300, version=lambda: score_selectors.scores_version())
)

api = NinjaAPI(
    title="GraphCast forecast service API",
    version="1",
    description=(
        "Read-only. Times are UTC (ISO 8601); values people read are in display units "
        "(°C, hPa, dam, m/s, mm), each with its unit and human name."
    ),
    urls_namespace="api",
    openapi_url="/openapi.json",
    docs_url="/docs",
)


class BoundedPagination(LimitOffsetPagination):
    """`limit` (1…500, default 50) and `offset` (0…10⁷): a page is never unbounded."""

    class Input(Schema):
        limit: int = Field(50, ge=1, le=500)
        offset: int = Field(0, ge=0, le=10_000_000)


class RunFilters(Schema):
    """Filters of the run list (all optional)."""

    status: ForecastRun.Status | None = None
    init_from: dt.date | None = Field(None, description="first UTC init day (inclusive)")
    init_to: dt.date | None = Field(None, description="last UTC init day (inclusive)")
    predictor: str | None = Field(
        None, max_length=255, description="predictor name, checkpoint file or spec"
    )
    data_source: ForecastRun.DataSource | None = None
    trigger: ForecastRun.Trigger | None = None

    @field_validator("init_from", "init_to", mode="before")
    @classmethod
    def _iso_day(cls, value):
        # pydantic would take a bare number as seconds since 1970: only YYYY-MM-DD is a day.
        if value is not None and not (isinstance(value, str) and _ISO_DAY.fullmatch(value)):
            raise ValueError(f"{value!r} is not a day as YYYY-MM-DD")
        return value


class ScoreParams(Schema):
    """Which scores of a run."""

    region: str = Field("global", max_length=60, description="region name, e.g. 'europe'")
    truth_source: TruthSource = Field(DEFAULT_TRUTH, description="what the run was scored against")


class PointParams(Schema):
    """Where."""

    lat: float = Field(..., ge=-90, le=90, description="degrees north")
    lon: float = Field(..., ge=-180, le=360, description="degrees east")


def _run_or_404(run_id: int) -> ForecastRun:
    try:
        return run_selectors.run_get(run_id=run_id)
    except ForecastRun.DoesNotExist:
        raise RunDataMissingError(f"no forecast run {run_id}") from None


def _run_out(run: ForecastRun) -> dict:
    user = run.triggered_by_user
    return {
        **{name: getattr(run, name) for name in RunOut.model_fields if hasattr(run, name)},
        "predictor": run.predictor_name or run.predictor_spec,
        "triggered_by_user": user.get_username() if user is not None else None,
        "rerun_of": run.rerun_of_id,
        "url": reverse("runs:detail", args=[run.pk]),
    }


@api.exception_handler(RunDataMissingError)
def _missing(request: HttpRequest, exc: RunDataMissingError):
    return api.create_response(request, {"detail": str(exc)}, status=404)


@api.exception_handler(InvalidInputError)
def _invalid(request: HttpRequest, exc: InvalidInputError):
    return api.create_response(request, {"detail": str(exc)}, status=422)


@api.get("/runs/", response={200: list[RunOut], 422: ErrorOut}, tags=["runs"], summary="List runs")
@_runs_cached
@paginate(BoundedPagination)
def run_list(request: HttpRequest, filters: Query[RunFilters]):
    """Runs matching the filters, newest init time first (`limit`/`offset` pagination)."""
    runs = run_selectors.run_list(
        **{k: v for k, v in filters.dict().items() if v not in (None, "")}
    )
    return _RunPage(runs)


class _RunPage:
    """A queryset that shapes only the rows of the requested page (count stays in SQL)."""

    def __init__(self, runs) -> None:
        self._runs = runs

    def count(self) -> int:
        return self._runs.count()

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, item):
        return [_run_out(run) for run in self._runs[item]]


@api.get(
    "/runs/{run_id}/",
    response={200: RunDetailOut, 404: ErrorOut, 422: ErrorOut},
    tags=["runs"],
    summary="One run",
)
@_runs_cached
def run_detail(request: HttpRequest, run_id: int):
    """A run with its frozen configuration, lineage, timings and links to its data."""
    run = _run_or_404(run_id)
    base = f"/api/runs/{run.pk}/"
    return {
        **_run_out(run),
        "config": run.config,
        "lineage": run.lineage,
        "timings": run.timings,
        "reruns": list(run.reruns.order_by("pk").values_list("pk", flat=True)),
        "products_url": base + "products/",
        "scores_url": base + "scores/",
        "point_url": base + "point/",
    }


@api.get(
    "/runs/{run_id}/products/",
    response={200: list[ProductOut], 404: ErrorOut, 422: ErrorOut},
    tags=["runs"],
    summary="A run's maps and plots",
)
@_runs_cached
def run_products(request: HttpRequest, run_id: int):
    """The run's published files with human names, display units and valid times (UTC)."""
    return run_selectors.run_products(run=_run_or_404(run_id))


@api.get(
    "/runs/{run_id}/scores/",
    response={200: RunScoresOut, 404: ErrorOut, 422: ErrorOut},
    tags=["verification"],
    summary="A run's scores",
)
@_scores_cached
def run_scores(
    request: HttpRequest,
    run_id: int,
    params: Query[ScoreParams],
):
    """RMSE, bias, MAE (display units) and ACC per field, predictor and lead, in one region
    against one truth; empty `fields` when the run has not been verified there."""
    run = _run_or_404(run_id)
    record = score_selectors.run_verification_get(run=run)
    return {
        "run_id": run.pk,
        "region": params.region,
        "truth_source": params.truth_source,
        "regions": score_selectors.regions_scored(),
        "leads_scored": list(record.leads_scored) if record else [],
        "leads_total": record.leads_total if record else 0,
        "truth_until": record.truth_until if record else None,
        "fields": score_selectors.run_scores_display(
            run=run, region=params.region, truth_source=params.truth_source
        ),
    }


@api.get(
    "/runs/{run_id}/point/",
    response={200: PointOut, 404: ErrorOut, 422: ErrorOut},
    tags=["runs"],
    summary="A run's forecast at one location (the meteogram's data)",
)
@_runs_cached
def run_point(
    request: HttpRequest,
    run_id: int,
    params: Query[PointParams],
):
    """2 m temperature (°C), MSL pressure (hPa), 10 m wind speed (m/s) and direction (°),
    6-hour precipitation (mm) at the point, bilinear between the surrounding grid points."""
    run = _run_or_404(run_id)
    return {
        "run_id": run.pk,
        **run_selectors.run_point_forecast(run=run, lat=params.lat, lon=params.lon),
    }
