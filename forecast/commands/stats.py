"""`forecast stats`: normalisation statistics of an archive, in DeepMind's layout.

    forecast stats --archive var/world.nc --output stats/demo

Writes `mean_by_level.nc`, `stddev_by_level.nc` and `diffs_stddev_by_level.nc` (see
`forecast.training.statistics`): unweighted means over all grid points unless
`--area-weighted`.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "stats", help="normalisation statistics of an archive", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--archive", required=True, type=Path, help="model-layout NetCDF archive")
    parser.add_argument("--output", required=True, type=Path, help="directory to write")
    parser.add_argument("--start", default=None, help="first time to use (default: all)")
    parser.add_argument("--end", default=None, help="last time to use (inclusive)")
    parser.add_argument("--area-weighted", action="store_true", help="weight rows by cos(latitude)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from forecast.training.statistics import statistics_from_archive

    out = statistics_from_archive(
        args.archive, args.output, area_weighted=args.area_weighted, start=args.start, end=args.end
    )
    print(f"wrote statistics to {out}")
    return 0
