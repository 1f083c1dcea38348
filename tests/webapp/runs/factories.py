"""Builders of run records for the tests."""

from __future__ import annotations

import datetime as dt

from webapp.runs import services
from webapp.runs.models import ForecastRun

INIT = dt.datetime(2026, 11, 16, 0, tzinfo=dt.UTC)


def make_run(**overrides) -> ForecastRun:
    """A QUEUED run on a tiny synthetic grid, created through the service."""
    fields = dict(
        init_time=INIT,
        predictor_spec="persistence",
        data_source="synthetic",
        grid_deg=10.0,
        levels=13,
        steps=2,
    )
    fields.update(overrides)
    return services.run_create(**fields)
