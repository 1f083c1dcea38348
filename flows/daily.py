"""The daily forecast cycle as a Prefect flow: inputs → validation → rollout → products → publish.

Prefect orchestrates; the heavy steps run on Celery (`gpu` for the rollout, `cpu` for the
maps) and the flow waits on them with a timeout while reporting progress. The run record in
the database is the source of truth: every outcome ends in it (succeeded, failed with the
error's type and message, or quarantined when the inputs are invalid).

Run once: `python -m flows.daily [--init-time 2026-11-16T00:00] [--run-id N]`.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import logging
import shutil
import sys
import time
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.runtime import flow_run as current_flow_run

from flows.django_setup import setup_django
from flows.retry import retry_only_transient

setup_django()

from django.conf import settings  # noqa: E402
from django.db import connections  # noqa: E402

from flows import cycle, inputs  # noqa: E402
from forecast.errors import ForecastError, InvalidInputError  # noqa: E402
from forecast.model import checkpoint  # noqa: E402
from webapp.runs import execution, provenance, services  # noqa: E402
from webapp.runs.models import ForecastRun  # noqa: E402
from webapp.runs.tasks import render_products_task, rollout_task  # noqa: E402

logger = logging.getLogger(__name__)

# flow-run id → run id, for the best-effort crash hook (the run may be created inside the flow).
_RUN_OF_FLOW_RUN: dict[str, int] = {}
_POLL_S = 0.5
_HEARTBEAT_S = 30.0


@task(name="resolve-init-time")
def resolve_init_time(init_time: str | None, source: str) -> str:
    """The cycle's init time, ISO 8601 UTC."""
    return inputs.resolve_init_time(init_time, source=source).isoformat()


@task(name="create-run")
def create_run(init_time: str, config: cycle.CycleConfig, triggered_by: str) -> int:
    """Creates the run record (QUEUED) and returns its id."""
    run = services.run_create(
        init_time=dt.datetime.fromisoformat(init_time),
        triggered_by=triggered_by,
        **dataclasses.asdict(config),
    )
    return run.pk


@task(
    name="acquire-inputs",
    retries=3,
    retry_delay_seconds=[10, 60, 300],
    retry_condition_fn=retry_only_transient,
)
def acquire_inputs(run_id: int) -> str:
    """Fetches (or generates) the inputs into the cache and copies them to the run directory."""
    run = ForecastRun.objects.get(pk=run_id)
    services.run_set_stage(run_id=run_id, stage="acquire")
    cached = inputs.acquire_inputs(
        run.init_time,
        levels=run.levels,
        grid_deg=run.grid_deg,
        cache_dir=Path(settings.GCF_CACHE_DIR) / "era5",
        source=run.data_source,
    )
    target = execution.inputs_path(run_id)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(cached, target)
    services.run_record_lineage(
        run_id=run_id,
        inputs=[
            {
                "path": str(cached),
                "cache_key": Path(cached).name,
                "sha256": checkpoint.file_sha256(cached),
            }
        ],
        run_inputs=str(target),
    )
    return str(target)


@task(name="validate-inputs")
def validate_inputs(run_id: int, path: str) -> None:
    """Checks the inputs (guardrails); raises InvalidInputError naming the culprit."""
    run = ForecastRun.objects.get(pk=run_id)
    services.run_set_stage(run_id=run_id, stage="validate")
    checked = inputs.validate_inputs(
        Path(path), levels=run.levels, grid_deg=run.grid_deg, stats_dir=settings.GCF_STATS_DIR
    )
    services.run_record_lineage(run_id=run_id, guardrails=checked)


def _wait(result, *, run_id: int, timeout_s: float, what: str):
    """Waits for a Celery result, logging progress changes; raises TimeoutError past `timeout_s`."""
    log = get_run_logger()
    deadline = time.monotonic() + timeout_s
    last_beat = time.monotonic()
    seen = None
    while not result.ready():
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"{what} (Celery task {result.id}) did not finish within {timeout_s:.0f} s: "
                "its worker is lost, stuck or overloaded"
            )
        step, total = (
            ForecastRun.objects.filter(pk=run_id)
            .values_list("progress_step", "progress_total")
            .get()
        )
        if what == "rollout" and (step, total) != seen:
            seen = (step, total)
            log.info("run %s: rollout step %s/%s", run_id, step, total)
        if time.monotonic() - last_beat > _HEARTBEAT_S:
            # The flow is alive and waiting: keep the reaper away.
            services.run_set_stage(run_id=run_id, stage=what)
            last_beat = time.monotonic()
        time.sleep(_POLL_S)
    return result.get(propagate=True, disable_sync_subtasks=False)


@task(name="rollout")
def rollout(run_id: int) -> str:
    """Submits the rollout to the Celery `gpu` queue and waits for it, reporting progress."""
    started = time.perf_counter()
    result = rollout_task.apply_async(args=[run_id], queue="gpu")
    services.run_set_stage(run_id=run_id, stage="rollout", celery_task_id=result.id)
    path = _wait(result, run_id=run_id, timeout_s=settings.GCF_ROLLOUT_TIMEOUT_S, what="rollout")
    services.run_record_timing(
        run_id=run_id, stage="rollout_wall", seconds=time.perf_counter() - started
    )
    return path


@task(name="render-products")
def render_products(run_id: int) -> list[dict]:
    """Submits the map rendering to the Celery `cpu` queue and waits for it."""
    result = render_products_task.apply_async(args=[run_id], queue="cpu")
    # celery_task_id stays the rollout's (the one that matters after a worker loss).
    services.run_set_stage(run_id=run_id, stage="render")
    services.run_record_lineage(run_id=run_id, render_task_id=result.id)
    return _wait(result, run_id=run_id, timeout_s=settings.GCF_RENDER_TIMEOUT_S, what="render")


@task(name="publish")
def publish(run_id: int, products: list[dict]) -> int:
    """Records the products (Product rows) and marks the run succeeded."""
    count = services.run_publish_products(run_id=run_id, products=products)
    services.run_mark_succeeded(run_id=run_id)
    return count


def _on_crashed(flow_, flow_run, state) -> None:
    """Best effort: a crashed flow run (killed, cancelled) fails its run record."""
    run_id = _RUN_OF_FLOW_RUN.get(str(flow_run.id)) or flow_run.parameters.get("run_id")
    if run_id:
        services.run_mark_failed(run_id=run_id, error=f"flow run crashed: {state.message}")


@flow(name="daily-forecast", on_crashed=[_on_crashed], on_cancellation=[_on_crashed])
def daily_forecast(
    init_time: str | None = None, run_id: int | None = None, triggered_by: str = "cli"
) -> int:
    """One forecast cycle; returns the run id.

    Args:
      init_time: ISO 8601 UTC init time; default the latest available cycle.
      run_id: an existing QUEUED run to execute (admin reruns, backfills); its own init time
        and configuration are used.
      triggered_by: schedule / cli / admin / backfill (for a new run).
    """
    log = get_run_logger()
    services.run_reap_stale()
    if run_id is None:
        config = cycle.cycle_config()
        resolved = resolve_init_time(init_time, config.data_source)
        run_id = create_run(resolved, config, triggered_by)
    flow_run_id = str(current_flow_run.id or "")
    _RUN_OF_FLOW_RUN[flow_run_id] = run_id
    started = time.perf_counter()
    try:
        run = services.run_mark_running(
            run_id=run_id, stage="start", prefect_flow_run_id=flow_run_id
        )
        log.info(
            "run %s: %s, predictor %s, %s data",
            run_id,
            run.init_time,
            run.predictor_spec,
            run.data_source,
        )
        if run.predictor_note:
            log.warning("run %s: %s", run_id, run.predictor_note)
        services.run_record_lineage(
            run_id=run_id,
            code_version=provenance.code_version(),
            libraries=provenance.library_versions(),
            stats_dir=str(settings.GCF_STATS_DIR),
            predictor_spec=run.predictor_spec,
        )
        try:
            path = acquire_inputs(run_id)
            validate_inputs(run_id, path)
        except InvalidInputError as exc:
            # Unusable inputs (rejected request, corrupt file, failed guardrail): retrying the
            # same cycle will not help, so the run is set aside with the reason.
            services.run_mark_quarantined(run_id=run_id, error=exc)
            raise
        rollout(run_id)
        products = render_products(run_id)
        count = publish(run_id, products)
    except BaseException as exc:
        # A quarantined run keeps its status; anything else ends failed with the reason.
        services.run_mark_failed(run_id=run_id, error=exc)
        raise
    finally:
        services.run_record_timing(
            run_id=run_id, stage="total", seconds=time.perf_counter() - started
        )
        _RUN_OF_FLOW_RUN.pop(flow_run_id, None)
    log.info("run %s succeeded: %d products", run_id, count)
    return run_id


def main(argv: list[str] | None = None) -> int:
    """Command line: run one cycle; exit 0 on success, 2 on a forecast error, 1 otherwise."""
    parser = argparse.ArgumentParser(
        prog="python -m flows.daily", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--init-time", help="ISO 8601 UTC init time (default: latest cycle)")
    parser.add_argument("--run-id", type=int, help="execute this existing queued run")
    parser.add_argument(
        "--triggered-by", default="cli", choices=[c.value for c in ForecastRun.Trigger]
    )
    args = parser.parse_args(argv)
    try:
        run_id = daily_forecast(
            init_time=args.init_time, run_id=args.run_id, triggered_by=args.triggered_by
        )
    except ForecastError as exc:
        print(f"forecast cycle failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - one readable line for the operator
        print(f"forecast cycle failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    finally:
        # Let go of the database now, not when Prefect's shutdown lets the process exit.
        connections.close_all()
    print(f"run {run_id} succeeded")
    return 0


if __name__ == "__main__":
    sys.exit(main())
