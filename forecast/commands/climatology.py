"""`forecast climatology`: a day-of-year × hour climatology from an archive, for `forecast score`.

    forecast climatology --archive era5.nc --output clim.nc [--days 320-330] [--window 61]

The archive is in the model layout (e.g. written by `forecast synth` or converted ERA5); the
result has dims (dayofyear, hour, [level,] lat, lon), smoothed with WeatherBench2's 61-day
triangular window over day of year, wrapping around the year.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import xarray as xr

from forecast.data.acquire import write_atomic
from forecast.errors import InvalidInputError
from forecast.verify.climatology import compute_climatology


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "climatology",
        help="compute a smoothed day-of-year × hour climatology from an archive",
        description=__doc__.splitlines()[0],
    )
    parser.add_argument("--archive", required=True, type=Path, help="model-layout NetCDF")
    parser.add_argument("--output", required=True, type=Path, help="NetCDF file to write")
    parser.add_argument("--days", help="days of year to produce, e.g. 320-330,1,2 (default all)")
    parser.add_argument("--window", type=int, default=61, help="window length in days (odd)")
    parser.set_defaults(func=run)


def parse_days(text: str) -> list[int]:
    """ "320-330,1,2" → [320, …, 330, 1, 2].

    Raises:
      InvalidInputError: not a list of days or ranges.
    """
    days: list[int] = []
    try:
        for part in text.split(","):
            first, _, last = part.strip().partition("-")
            days += list(range(int(first), int(last or first) + 1))
    except ValueError:
        raise InvalidInputError(f"--days must look like 320-330,1,2; got {text!r}") from None
    return days


def run(args: argparse.Namespace) -> int:
    if not args.archive.is_file():
        raise InvalidInputError(f"archive file not found: {args.archive}")
    try:
        archive = xr.open_dataset(args.archive)
    except (OSError, ValueError) as exc:
        raise InvalidInputError(f"cannot read archive file {args.archive}: {exc}") from exc
    with archive:
        days = parse_days(args.days) if args.days else None
        clim = compute_climatology(archive, window_days=args.window, dayofyear=days)
    write_atomic(clim, args.output)
    print(
        f"wrote {args.output}: {clim.sizes['dayofyear']} days × {clim.sizes['hour']} hours from "
        f"{clim.attrs['archive_times_used']} archive times"
    )
    return 0
