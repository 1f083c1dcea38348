"""The verification flow: score every run whose truth has arrived since it was last scored.

Two tiers, each its own deployment (see `flows/deployments.py`): `truth_source="ifs_analysis"`
scores open-data runs against the IFS analysis (step 0 of later cycles, published hours after
each valid time), `truth_source="era5"` scores every run against ERA5T when it arrives. Both are
stored side by side (`ScoreSum.truth_source`).

Per tier: find succeeded runs with unscored leads → for each, the
leads whose valid time's truth is now available (ERA5T ~5 days behind; the synthetic world
mimics that) → acquire that truth through its cache (retried when not there yet) → the
climatology for those days → score on the Celery `cpu` queue (model, persistence, climatology;
sums upserted, so re-scoring is idempotent; score plots and error maps rendered) → the
cross-run history and scorecard plots. A run that fails to score is recorded and the others
go on; the flow fails at the end if any did.

Run once: `python -m flows.verify [--now 2026-11-30T00:00] [--run-id N ...]`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys

import pandas as pd
from prefect import flow, get_run_logger, task

from flows.django_setup import setup_django
from flows.retry import retry_only_transient

setup_django()

from django.conf import settings  # noqa: E402

from forecast.errors import DataUnavailableError, ForecastError  # noqa: E402
from webapp.runs import selectors as run_selectors  # noqa: E402
from webapp.verification import execution, selectors, services  # noqa: E402
from webapp.verification.models import DEFAULT_TRUTH, TruthSource  # noqa: E402
from webapp.verification.tasks import render_summary_task, score_run_task  # noqa: E402

logger = logging.getLogger(__name__)


def _timeout_s() -> int:
    return int(getattr(settings, "GCF_RENDER_TIMEOUT_S", 3600))


def _horizon(run, truth_source: str, when: pd.Timestamp) -> tuple[str, object]:
    """(cache key, function giving the newest valid time with truth) of a run's tier."""
    if truth_source == TruthSource.IFS_ANALYSIS:
        url = (run.config or {}).get("opendata_url", "")
        return f"ifs:{url}", lambda: execution.analysis_available_until(run, now=when)
    source = execution.era5_source(run)
    if source is None:
        return "none", lambda: None
    return source, lambda: execution.truth_available_until(source, now=when)


@task(name="find-verifiable-leads")
def find_verifiable_leads(
    now: str, run_ids: list[int] | None, truth_source: str = DEFAULT_TRUTH
) -> list[dict]:
    """Runs with leads whose truth is available and not yet scored: `[{run_id, valid_times}]`."""
    log = get_run_logger()
    when = pd.Timestamp(now)
    horizons: dict[str, dt.datetime | None] = {}
    pending = []
    for item in selectors.runs_awaiting_verification(run_ids=run_ids, truth_source=truth_source):
        run = run_selectors.run_get(run_id=item["run_id"])
        source, available_until = _horizon(run, truth_source, when)
        if source not in horizons:
            try:
                horizons[source] = available_until()
            except DataUnavailableError as exc:
                log.warning(
                    "truth availability for %s unknown (%s); skipping its runs", source, exc
                )
                horizons[source] = None
        horizon = horizons[source]
        if horizon is None:
            continue
        scored = set(item["leads_scored"])
        valid = [
            t
            for k, t in enumerate(execution.run_valid_times(run), start=1)
            if t <= horizon and 6 * k not in scored
        ]
        if valid:
            pending.append({"run_id": run.pk, "valid_times": [t.isoformat() for t in valid]})
            log.info(
                "run %s: %d new leads verifiable (truth until %s)", run.pk, len(valid), horizon
            )
    return pending


@task(
    name="acquire-truth",
    retries=3,
    retry_delay_seconds=[10, 60, 300],
    retry_condition_fn=retry_only_transient,
)
def acquire_truth(run_id: int, valid_times: list[str], truth_source: str = DEFAULT_TRUTH) -> str:
    """The truth of one tier at the init and valid times, through its cache → the run's dir."""
    return str(
        execution.prepare_truth(run_id=run_id, valid_times=valid_times, truth_source=truth_source)
    )


@task(name="prepare-climatology")
def prepare_climatology(run_id: int, valid_times: list[str]) -> str:
    """The climatology of the valid days → `var/runs/<id>/climatology.nc`; returns its origin."""
    return execution.prepare_climatology(run_id=run_id, valid_times=valid_times)


@task(name="score-run")
def score_run(run_id: int, truth_source: str = DEFAULT_TRUTH) -> dict:
    """Scores the run against one tier's truth on the Celery `cpu` queue and waits for it."""
    result = score_run_task.apply_async(args=[run_id, truth_source], queue="cpu")
    return result.get(timeout=_timeout_s(), disable_sync_subtasks=False)


@task(name="render-summary")
def render_summary() -> list[str]:
    """Renders the history and scorecard plots on the Celery `cpu` queue."""
    result = render_summary_task.apply_async(queue="cpu")
    return result.get(timeout=_timeout_s(), disable_sync_subtasks=False)


@flow(name="verify")
def verify(
    now: str | None = None, run_ids: list[int] | None = None, truth_source: str = DEFAULT_TRUTH
) -> dict:
    """Scores the newly verifiable leads of every run; returns what was scored and what failed.

    Args:
      now: ISO 8601 UTC "current time" for truth availability (default: the clock).
      run_ids: only these runs (default: every succeeded run not fully verified).
      truth_source: the tier: "era5" (every run) or "ifs_analysis" (open-data runs).
    """
    log = get_run_logger()
    now = now or pd.Timestamp.now(tz="UTC").isoformat()
    scored, failed = {}, {}
    for item in find_verifiable_leads(now, run_ids, truth_source):
        run_id = item["run_id"]
        try:
            acquire_truth(run_id, item["valid_times"], truth_source)
            origin = prepare_climatology(run_id, item["valid_times"])
            log.info("run %s: climatology %s", run_id, origin)
            result = score_run(run_id, truth_source)
            scored[run_id] = result["leads"]
        except Exception as exc:  # noqa: BLE001 - one run's failure must not stop the others
            log.error("run %s: verification failed: %s: %s", run_id, type(exc).__name__, exc)
            services.verification_record_failure(run_id=run_id, error=exc)
            failed[run_id] = f"{type(exc).__name__}: {exc}"
    if scored:
        render_summary()
    log.info("verified %d runs, %d failed", len(scored), len(failed))
    if failed:
        raise RuntimeError(f"verification failed for runs {sorted(failed)}: {failed}")
    return {"scored": scored, "failed": failed}


def main(argv: list[str] | None = None) -> int:
    """Command line: verify once; exit 0 on success, 2 on a forecast error, 1 otherwise."""
    parser = argparse.ArgumentParser(
        prog="python -m flows.verify", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--now", help="ISO 8601 UTC time to judge truth availability at")
    parser.add_argument("--run-id", type=int, action="append", help="only this run (repeatable)")
    parser.add_argument(
        "--truth",
        default=DEFAULT_TRUTH,
        choices=TruthSource.values,
        help="the tier: era5 (default) or ifs_analysis (open-data runs vs the IFS analysis)",
    )
    args = parser.parse_args(argv)
    try:
        result = verify(now=args.now, run_ids=args.run_id, truth_source=args.truth)
    except ForecastError as exc:
        print(f"verify: error: {exc}", file=sys.stderr)
        return 2
    print(f"verified runs: {sorted(result['scored'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
