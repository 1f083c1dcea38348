"""Run the local CDS in the foreground: `python -m devtools.local_cds --port 8765`.

Prints the URL and key to give the client (`CDSAPI_URL`, `CDSAPI_KEY`) and serves until
interrupted. Binds 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import signal
import sys

from devtools.local_cds.server import DEFAULT_KEY, Faults, LocalCds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.local_cds", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="TCP port (0: pick a free one)")
    parser.add_argument("--key", default=DEFAULT_KEY, help="the personal access token accepted")
    parser.add_argument("--seed", type=int, default=0, help="synthetic world seed")
    parser.add_argument(
        "--latency-days", type=float, default=5.0, help="data end this far behind now (ERA5T: 5)"
    )
    parser.add_argument(
        "--available-until", help="newest valid time served, ISO (overrides --latency-days)"
    )
    parser.add_argument("--queue-seconds", type=float, default=0.0, help="time jobs stay queued")
    parser.add_argument("--run-seconds", type=float, default=0.0, help="time jobs stay running")
    faults = parser.add_argument_group("misbehaviour (counts apply to the next N)")
    faults.add_argument("--unavailable", type=int, default=0, help="answer N requests with 503")
    faults.add_argument("--drop", type=int, default=0, help="drop N connections unanswered")
    faults.add_argument("--reject", type=int, default=0, help="reject N jobs")
    faults.add_argument("--fail", type=int, default=0, help="fail N jobs")
    faults.add_argument("--truncate", type=int, default=0, help="cut N downloads half-way")
    faults.add_argument("--no-ranges", action="store_true", help="ignore Range requests")
    parser.add_argument("--verbose", action="store_true", help="log every HTTP request")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO)
    until = dt.datetime.fromisoformat(args.available_until) if args.available_until else None
    server = LocalCds(
        port=args.port,
        key=args.key,
        seed=args.seed,
        latency=dt.timedelta(days=args.latency_days),
        available_until=until,
        faults=Faults(
            unavailable=args.unavailable,
            drop=args.drop,
            reject=args.reject,
            fail=args.fail,
            truncate=args.truncate,
            ranges=not args.no_ranges,
            queue_seconds=args.queue_seconds,
            run_seconds=args.run_seconds,
        ),
    )
    print(f"local CDS listening on {server.url}", flush=True)
    print(f"CDSAPI_URL={server.url} CDSAPI_KEY={server.key}", flush=True)
    print(f"data available until {server.available_until:%Y-%m-%dT%H:%M}", flush=True)
    # SIGTERM (how tests and the demo stop it) ends the server like Ctrl-C, so its files go too.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
