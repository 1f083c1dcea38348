"""The heavy steps of a run as the Celery workers execute them: rollout, and products.

Each step reads the run's frozen configuration by id, makes one call into `forecast/`, and
writes its own results: the rollout its forecast file, progress, heartbeat and timings; the
products step its maps and their Product rows. A step checks the run's status before it
starts and between rollout steps, so nothing is written into a run that was failed or
cancelled meanwhile (`RunAborted`), and it sweeps what a killed predecessor left behind.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import time
from pathlib import Path

from django.conf import settings

from forecast.errors import InvalidInputError
from forecast.io.atomic import (
    TEMP_PREFIX,
    atomic_output,
    atomic_write_text,
    leftover_temporaries,
)
from webapp.runs import services
from webapp.runs.config import RunConfig
from webapp.runs.models import ForecastRun

# Run paths have one home (webapp.runs.paths); re-exported for the callers that know them here.
from webapp.runs.paths import (  # noqa: F401
    archive_store,
    forecast_file,
    forecast_path,
    inputs_path,
    media_dir,
    products_staging_dir,
    run_dir,
)

logger = logging.getLogger(__name__)

# Predictors loaded in this worker process, by (spec, stats dir): loading a checkpoint and
# building its graphs costs far more than a rollout step, so each process does it once.
_PREDICTORS: dict[tuple[str, str], object] = {}


class RunAborted(Exception):
    """The run was failed, cancelled or superseded while this step ran: stop, write nothing."""


def get_predictor(config: RunConfig):
    """The predictor `config` names, loaded once per process (see `parse_predictor_spec`)."""
    key = (config.predictor_spec, config.stats_dir)
    if key not in _PREDICTORS:
        started = time.perf_counter()
        spec = config.predictor
        if spec.kind == "factory":
            import importlib

            module, attribute = spec.factory
            predictor = getattr(importlib.import_module(module), attribute)()
        else:
            from forecast.predictor import load_predictor

            # Graphs are step- and run-invariant: cache them so a daily job does not rebuild
            # them (about 20 s at 0.25°).
            cache_dir = Path(settings.GCF_CACHE_DIR)
            predictor = load_predictor(
                config.predictor_spec,
                config.stats_dir or None,
                graphs_cache_dir=cache_dir / "graphs",
                # Lead arrays on disk: host memory stays bounded for 10-day 0.25° runs.
                spill_dir=cache_dir / "rollout-spill",
            )
        _PREDICTORS[key] = predictor
        logger.info(
            "loaded predictor %r in %.1f s (pid %s)",
            config.predictor_spec,
            time.perf_counter() - started,
            os.getpid(),
        )
    return _PREDICTORS[key]


def _check_still_wanted(run_id: int, task_id: str, stage: str) -> None:
    """Raises RunAborted when the run has finished, or when the flow has handed `stage` to
    another task (this message is a stale redelivery)."""
    status, lineage = ForecastRun.objects.values_list("status", "lineage").get(pk=run_id)
    if status in ForecastRun.TERMINAL:
        raise RunAborted(f"run {run_id} is {status}")
    current = (lineage or {}).get(f"{stage}_task_id", "")
    if task_id and current and current != task_id:
        raise RunAborted(f"run {run_id}'s {stage} is now task {current}, not {task_id}")


def sweep_temporaries(run_id: int) -> list[Path]:
    """Removes the temporary outputs a killed writer of this run left behind (a SIGKILLed
    process cannot clean up after itself): under its run directory, and its products'
    temporary directories beside `media_dir`."""
    found = leftover_temporaries(run_dir(run_id)) if run_dir(run_id).exists() else []
    products_parent = media_dir(run_id).parent
    if products_parent.exists():
        found += sorted(products_parent.glob(f"{TEMP_PREFIX}{run_id}.*"))
    for path in found:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    if found:
        logger.warning("run %s: removed leftovers of a killed writer: %s", run_id, found)
    return found


def _reusable_forecast(run: ForecastRun) -> Path | None:
    """The forecast of the run this one repeats, when it is sure to be the same: the same
    frozen configuration, the same inputs (sha256) and the same code version (a rerun of a
    run whose flow died after its rollout had finished)."""
    original = run.rerun_of
    if original is None or original.config != run.config:
        return None
    same = ("inputs", "code_version")
    if any(
        not run.lineage.get(key) or run.lineage.get(key) != original.lineage.get(key)
        for key in same
    ):
        return None
    path = forecast_path(original.pk)
    return path if path.is_file() else None


def execute_rollout(*, run_id: int, task_id: str = "") -> str:
    """Rolls the run's predictor out from its inputs and writes `forecast.nc` atomically.

    Idempotent: a forecast already written (a redelivered message after the work was done)
    is returned at once; a rerun with the same configuration reuses its original's forecast.

    Returns:
      The forecast path.

    Raises:
      RunAborted: the run finished or was superseded meanwhile (nothing written).
      InvalidInputError: the inputs file is unreadable (names it), or the checkpoint on disk
        is not the one the run was configured with.
    """
    import xarray as xr

    run = ForecastRun.objects.select_related("rerun_of").get(pk=run_id)
    target = forecast_path(run_id)
    if target.exists():
        logger.info("run %s: %s already exists; nothing to do", run_id, target)
        return str(target)
    _check_still_wanted(run_id, task_id, "rollout")
    sweep_temporaries(run_id)
    services.run_worker_heartbeat(run_id=run_id)
    config = RunConfig.from_json(run.config)
    if (original := _reusable_forecast(run)) is not None:
        _copy_forecast_files(original.parent, run_id, config)
        services.run_record_lineage(run_id=run_id, forecast_reused_from=original.parent.name)
        return str(target)
    load_started = time.perf_counter()
    predictor = get_predictor(config)
    services.run_record_timing(
        run_id=run_id, stage="predictor_load", seconds=time.perf_counter() - load_started
    )
    services.run_record_predictor(
        run_id=run_id, name=predictor.name, identity=dict(predictor.identity)
    )
    try:
        inputs = xr.load_dataset(inputs_path(run_id))
    except (OSError, ValueError) as exc:
        raise InvalidInputError(
            f"input file {inputs_path(run_id)} of run {run_id} is unreadable: "
            f"{type(exc).__name__}: {exc}"
        ) from exc

    def progress(step: int, total: int) -> None:
        _check_still_wanted(run_id, task_id, "rollout")
        services.run_update_progress(run_id=run_id, step=step, total=total)
        logger.info("run %s: rollout step %d/%d", run_id, step, total)

    started = time.perf_counter()
    services.run_update_progress(run_id=run_id, step=0, total=config.steps)
    forecast = predictor.forecast(inputs, steps=config.steps, progress=progress)
    _check_still_wanted(run_id, task_id, "rollout")
    services.run_record_timing(
        run_id=run_id, stage="rollout", seconds=time.perf_counter() - started
    )
    written = time.perf_counter()
    _write_forecast_files(run_id, forecast, config)
    services.run_record_timing(run_id=run_id, stage="write", seconds=time.perf_counter() - written)
    return str(target)


def _copy_forecast_files(original_dir: Path, run_id: int, config: RunConfig) -> None:
    """Copies the original run's forecast files byte for byte, `forecast.nc` last; a format
    the original lacks is written from its NetCDF."""
    from forecast.io import open_forecast, write_forecast

    for output_format in [f for f in config.output_formats if f != "netcdf"]:
        source = original_dir / forecast_file(run_id, output_format).name
        target = forecast_file(run_id, output_format)
        if source.is_dir():
            with atomic_output(target, directory=True) as tmp:
                shutil.copytree(source, tmp, dirs_exist_ok=True)
        elif source.is_file():
            with atomic_output(target) as tmp:
                shutil.copyfile(source, tmp)
        else:
            write_forecast(open_forecast(original_dir / "forecast.nc").load(), target)
    with atomic_output(forecast_path(run_id)) as tmp:
        shutil.copyfile(original_dir / "forecast.nc", tmp)


def _write_forecast_files(run_id: int, forecast, config: RunConfig) -> None:
    """Writes the forecast in every configured format, `forecast.nc` last.

    `forecast.nc` is the step's completion mark (a redelivered task returns when it exists), so
    the other formats are complete before it appears; each file is written atomically.
    """
    from forecast.io import write_forecast

    formats = [f for f in config.output_formats if f != "netcdf"]
    for output_format in formats:
        write_forecast(forecast, forecast_file(run_id, output_format))
    write_forecast(forecast, forecast_path(run_id))


def render_stage(part: int) -> str:
    """The flow's stage name of render task `part` (its task id is recorded under it)."""
    return f"render{part}"


def _manifest(staging: Path, part: int, parts: int) -> Path:
    return staging / f"part-{part}-of-{parts}.json"


def _store_error(exc: OSError, run_id: int, target: Path) -> OSError:
    """`exc` naming the products store, when the store is full, read-only or not ours."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES):
        return OSError(
            exc.errno,
            f"products store MEDIA_ROOT {settings.MEDIA_ROOT} cannot take run {run_id}'s "
            f"maps: {os.strerror(exc.errno)} (writing {exc.filename or target})",
        )
    return exc


def render_source(run_id: int) -> Path:
    """The forecast file a render part reads: the run's Zarr store, else `forecast.nc`.

    The rollout writes every configured format before `forecast.nc` (each atomically), so a
    store that exists is complete. Zarr decodes ~2× faster than the NetCDF (Blosc/zstd against
    zlib; reading was a quarter of a part's time at 0.25°). A run configured without Zarr, or
    one whose store is gone, is read from its NetCDF, and the log says so.
    """
    store = forecast_file(run_id, "zarr")
    if store.is_dir():
        return store
    logger.info("run %s: no %s; the render parts read %s", run_id, store, forecast_path(run_id))
    return forecast_path(run_id)


def execute_render_part(
    *, run_id: int, part: int, parts: int, token: str, task_id: str = ""
) -> int:
    """Renders part `part` of `parts` of the run's product set (`product_parts`: every part an
    equal share of every field's leads) into the attempt's staging directory, and lists them
    in the part's manifest.

    Each part reads only its fields at its leads from the forecast (`render_source`). The parts
    of one attempt run in parallel on the `cpu` workers; `execute_publish_products` publishes
    them once all are done. When a part fails, the attempt is void: the flow discards it
    (`discard_products`), earlier maps stay.

    Returns:
      The number of maps rendered.

    Raises:
      RunAborted: the run finished or this part was superseded meanwhile.
      OSError: the products store is full or unwritable; the message names it.
    """
    from forecast.io import open_forecast

    _check_still_wanted(run_id, task_id, render_stage(part))
    services.run_worker_heartbeat(run_id=run_id)
    staging = products_staging_dir(run_id, token)
    started = time.perf_counter()
    try:
        staging.mkdir(parents=True, exist_ok=True)
        with open_forecast(render_source(run_id)) as forecast:
            products = _render(forecast, staging, run_id, part, parts)
        rows = [
            {
                "kind": str(p.kind),
                "variable": p.variable,
                "level": int(p.level) if p.level is not None else None,
                "lead_hours": int(p.lead_hours) if p.lead_hours is not None else None,
                "file": str(p.path),
            }
            for p in products
        ]
        atomic_write_text(_manifest(staging, part, parts), json.dumps(rows))
    except OSError as exc:
        # The staging directory stays for `discard_products` (removing it here would fail
        # the parts still drawing into it with errors that hide this one).
        raise _store_error(exc, run_id, staging) from exc
    services.run_record_timing(
        run_id=run_id, stage=f"render_part{part}", seconds=time.perf_counter() - started
    )
    return len(rows)


def execute_publish_products(*, run_id: int, token: str, parts: int, task_id: str = "") -> int:
    """Publishes the maps the render parts of attempt `token` drew: the staging directory
    replaces `var/media/runs/<id>/` as a whole, the run joins its predictor's archive, and
    the Product rows are written.

    Returns:
      The number of products published.

    Raises:
      RunAborted: the run finished or was superseded meanwhile.
      RuntimeError: a part's manifest is missing (it did not finish).
      OSError: the products store is full or unwritable; the message names it.
    """
    from forecast.io import open_forecast

    _check_still_wanted(run_id, task_id, "publish")
    services.run_worker_heartbeat(run_id=run_id)
    staging = products_staging_dir(run_id, token)
    manifests = [_manifest(staging, part, parts) for part in range(parts)]
    missing = [m.name for m in manifests if not m.is_file()]
    if missing:
        raise RuntimeError(
            f"products of run {run_id} are incomplete: no {', '.join(missing)} in {staging} "
            "(a render part did not finish)"
        )
    rows = [row for manifest in manifests for row in json.loads(manifest.read_text())]
    target = media_dir(run_id)
    prefix = target.relative_to(settings.MEDIA_ROOT)
    try:
        for manifest in manifests:
            manifest.unlink()
        with atomic_output(target, directory=True) as tmp:
            tmp.rmdir()
            os.replace(staging, tmp)
    except OSError as exc:
        raise _store_error(exc, run_id, target) from exc
    sweep_temporaries(run_id)  # stale staging of earlier attempts
    _check_still_wanted(run_id, task_id, "publish")
    with open_forecast(forecast_path(run_id)) as forecast:
        _append_to_archive(run_id, forecast)
    for row in rows:
        row["file"] = str(prefix / row["file"])
    return services.run_publish_products(run_id=run_id, products=rows)


def discard_products(*, run_id: int, token: str) -> int:
    """Removes the staging directory of a products attempt that will not be published (a part
    failed or the run stopped); returns how many files it held. Earlier maps stay."""
    staging = products_staging_dir(run_id, token)
    count = sum(1 for path in staging.rglob("*") if path.is_file()) if staging.exists() else 0
    shutil.rmtree(staging, ignore_errors=True)
    return count


def _append_to_archive(run_id: int, forecast) -> None:
    """Adds the run to its predictor's archive (WeatherBench 2 layout, idempotent per init).

    The archive is a by-product: a refusal (another grid or more leads than the store holds)
    is recorded on the run and logged, and does not fail a forecast that is otherwise done.
    """
    from forecast.io import append_to_archive

    run = ForecastRun.objects.get(pk=run_id)
    store = archive_store(run.predictor_name or "unknown", run.grid_deg, run.levels)
    try:
        append_to_archive(forecast, store)
    except (InvalidInputError, OSError) as exc:
        logger.warning("run %s: not added to the archive %s: %s", run_id, store, exc)
        services.run_record_lineage(run_id=run_id, archive_error=f"{store.name}: {exc}")
    else:
        services.run_record_lineage(run_id=run_id, archive=store.name)


def _render(forecast, out_dir: Path, run_id: int, part: int, parts: int) -> list:
    from forecast.plots.natural_earth import configure_cartopy
    from forecast.plots.products import product_parts, render_part

    if not any(product_parts(parts, forecast.sizes.get("time", 0))[part]):
        return []  # more parts than maps: nothing to draw, no coastlines needed
    data_dir = os.environ.get("CARTOPY_DATA_DIR") or Path(settings.GCF_VAR_DIR) / "cartopy"
    if not configure_cartopy(Path(data_dir)):
        # The maps still render (without coastlines) and the run says so.
        services.run_record_lineage(run_id=run_id, coastlines=f"missing under {data_dir}")
    return render_part(forecast, out_dir, part=part, parts=parts)
