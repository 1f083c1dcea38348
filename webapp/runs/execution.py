"""The heavy steps of a run as the Celery workers execute them: rollout and product rendering."""

from __future__ import annotations

import importlib
import logging
import os
import tempfile
import time
from pathlib import Path

from django.conf import settings

from webapp.runs import services
from webapp.runs.models import ForecastRun

logger = logging.getLogger(__name__)

# Predictors loaded in this worker process, by (spec, stats dir): loading a checkpoint and
# building its graphs costs far more than a rollout step, so each process does it once.
_PREDICTORS: dict[tuple[str, str], object] = {}


def run_dir(run_id: int) -> Path:
    """`var/runs/<id>/`: the run's inputs and forecast."""
    return Path(settings.GCF_RUNS_DIR) / str(run_id)


def inputs_path(run_id: int) -> Path:
    """Where the run's input frames live."""
    return run_dir(run_id) / "inputs.nc"


def forecast_path(run_id: int) -> Path:
    """Where the run's forecast is written (atomically)."""
    return run_dir(run_id) / "forecast.nc"


def media_dir(run_id: int) -> Path:
    """`var/media/runs/<id>/`: the run's published products."""
    return Path(settings.MEDIA_ROOT) / "runs" / str(run_id)


def get_predictor(spec: str, stats_dir: str | Path):
    """The predictor for `spec`, loaded once per process.

    Args:
      spec: "persistence", a checkpoint path (GraphCast), or "package.module:factory" naming a
        zero-argument callable returning a predictor.
      stats_dir: the normalisation statistics a checkpoint needs.
    """
    key = (spec, str(stats_dir))
    if key not in _PREDICTORS:
        started = time.perf_counter()
        if ":" in spec and not Path(spec).exists():
            module_name, _, attr = spec.partition(":")
            predictor = getattr(importlib.import_module(module_name), attr)()
        else:
            from forecast.predictor import load_predictor

            # Graphs are step- and run-invariant: cache them so a daily job does not rebuild
            # them (about 20 s at 0.25°).
            cache_dir = Path(settings.GCF_CACHE_DIR)
            predictor = load_predictor(
                spec,
                stats_dir,
                graphs_cache_dir=cache_dir / "graphs",
                # Lead arrays on disk: host memory stays bounded for 10-day 0.25° runs.
                spill_dir=cache_dir / "rollout-spill",
            )
        _PREDICTORS[key] = predictor
        logger.info(
            "loaded predictor %r in %.1f s (pid %s)",
            spec,
            time.perf_counter() - started,
            os.getpid(),
        )
    return _PREDICTORS[key]


def _write_atomically(dataset, path: Path) -> None:
    """Writes a NetCDF next to `path` then renames it, so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        dataset.to_netcdf(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def execute_rollout(*, run_id: int, task_id: str = "") -> str:
    """Rolls the run's predictor out from its inputs and writes `forecast.nc`.

    Idempotent: if the forecast file already exists (a redelivered message after the work was
    done), returns at once; a run already failed or quarantined is not computed.

    Returns:
      The forecast path, or "" when the run was already finished without a forecast.
    """
    import xarray as xr

    run = ForecastRun.objects.get(pk=run_id)
    target = forecast_path(run_id)
    if target.exists():
        logger.info("run %s: %s already exists; nothing to do", run_id, target)
        return str(target)
    if run.status in (ForecastRun.Status.FAILED, ForecastRun.Status.QUARANTINED):
        logger.warning("run %s is %s; skipping its rollout", run_id, run.status)
        return ""
    services.run_set_stage(run_id=run_id, stage="rollout", celery_task_id=task_id)
    load_started = time.perf_counter()
    # The stats the flow recorded for this run, so the record says what the rollout used.
    stats_dir = run.lineage.get("stats_dir") or settings.GCF_STATS_DIR
    predictor = get_predictor(run.predictor_spec, stats_dir)
    services.run_record_timing(
        run_id=run_id, stage="predictor_load", seconds=time.perf_counter() - load_started
    )
    services.run_record_predictor(
        run_id=run_id, name=predictor.name, identity=dict(predictor.identity)
    )
    inputs = xr.load_dataset(inputs_path(run_id))

    def progress(step: int, total: int) -> None:
        services.run_update_progress(run_id=run_id, step=step, total=total)
        logger.info("run %s: rollout step %d/%d", run_id, step, total)

    started = time.perf_counter()
    services.run_update_progress(run_id=run_id, step=0, total=run.steps)
    forecast = predictor.forecast(inputs, steps=run.steps, progress=progress)
    services.run_record_timing(
        run_id=run_id, stage="rollout", seconds=time.perf_counter() - started
    )
    _write_atomically(forecast, target)
    return str(target)


def execute_render(*, run_id: int) -> list[dict]:
    """Renders the run's maps into `var/media/runs/<id>/`.

    Returns:
      One dict per product: kind, variable, level, lead_hours, file (relative to MEDIA_ROOT).
    """
    import xarray as xr

    services.run_set_stage(run_id=run_id, stage="render")
    out_dir = media_dir(run_id)
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with xr.open_dataset(forecast_path(run_id)) as forecast:
        forecast = forecast.load()
    products = _render(forecast, out_dir, run_id)
    services.run_record_timing(run_id=run_id, stage="render", seconds=time.perf_counter() - started)
    prefix = out_dir.relative_to(settings.MEDIA_ROOT)
    return [
        {
            "kind": str(p.kind),
            "variable": p.variable,
            "level": int(p.level) if p.level is not None else None,
            "lead_hours": int(p.lead_hours) if p.lead_hours is not None else None,
            "file": str(prefix / p.path),
        }
        for p in products
    ]


def _render(forecast, out_dir: Path, run_id: int) -> list:
    from forecast.plots.natural_earth import configure_cartopy
    from forecast.plots.products import render_forecast_products

    data_dir = os.environ.get("CARTOPY_DATA_DIR") or Path(settings.GCF_VAR_DIR) / "cartopy"
    if not configure_cartopy(Path(data_dir)):
        # The maps still render (without coastlines) and the run says so.
        services.run_record_lineage(run_id=run_id, coastlines=f"missing under {data_dir}")
    return render_forecast_products(forecast, out_dir)
