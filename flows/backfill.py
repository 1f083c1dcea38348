"""Backfill: run the daily cycle for every init time in a range that has no good run yet.

`python -m flows.backfill 2026-11-01T00 2026-11-03T18 [--every-hours 6]`
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys

import pandas as pd
from prefect import flow, get_run_logger

from flows import gateway
from flows.daily import daily_forecast


def init_times(start: str | dt.datetime, end: str | dt.datetime, *, every_hours: int = 6) -> list:
    """The init times from `start` to `end` inclusive, every `every_hours` (aware UTC)."""
    if every_hours % 6:
        raise ValueError(f"every_hours must be a multiple of 6, got {every_hours}")
    first, last = (pd.Timestamp(t) for t in (start, end))
    first = first.tz_localize("UTC") if first.tzinfo is None else first.tz_convert("UTC")
    last = last.tz_localize("UTC") if last.tzinfo is None else last.tz_convert("UTC")
    if last < first:
        raise ValueError(f"backfill end {last} is before its start {first}")
    return [
        t.to_pydatetime() for t in pd.date_range(first.ceil("6h"), last, freq=f"{every_hours}h")
    ]


@flow(name="backfill")
def backfill(start: str, end: str, every_hours: int = 6) -> dict[str, int | str]:
    """Runs `daily_forecast` for each missing init time in [start, end]; one failure does not
    stop the others. Returns {init time: run id or error}."""
    log = get_run_logger()
    wanted = init_times(start, end, every_hours=every_hours)
    missing = gateway.missing_init_times(wanted)
    log.info("backfill %s → %s: %d of %d cycles missing", start, end, len(missing), len(wanted))
    outcome: dict[str, int | str] = {}
    for init_time in missing:
        key = init_time.isoformat()
        try:
            outcome[key] = daily_forecast(init_time=key, triggered_by="backfill")
        except Exception as exc:  # noqa: BLE001 - recorded on the run; carry on with the rest
            outcome[key] = f"{type(exc).__name__}: {exc}"
            log.error("backfill cycle %s failed: %s", key, outcome[key])
    return outcome


def main(argv: list[str] | None = None) -> int:
    """Command line: backfill a range; exit 1 when any cycle failed."""
    parser = argparse.ArgumentParser(
        prog="python -m flows.backfill", description=__doc__.splitlines()[0]
    )
    parser.add_argument("start")
    parser.add_argument("end")
    parser.add_argument("--every-hours", type=int, default=6)
    args = parser.parse_args(argv)
    outcome = backfill(args.start, args.end, args.every_hours)
    for key, value in outcome.items():
        print(f"{key}: {value}")
    return 1 if any(isinstance(v, str) for v in outcome.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
