"""`forecast stats`: normalisation statistics of an archive, in DeepMind's layout, on Dask.

    forecast stats --archive var/world.nc --output stats/demo
    forecast stats --archive era5.zarr --output stats/era5 --scheduler tcp://host:8786

Writes `mean_by_level.nc`, `stddev_by_level.nc` and `diffs_stddev_by_level.nc` (see
`forecast.training.statistics`): unweighted means over all grid points unless
`--area-weighted`. The archive (Zarr store, NetCDF file or glob of files, in any common layout)
is reduced on Dask in bounded memory: a LocalCluster by default, `--scheduler` for a cluster.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from forecast.commands.cluster import add_dask_arguments, dask_client


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "stats", help="normalisation statistics of an archive (Dask)", description=__doc__
    )
    parser.add_argument(
        "--archive", required=True, help="Zarr store, NetCDF file, or glob of NetCDF files"
    )
    parser.add_argument("--output", required=True, type=Path, help="directory to write")
    parser.add_argument("--start", default=None, help="first time to use (default: all)")
    parser.add_argument("--end", default=None, help="last time to use (inclusive)")
    parser.add_argument("--area-weighted", action="store_true", help="weight rows by cos(latitude)")
    add_dask_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from forecast.data.sources import open_era5_archive
    from forecast.training.statistics import compute_statistics_dask, write_statistics

    archive = open_era5_archive(args.archive)
    if args.start is not None or args.end is not None:
        archive = archive.sel(time=slice(args.start, args.end))
    with dask_client(args.scheduler, workers=args.workers, memory_limit=args.memory_limit):
        stats = compute_statistics_dask(archive, area_weighted=args.area_weighted)
    out = write_statistics(stats, args.output)
    print(f"wrote statistics to {out}")
    return 0
