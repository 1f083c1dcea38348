"""`forecast climatology`: a day-of-year × hour climatology of an ERA5 archive, on Dask.

    forecast climatology --archive era5.zarr --output climatology.nc --days 320-330
    forecast climatology --archive 'era5/*.nc' --output clim.zarr --scheduler tcp://host:8786

WeatherBench 2's method (61-day triangular window, `forecast.verify.climatology`). The archive
(a Zarr store in the WeatherBench 2 / ARCO-ERA5 / model layout, one NetCDF, or many NetCDF files
by glob) is read lazily and reduced on Dask in bounded memory: a LocalCluster by default,
`--scheduler` for a running cluster. The output (.nc or .zarr) appears atomically.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from forecast.commands import UsageError
from forecast.commands.cluster import add_dask_arguments, dask_client


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "climatology",
        help="day-of-year climatology of an archive (Dask)",
        description=__doc__,
    )
    parser.add_argument(
        "--archive", required=True, help="Zarr store, NetCDF file, or glob of NetCDF files"
    )
    parser.add_argument("--output", required=True, type=Path, help="file to write (.nc, .zarr)")
    parser.add_argument("--days", help="days of year to produce, e.g. 320-330,1,2 (default all)")
    parser.add_argument("--window", type=int, default=61, help="window length in days (odd)")
    parser.add_argument("--variables", default=None, help="comma-separated (default: all)")
    add_dask_arguments(parser)
    parser.set_defaults(func=run)


def parse_days(text: str) -> list[int]:
    """ "320-330,1,2" → [320, …, 330, 1, 2].

    Raises:
      UsageError: not a list of days or ranges.
    """
    days: list[int] = []
    try:
        for part in text.split(","):
            first, _, last = part.strip().partition("-")
            days += list(range(int(first), int(last or first) + 1))
    except ValueError:
        raise UsageError(f"--days must look like 320-330,1,2; got {text!r}") from None
    return days


def run(args: argparse.Namespace) -> int:
    from forecast.data.sources import open_era5_archive
    from forecast.io.atomic import atomic_output
    from forecast.verify.climatology import compute_climatology_dask

    if args.output.suffix not in (".nc", ".zarr"):
        raise UsageError(f"--output must end in .nc or .zarr, got {args.output}")
    days = parse_days(args.days) if args.days else None
    variables = args.variables.split(",") if args.variables else None
    started = time.perf_counter()
    archive = open_era5_archive(args.archive)
    clim = compute_climatology_dask(
        archive, window_days=args.window, dayofyear=days, variables=variables
    )
    with dask_client(args.scheduler, workers=args.workers, memory_limit=args.memory_limit):
        directory = args.output.suffix == ".zarr"
        with atomic_output(args.output, directory=directory) as tmp:
            if directory:
                clim.to_zarr(tmp, mode="w", consolidated=True, zarr_format=2)
            else:
                clim.to_netcdf(tmp, engine="netcdf4")
    print(
        f"wrote {args.output}: {clim.sizes['dayofyear']} days × {clim.sizes['hour']} hours from "
        f"{clim.attrs['archive_times_used']} archive times in "
        f"{time.perf_counter() - started:.1f} s",
        file=sys.stdout,
    )
    return 0
