"""Where a run's files live: the one home of every run path (docs/design.md "Files on disk")."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings


def run_dir(run_id: int) -> Path:
    """`var/runs/<id>/`: the run's inputs and forecast."""
    return Path(settings.GCF_RUNS_DIR) / str(run_id)


def inputs_path(run_id: int) -> Path:
    """Where the run's input frames live (copied from the cache, so the run keeps them)."""
    return run_dir(run_id) / "inputs.nc"


def forecast_path(run_id: int) -> Path:
    """Where the run's forecast is written (atomically)."""
    return run_dir(run_id) / "forecast.nc"


def media_dir(run_id: int) -> Path:
    """`var/media/runs/<id>/`: the run's published products."""
    return Path(settings.MEDIA_ROOT) / "runs" / str(run_id)


def logs_dir() -> Path:
    """`var/logs/`: logs of detached flow processes."""
    return Path(settings.GCF_VAR_DIR) / "logs"
