"""The daily forecast cycle as a Prefect flow: inputs → validation → rollout → products.

The flow passes ids, waits and decides; it never touches the ORM (every record read or
write goes through `flows.gateway`). The heavy steps run on Celery (`gpu` for the rollout,
`cpu` for the products), each task owning its step (`flows.steps` submits and waits). The
run record in the database is the source of truth: every outcome ends in it (succeeded,
failed with the error's type and message, quarantined when the inputs are invalid,
cancelled by an admin).

Two triggers of the same cycle at once yield one run (the second returns the first's id).
A flow beats on the run (`flow_heartbeat_at`) from a thread while it lives; when it dies,
the reaper (`python -m flows.reaper`) resumes the run with a new flow, which adopts or
reuses what the dead one finished.

Run once: `python -m flows.daily [--init-time 2026-11-16T00:00] [--run-id N]`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import shutil
import sys
import threading
import time
from pathlib import Path

from django.conf import settings
from django.db import connections
from prefect import flow, get_run_logger, task
from prefect.runtime import flow_run as current_flow_run

from flows import cycle, gateway, inputs, steps
from flows.launch import guard_process_group
from flows.retry import retry_only_transient
from forecast.errors import ForecastError, InvalidInputError
from forecast.io.atomic import atomic_output
from forecast.model import checkpoint
from webapp.ops.logs import bind_run_id
from webapp.runs import paths, provenance
from webapp.runs.tasks import (
    discard_products_task,
    publish_products_task,
    render_part_task,
    rollout_task,
)

logger = logging.getLogger(__name__)

# How often a live flow beats on its run; the reaper resumes a run silent for
# GCF_FLOW_STALE_AFTER_S (a few beats).
FLOW_HEARTBEAT_S = 10.0


class FlowHeartbeat:
    """Beats on the run from a thread while the flow lives (any stage: a CDS download can
    take minutes), so a dead flow is noticed in minutes while its worker still runs."""

    def __init__(self, run_id: int, every_s: float = FLOW_HEARTBEAT_S) -> None:
        self.run_id = run_id
        self.every_s = every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{run_id}", daemon=True)

    def _beat(self) -> None:
        try:
            while not self._stop.wait(self.every_s):
                try:
                    gateway.beat(self.run_id)
                except Exception as exc:  # noqa: BLE001 - a missed beat is not fatal
                    logger.warning("run %s: flow heartbeat failed: %s", self.run_id, exc)
        finally:
            connections.close_all()

    def __enter__(self) -> FlowHeartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(self.every_s + 5)


@task(name="resolve-init-time")
def resolve_init_time(init_time: str | None, source: str, opendata_url: str = "") -> str:
    """The cycle's init time, ISO 8601 UTC."""
    return inputs.resolve_init_time(init_time, source=source, opendata_url=opendata_url).isoformat()


@task(name="get-or-create-run")
def get_or_create_run(
    init_time: str, config: gateway.RunConfig, triggered_by: str
) -> tuple[int, bool]:
    """The cycle's run (QUEUED when new) and whether this trigger created it."""
    return gateway.get_or_create_run(dt.datetime.fromisoformat(init_time), config, triggered_by)


@task(
    name="acquire-inputs",
    retries=3,
    retry_delay_seconds=[10, 60, 300],
    retry_condition_fn=retry_only_transient,
)
def acquire_inputs(run_id: int) -> str:
    """Fetches (or generates) the inputs into the cache and copies them to the run directory."""
    config = gateway.config(run_id)
    gateway.beat(run_id, stage="acquire")
    cached = inputs.acquire_inputs(
        gateway.init_time(run_id),
        levels=config.levels,
        grid_deg=config.grid_deg,
        cache_dir=Path(settings.GCF_CACHE_DIR),
        source=config.data_source,
        opendata_url=config.opendata_url,
    )
    synthetic, origin = inputs.input_origin(cached)
    gateway.record_input_origin(run_id, synthetic=synthetic, description=origin)
    target = paths.inputs_path(run_id)
    with atomic_output(target) as tmp:
        shutil.copyfile(cached, tmp)
    gateway.record_lineage(
        run_id,
        inputs=[
            {
                "path": str(cached),
                "cache_key": Path(cached).name,
                "sha256": checkpoint.file_sha256(target),
            }
        ],
        run_inputs=str(target),
    )
    return str(target)


@task(name="validate-inputs")
def validate_inputs(run_id: int, path: str) -> None:
    """Checks the inputs (guardrails); raises InvalidInputError naming the culprit."""
    config = gateway.config(run_id)
    gateway.beat(run_id, stage="validate")
    checked = inputs.validate_inputs(
        Path(path),
        levels=config.levels,
        grid_deg=config.grid_deg,
        stats_dir=Path(config.stats_dir) if config.stats_dir else None,
        input_variables=inputs.task_input_variables(config.checkpoint_path, config.data_source),
    )
    gateway.record_lineage(run_id, guardrails=checked)


@task(name="rollout")
def rollout(run_id: int) -> str:
    """The rollout on the Celery `gpu` queue, within the run's time limits."""
    config = gateway.config(run_id)
    started = time.perf_counter()
    path = steps.run_on_worker(
        rollout_task,
        run_id,
        stage="rollout",
        soft_s=config.rollout_soft_time_limit_s,
        hard_s=config.rollout_time_limit_s,
    )
    gateway.record_timing(run_id, "rollout_wall", time.perf_counter() - started)
    return path


@task(name="products")
def products(run_id: int) -> int:
    """The maps: `render_parts` parts rendered in parallel by the Celery `cpu` workers, then
    published by one more task; returns how many (-1 when the run stopped meanwhile).

    The attempt's token is recorded on the run, so a resumed flow adopts the parts a dead one
    started. A failed part: the attempt's staging directory is discarded, then its error
    raised.
    """
    config = gateway.config(run_id)
    token = gateway.products_attempt(run_id)
    parts = config.render_parts
    soft_s, hard_s = max(1, config.render_time_limit_s - 30), config.render_time_limit_s
    started = time.perf_counter()
    try:
        counts = steps.run_all_on_workers(
            run_id,
            [
                steps.Step(render_part_task, gateway.render_stage(part), soft_s, hard_s,
                           (part, parts, token))
                for part in range(parts)
            ],
        )  # fmt: skip
    except Exception:
        _discard_products(run_id, token)
        raise
    if any(count < 0 for count in counts):
        _discard_products(run_id, token)
        return -1
    count = steps.run_on_worker(
        publish_products_task,
        run_id,
        stage="publish",
        soft_s=soft_s,
        hard_s=hard_s,
        args=(token, parts),
    )
    gateway.record_timing(run_id, "render", time.perf_counter() - started)
    return count


def _discard_products(run_id: int, token: str) -> None:
    """Removes what the render parts of an attempt that will not be published left (best
    effort: a later attempt's publish sweeps it too)."""
    try:
        steps.run_on_worker(
            discard_products_task,
            run_id,
            stage="discard",
            soft_s=50,
            hard_s=60,
            args=(token,),
            stop_with_run=False,
        )
    except Exception as exc:  # noqa: BLE001 - the run's own error is the one to report
        logger.warning("run %s: discarding products attempt %s failed: %s", run_id, token, exc)


def _on_crashed(flow_, flow_run, state) -> None:
    """Best effort: a crashed flow run fails its run record (the reaper covers a SIGKILL)."""
    run_id = flow_run.parameters.get("run_id") or _RUN_OF_FLOW_RUN.get(str(flow_run.id))
    if run_id:
        gateway.fail(run_id, f"flow run crashed: {state.message}")


# flow-run id → run id, for the crash hook (the run may be created inside the flow).
_RUN_OF_FLOW_RUN: dict[str, int] = {}


@flow(name="daily-forecast", on_crashed=[_on_crashed], on_cancellation=[_on_crashed])
def daily_forecast(
    init_time: str | None = None,
    run_id: int | None = None,
    triggered_by: str = "cli",
    source: str = "",
    predictor_spec: str = "",
) -> int:
    """One forecast cycle; returns the run id.

    Args:
      init_time: ISO 8601 UTC init time; default the latest available cycle.
      run_id: an existing run to execute (admin reruns, backfills, a resumed run); its own
        init time and frozen configuration are used.
      triggered_by: schedule / cli / admin / backfill (for a new run).
      source: the data source of a new run ("" = from the checkpoint's task or settings).
      predictor_spec: the predictor of a new run ("" = from the settings).
    """
    log = get_run_logger()
    # Runs whose flow died are resumed or closed (also scheduled: flows/deployments.py).
    gateway.reap()
    if run_id is None:
        config = cycle.cycle_config(source=source, predictor_spec=predictor_spec)
        resolved = resolve_init_time(init_time, config.data_source, config.opendata_url)
        run_id, created = get_or_create_run(resolved, config, triggered_by)
        if not created:
            log.info("cycle %s already has run %s; not starting another", resolved, run_id)
            return run_id
    flow_run_id = str(current_flow_run.id or "")
    _RUN_OF_FLOW_RUN[flow_run_id] = run_id
    started = time.perf_counter()
    try:
        gateway.claim(run_id, flow_run_id)
        with FlowHeartbeat(run_id), bind_run_id(run_id):
            _execute(run_id, log)
    except gateway.RunClaimedError as exc:
        log.info("%s; leaving it to that flow", exc)
        return run_id
    except steps.RunStopped as exc:
        log.warning("%s", exc)
        raise
    except InvalidInputError as exc:
        # Unusable inputs (rejected request, corrupt file, failed guardrail): retrying the
        # same cycle will not help, so the run is set aside with the reason.
        gateway.quarantine(run_id, exc)
        raise
    except BaseException as exc:
        # A finished (quarantined, cancelled) run keeps its status; else failed, with the reason.
        gateway.fail(run_id, exc)
        raise
    finally:
        gateway.record_timing(run_id, "total", time.perf_counter() - started)
        _RUN_OF_FLOW_RUN.pop(flow_run_id, None)
    return run_id


def _execute(run_id: int, log) -> None:
    """The steps of a claimed run, in order; each either finishes or raises."""
    config = gateway.config(run_id)
    log.info(
        "run %s: %s, predictor %s, %s data",
        run_id,
        gateway.init_time(run_id),
        config.predictor_spec,
        config.data_source,
    )
    if config.predictor_note:
        log.warning("run %s: %s", run_id, config.predictor_note)
    gateway.record_lineage(
        run_id,
        code_version=provenance.code_version(),
        libraries=provenance.library_versions(),
    )
    path = acquire_inputs(run_id)
    validate_inputs(run_id, path)
    rollout(run_id)
    count = products(run_id)
    if count < 0:
        raise steps.RunStopped(f"run {run_id} is {gateway.status(run_id)}; products stopped")
    gateway.succeed(run_id)
    log.info("run %s succeeded: %d products", run_id, count)


def main(argv: list[str] | None = None) -> int:
    """Command line: run one cycle; exit 0 on success, 2 on a forecast error, 1 otherwise."""
    parser = argparse.ArgumentParser(
        prog="python -m flows.daily", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--init-time", help="ISO 8601 UTC init time (default: latest cycle)")
    parser.add_argument("--run-id", type=int, help="execute (or resume) this existing run")
    parser.add_argument("--triggered-by", default="cli", choices=gateway.TRIGGERS)
    parser.add_argument(
        "--source",
        default="",
        choices=["", *cycle.SOURCES],
        help="data source of a new run (default: from the checkpoint's task or GCF_DATA_SOURCE)",
    )
    parser.add_argument("--predictor", default="", help="predictor spec of a new run")
    args = parser.parse_args(argv)
    if not os.environ.get("PREFECT_API_URL"):
        # Prefect will start a temporary API server as our child: never leave it behind.
        guard_process_group()
    try:
        run_id = daily_forecast(
            init_time=args.init_time,
            run_id=args.run_id,
            triggered_by=args.triggered_by,
            source=args.source,
            predictor_spec=args.predictor,
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
    print(f"run {run_id}: {gateway.status(run_id)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
