"""Real-time cycles from IFS open data, started when each cycle is actually published.

ECMWF publishes a cycle some 6–8 h after its nominal time, file by file, and not at a fixed
minute. The `opendata-poll` deployment (every 15 minutes, `flows/deployments.py`) reads the
indexes of the newest cycles and, once the newest init time's two input cycles are complete,
starts the daily cycle for it with the operational-style checkpoint. One run per cycle (the
run record's constraint) makes the poll idempotent: a published cycle that already has a
run is left alone, one whose run failed is tried again.

Run once: `python -m flows.opendata [--now 2026-11-30T15:00]`.
"""

from __future__ import annotations

import argparse
import os
import sys

import pandas as pd
from django.conf import settings
from prefect import flow, get_run_logger, task

from flows import inputs
from flows.daily import daily_forecast
from flows.launch import guard_process_group
from flows.retry import retry_only_transient
from forecast.errors import DataUnavailableError, ForecastError


@task(
    name="newest-published-cycle",
    retries=2,
    retry_delay_seconds=[10, 60],
    retry_condition_fn=retry_only_transient,
)
def newest_published_cycle(url: str, now: str | None) -> str | None:
    """The newest init time whose input cycles are completely published, or None yet."""
    from forecast.data.opendata import OpenDataClient, latest_cycle

    when = pd.Timestamp(now).tz_convert("UTC").tz_localize(None) if now else None
    try:
        return latest_cycle(OpenDataClient(url), now=when).isoformat()
    except DataUnavailableError as exc:
        get_run_logger().info("no complete open-data cycle yet: %s", exc)
        return None


@flow(name="opendata-poll")
def opendata_poll(now: str | None = None, predictor_spec: str = "") -> int | None:
    """Starts (once) the cycle of the newest completely published open-data cycle.

    Args:
      now: ISO 8601 UTC "current time" (default: the clock).
      predictor_spec: the checkpoint to run (default GCF_OPENDATA_PREDICTOR).

    Returns:
      The run id of that cycle (new or already there), or None when nothing is published.
    """
    log = get_run_logger()
    url = settings.GCF_OPENDATA_URL
    init_time = newest_published_cycle(url, now)
    if init_time is None:
        return None
    log.info("open data: cycle %s UTC is published at %s", init_time, url)
    return daily_forecast(
        init_time=inputs.resolve_init_time(init_time, source="opendata").isoformat(),
        triggered_by="schedule",
        source="opendata",
        predictor_spec=predictor_spec or settings.GCF_OPENDATA_PREDICTOR,
    )


def main(argv: list[str] | None = None) -> int:
    """Command line: poll once; exit 0 (also when nothing is published yet), 2 on a forecast
    error, 1 otherwise."""
    parser = argparse.ArgumentParser(
        prog="python -m flows.opendata", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--now", help="ISO 8601 UTC time to judge publication at")
    parser.add_argument("--predictor", default="", help="checkpoint (default: the operational)")
    args = parser.parse_args(argv)
    if not os.environ.get("PREFECT_API_URL"):
        # Prefect will start a temporary API server as our child: never leave it behind.
        guard_process_group()
    try:
        run_id = opendata_poll(now=args.now, predictor_spec=args.predictor)
    except ForecastError as exc:
        print(f"open-data cycle failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - one readable line for the operator
        print(f"open-data cycle failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    finally:
        from django.db import connections

        connections.close_all()
    print("no complete open-data cycle yet" if run_id is None else f"run {run_id}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
