"""Run the local open-data server in the foreground: `python -m devtools.local_opendata`.

Prints the base URL to give the client (`GCF_OPENDATA_URL`) and serves until interrupted.
Binds 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys

from devtools.local_opendata.server import Faults, LocalOpenData


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.local_opendata", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="TCP port (0: pick a free one)")
    parser.add_argument("--grid", type=float, default=0.25, help="published grid spacing (°)")
    parser.add_argument("--seed", type=int, default=0, help="synthetic world seed")
    parser.add_argument(
        "--delay-hours", type=float, default=7.0, help="publication delay after the cycle time"
    )
    parser.add_argument("--now", help="the server's clock, ISO UTC (default: the real clock)")
    parser.add_argument(
        "--no-statics", action="store_true", help="publish no surface z/lsm (older cycles)"
    )
    parser.add_argument(
        "--geopotential", choices=("gh", "z"), default="gh", help="pressure-level geopotential"
    )
    faults = parser.add_argument_group("misbehaviour (counts apply to the next N)")
    faults.add_argument("--unavailable", type=int, default=0, help="answer N requests with 503")
    faults.add_argument("--truncate", type=int, default=0, help="cut N downloads half-way")
    faults.add_argument("--corrupt", type=int, default=0, help="damage N GRIB downloads")
    parser.add_argument("--verbose", action="store_true", help="log every HTTP request")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO)
    server = LocalOpenData(
        port=args.port,
        grid_deg=args.grid,
        seed=args.seed,
        now=dt.datetime.fromisoformat(args.now) if args.now else None,
        publication_delay=dt.timedelta(hours=args.delay_hours),
        statics=not args.no_statics,
        pressure_geopotential=args.geopotential,
        faults=Faults(unavailable=args.unavailable, truncate=args.truncate, corrupt=args.corrupt),
    )
    print(f"local open-data server listening on {server.url}", flush=True)
    print(f"GCF_OPENDATA_URL={server.url}", flush=True)
    print(f"newest published cycle: {server.latest_published():%Y-%m-%dT%H} UTC", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
