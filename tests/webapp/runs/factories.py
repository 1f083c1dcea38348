"""Builders of run records for the tests."""

from __future__ import annotations

import datetime as dt
import itertools

from webapp.runs import services
from webapp.runs.models import ForecastRun

INIT = dt.datetime(2026, 11, 16, 0, tzinfo=dt.UTC)
# One run per cycle is a database constraint: runs made without an explicit init time get
# successive cycles before INIT, so tests may make several without colliding.
_EARLIER_CYCLES = itertools.count(1)


def make_run(**overrides) -> ForecastRun:
    """A QUEUED run on a tiny synthetic grid, created through the service (init time INIT for
    the first run of a test database, earlier cycles after it unless one is given)."""
    if "init_time" not in overrides and ForecastRun.objects.filter(init_time=INIT).exists():
        overrides["init_time"] = INIT - dt.timedelta(hours=6 * next(_EARLIER_CYCLES))
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
