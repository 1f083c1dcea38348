"""Shapes of the API's responses (pydantic, via ninja): what clients may rely on.

Times are UTC, ISO 8601 with "Z"; values people read are in display units, each series or
field saying its unit and human name.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from ninja import Schema
from pydantic import Field


class ErrorOut(Schema):
    """An error: `detail` says what was wrong (a list of problems for invalid parameters)."""

    detail: Any


class RunOut(Schema):
    """One forecast run, as the run list shows it."""

    id: int
    init_time: dt.datetime = Field(description="analysis time the forecast starts from (UTC)")
    status: str
    stage: str
    progress_step: int
    progress_total: int
    predictor: str = Field(description="predictor name, or the spec asked for")
    predictor_spec: str
    predictor_note: str = Field(description="why this predictor (a fallback says so)")
    checkpoint_name: str
    checkpoint_sha256: str
    data_source: str
    synthetic: bool
    grid_deg: float = Field(description="grid spacing in degrees")
    levels: int = Field(description="number of pressure levels")
    steps: int = Field(description="number of 6-hour leads")
    triggered_by: str
    triggered_by_user: str | None
    rerun_of: int | None
    created_at: dt.datetime
    queued_at: dt.datetime | None
    running_at: dt.datetime | None
    succeeded_at: dt.datetime | None
    failed_at: dt.datetime | None
    cancelled_at: dt.datetime | None
    error_type: str
    error_message: str
    url: str = Field(description="the run's page on the site")


class RunDetailOut(RunOut):
    """One run with its configuration, lineage and timings, and links to its data."""

    config: dict[str, Any]
    lineage: dict[str, Any]
    timings: dict[str, float] = Field(description="seconds per stage")
    reruns: list[int]
    products_url: str
    scores_url: str
    point_url: str = Field(description="append ?lat=…&lon=… (degrees)")


class ProductOut(Schema):
    """One published map or plot of a run."""

    kind: str
    variable: str
    level: int | None = Field(description="hPa; null for surface fields")
    name: str = Field(description="human name, e.g. '500 hPa geopotential height'")
    units: str = Field(description="display units of the map")
    lead_hours: int | None
    valid_time: dt.datetime | None
    url: str


class LeadScoresOut(Schema):
    """Scores of one predictor at one lead (errors in the field's display units)."""

    lead_hours: int
    valid_time: dt.datetime
    rmse: float | None
    bias: float | None = Field(description="mean forecast − truth")
    mae: float | None
    acc: float | None = Field(description="anomaly correlation (unitless)")


class FieldScoresOut(Schema):
    """One scored field: its name, units and scores per predictor against lead time."""

    variable: str
    level: int = Field(description="hPa; 0 for surface fields")
    name: str
    units: str = Field(description="display units of rmse, bias and mae")
    predictors: dict[str, list[LeadScoresOut]]


class RunScoresOut(Schema):
    """A run's verification in one region against one truth."""

    run_id: int
    region: str
    truth_source: str
    regions: list[str]
    leads_scored: list[int]
    leads_total: int
    truth_until: dt.datetime | None
    fields: list[FieldScoresOut]


class PointSeriesOut(Schema):
    """One variable's series at the point (display units)."""

    variable: str
    name: str
    units: str
    values: list[float | None]


class PointOut(Schema):
    """A run's forecast at one location (bilinear between the four surrounding grid points)."""

    run_id: int
    lat: float
    lon: float = Field(description="degrees east, 0…360")
    grid_lat: float = Field(description="nearest grid point")
    grid_lon: float
    method: str
    init_time: dt.datetime
    valid_times: list[dt.datetime]
    lead_hours: list[int]
    series: list[PointSeriesOut]
