"""Succeeded runs with a real (persistence) forecast on a tiny synthetic grid, for verification tests."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from django.conf import settings

from forecast.data.acquire import acquire_inputs, write_atomic
from forecast.predictor import PersistencePredictor
from tests.webapp.runs.factories import make_run
from webapp.runs import execution, services
from webapp.runs.models import ForecastRun

INIT = dt.datetime(2026, 11, 16, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory):
    """One ERA5/climatology cache for the session (computed climatologies are reused)."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture
def var_dir(tmp_path, settings, shared_cache, monkeypatch):
    """A fresh var/ for runs and media; the session's cache; error maps of one field only
    (drawing maps is the slow part and `forecast.plots` has its own tests)."""
    from webapp.verification import execution

    settings.GCF_VAR_DIR = tmp_path
    settings.GCF_RUNS_DIR = tmp_path / "runs"
    settings.GCF_CACHE_DIR = shared_cache
    settings.MEDIA_ROOT = tmp_path / "media"
    monkeypatch.setattr(execution, "ERROR_MAP_FIELDS", (("geopotential", 500),))
    monkeypatch.delenv("GCF_CLIMATOLOGY", raising=False)
    return tmp_path


def make_forecast_run(
    *, init_time: dt.datetime = INIT, steps: int = 4, grid_deg: float = 10.0
) -> ForecastRun:
    """A SUCCEEDED synthetic run whose `forecast.nc` is a persistence forecast."""
    run = make_run(init_time=init_time, steps=steps, grid_deg=grid_deg)
    services.run_mark_running(run_id=run.pk)
    inputs = acquire_inputs(
        init_time.replace(tzinfo=None),
        levels=13,
        grid_deg=grid_deg,
        cache_dir=Path(settings.GCF_CACHE_DIR) / "era5",
        source="synthetic",
    )
    import xarray as xr

    forecast = PersistencePredictor().forecast(xr.load_dataset(inputs), steps=steps)
    write_atomic(forecast, execution.forecast_path(run.pk))
    return services.run_mark_succeeded(run_id=run.pk)
