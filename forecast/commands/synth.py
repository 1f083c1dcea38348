"""`forecast synth`: write the synthetic offline world for a span of times to a NetCDF archive.

    forecast synth --start 2025-01-01 --end 2025-12-31T18 --grid 4 --levels 13 --output world.nc

The archive is in the model layout (docs/design.md), one frame per `--step`, and marked
`source="synthetic"`, `synthetic=1`, `synthetic_seed`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from forecast.errors import InvalidInputError
from forecast.variables import PRESSURE_LEVELS


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "synth", help="write the synthetic world to an archive", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--start", required=True, help="first valid time, ISO 8601 UTC")
    parser.add_argument("--end", required=True, help="last valid time (inclusive)")
    parser.add_argument("--step", default="6h", help="time step (pandas syntax), default 6h")
    parser.add_argument("--grid", type=float, default=1.0, help="grid spacing in degrees")
    parser.add_argument("--levels", type=int, default=13, help="pressure level set: 13, 25 or 37")
    parser.add_argument("--seed", type=int, default=0, help="the world's seed")
    parser.add_argument(
        "--precipitation-hours", type=int, choices=(1, 6), default=6, help="accumulation period"
    )
    parser.add_argument("--no-compress", action="store_true", help="store without zlib")
    parser.add_argument("--output", required=True, type=Path, help="NetCDF file to write")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from forecast.data.synthetic import write_synthetic_archive

    if args.levels not in PRESSURE_LEVELS:
        raise InvalidInputError(f"--levels must be one of {sorted(PRESSURE_LEVELS)}")
    try:
        times = pd.date_range(args.start, args.end, freq=args.step)
    except ValueError as exc:
        raise InvalidInputError(f"bad --start/--end/--step: {exc}") from exc
    if times.size == 0:
        raise InvalidInputError(f"no times between --start {args.start} and --end {args.end}")
    with tqdm(total=times.size, unit="frame", disable=args.quiet) as bar:
        write_synthetic_archive(
            args.output,
            times,
            grid_deg=args.grid,
            levels=PRESSURE_LEVELS[args.levels],
            seed=args.seed,
            precipitation_hours=args.precipitation_hours,
            compress=not args.no_compress,
            progress=lambda done, total: bar.update(done - bar.n),
        )
    print(f"wrote {times.size} frames to {args.output}")
    return 0
