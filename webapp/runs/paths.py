"""Where a run's files live: the one home of every run path (docs/design.md "Files on disk")."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

from forecast.io.atomic import TEMP_PREFIX


def run_dir(run_id: int) -> Path:
    """`var/runs/<id>/`: the run's inputs and forecast."""
    return Path(settings.GCF_RUNS_DIR) / str(run_id)


def inputs_path(run_id: int) -> Path:
    """Where the run's input frames live (copied from the cache, so the run keeps them)."""
    return run_dir(run_id) / "inputs.nc"


def forecast_path(run_id: int) -> Path:
    """Where the run's forecast is written (atomically)."""
    return run_dir(run_id) / "forecast.nc"


# The run config's output format names and the extension `forecast.io.write_forecast` reads.
FORECAST_EXTENSIONS = {"netcdf": ".nc", "zarr": ".zarr", "grib2": ".grib2"}


def forecast_file(run_id: int, output_format: str) -> Path:
    """The run's forecast in one output format (`forecast.nc`, `forecast.zarr`, ...)."""
    return run_dir(run_id) / f"forecast{FORECAST_EXTENSIONS[output_format]}"


def archive_store(predictor_name: str, grid_deg: float, levels: int) -> Path:
    """The WeatherBench-2-layout Zarr archive that every succeeded run of a predictor joins."""
    return (
        Path(settings.GCF_VAR_DIR) / "archive" / f"{predictor_name}-{grid_deg:g}deg-{levels}l.zarr"
    )


def media_dir(run_id: int) -> Path:
    """`var/media/runs/<id>/`: the run's published products."""
    return Path(settings.MEDIA_ROOT) / "runs" / str(run_id)


def products_staging_dir(run_id: int, token: str) -> Path:
    """Where the render tasks of one products attempt (`token`) draw the run's maps, beside
    `media_dir` (same file system: publishing is a rename) and named as a temporary of it."""
    return media_dir(run_id).parent / f"{TEMP_PREFIX}{run_id}.render-{token}"


def logs_dir() -> Path:
    """`var/logs/`: logs of detached flow processes."""
    return Path(settings.GCF_VAR_DIR) / "logs"
