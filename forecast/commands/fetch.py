"""`forecast fetch`: ERA5 inputs for one init time, as an example-batch NetCDF for `forecast predict`.

    forecast fetch --init-time 2026-11-16T00 --grid 1.0 --levels 13 --output inputs.nc
    forecast fetch --latest --grid 1.0 --levels 13 --output inputs.nc --cache var/cache/era5

The CDS is configured the standard way (`CDSAPI_URL`/`CDSAPI_KEY` or `~/.cdsapirc`);
`--source synthetic` uses the offline synthetic world instead. Progress goes to stderr.

`--source opendata` takes the two frames from ECMWF's real-time IFS open data (the server at
`GCF_OPENDATA_URL`, default ECMWF's), for operational-style checkpoints (no precipitation
input); `--latest` is then the newest cycle whose fields are all published:

    forecast fetch --source opendata --latest --grid 0.25 --levels 13 --output inputs.nc
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import sys
import time
from pathlib import Path

from forecast.data.cds import CdsClient, CdsProgress
from forecast.errors import InvalidInputError


def default_cache_dir() -> Path:
    """`$GCF_VAR_DIR/cache/era5`, or `var/cache/era5` in the current directory."""
    return Path(os.environ.get("GCF_VAR_DIR", "var")) / "cache" / "era5"


def opendata_url() -> str:
    """The open-data server's base URL: `$GCF_OPENDATA_URL`, default ECMWF's public server."""
    from forecast.data.opendata import DEFAULT_URL

    return os.environ.get("GCF_OPENDATA_URL", "").strip() or DEFAULT_URL


def default_opendata_cache_dir() -> Path:
    """`$GCF_VAR_DIR/cache/opendata`, or `var/cache/opendata` in the current directory."""
    return default_cache_dir().parent / "opendata"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "fetch",
        help="fetch ERA5 input frames for one init time",
        description=__doc__.splitlines()[0],
    )
    when = parser.add_mutually_exclusive_group(required=True)
    when.add_argument("--init-time", help="init time T, ISO 8601 UTC (e.g. 2026-11-16T00)")
    when.add_argument(
        "--latest", action="store_true", help="the newest init time whose inputs all exist"
    )
    parser.add_argument("--grid", type=float, default=1.0, help="grid spacing in degrees")
    parser.add_argument("--levels", type=int, default=13, help="pressure level set: 13, 25 or 37")
    parser.add_argument("--output", required=True, type=Path, help="NetCDF file to write")
    parser.add_argument("--cache", type=Path, default=None, help="ERA5 request cache directory")
    parser.add_argument(
        "--source",
        choices=("cds", "synthetic", "opendata"),
        default="cds",
        help="ERA5 from the CDS, the offline synthetic world, or IFS open data (real time)",
    )
    parser.add_argument(
        "--format", choices=("netcdf", "grib"), default="netcdf", help="what to ask the CDS for"
    )
    parser.add_argument(
        "--archive",
        default=None,
        help="take the frames from this ERA5 archive instead (Zarr store in the WeatherBench 2 "
        "/ ARCO-ERA5 layout, NetCDF file or glob); read lazily, --grid and --source unused",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    parser.set_defaults(func=run)


class _ProgressPrinter:
    """A line per state change; the download as a tqdm bar with its ETA on a terminal, else
    a line at most twice a second."""

    def __init__(self, stream=None) -> None:
        # Resolved per call, not at import: the module may be imported while stderr is swapped.
        self.stream = stream if stream is not None else sys.stderr
        self._last: tuple[str, str] | None = None
        self._last_print = 0.0
        self._bars: dict[str, object] = {}

    def __call__(self, event: CdsProgress) -> None:
        if event.stage == "downloading" and event.bytes_total and self.stream.isatty():
            self._download_bar(event)
            return
        if event.label in self._bars:
            self._bars.pop(event.label).close()
        key = (event.label, event.stage)
        now = time.monotonic()
        if key == self._last and (event.stage != "downloading" or now - self._last_print < 0.5):
            return
        self._last, self._last_print = key, now
        print(f"  {event.describe()}", file=self.stream, flush=True)

    def _download_bar(self, event: CdsProgress) -> None:
        bar = self._bars.get(event.label)
        if bar is None:
            from tqdm import tqdm

            bar = self._bars[event.label] = tqdm(
                total=event.bytes_total,
                desc=f"  {event.label}",
                unit="B",
                unit_scale=True,
                file=self.stream,
                dynamic_ncols=True,
            )
        bar.update(event.bytes_done - bar.n)


def run(args: argparse.Namespace) -> int:
    from forecast.data import acquire

    if not args.quiet:
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.archive:
        return _from_archive(args)
    progress = None if args.quiet else _ProgressPrinter()
    client = opendata_client = None
    if args.source == "opendata":
        from forecast.data.opendata import OpenDataClient

        cache = args.cache or default_opendata_cache_dir()
        opendata_client = OpenDataClient(opendata_url())
        # The CDS client for statics a cycle lacks is made on that cache miss only.
    else:
        cache = args.cache or default_cache_dir()
    if args.source == "cds":
        client = CdsClient(progress=progress)
    if args.latest:
        init = acquire.resolve_init_time(
            args.source, client=client, cache_dir=cache, opendata_client=opendata_client
        )
        print(f"latest available init time: {init:%Y-%m-%dT%H:%M}Z", file=sys.stderr)
    else:
        try:
            init = dt.datetime.fromisoformat(args.init_time)
        except ValueError:
            raise InvalidInputError(f"--init-time {args.init_time!r} is not ISO 8601") from None
    start = time.monotonic()
    path = acquire.acquire_inputs(
        init,
        levels=args.levels,
        grid_deg=args.grid,
        cache_dir=cache,
        output=args.output,
        source=args.source,
        client=client,
        progress=progress,
        data_format=args.format,
        opendata_client=opendata_client,
        statics_cache_dir=default_cache_dir() if args.source == "opendata" else None,
    )
    print(
        f"wrote {path} (init {init:%Y-%m-%dT%H:%M}Z, {args.source}, {args.grid:g}°, "
        f"{args.levels} levels) in {time.monotonic() - start:.1f} s",
        file=sys.stderr,
    )
    return 0


def _from_archive(args: argparse.Namespace) -> int:
    """`--archive`: the input frames of `--init-time` read lazily from an ERA5 archive."""
    from forecast import variables as V
    from forecast.commands import UsageError
    from forecast.data.acquire import resolve_levels
    from forecast.data.layout import to_example_batch
    from forecast.data.requests import INPUT_VARIABLES, input_frame_times
    from forecast.data.sources import frames_from_archive, open_era5_archive
    from forecast.io.atomic import atomic_output
    from forecast.times import to_utc

    if args.latest:
        raise UsageError("--archive needs --init-time (an archive has no 'latest')")
    init = to_utc(args.init_time)
    start = time.monotonic()
    ds = frames_from_archive(
        open_era5_archive(args.archive),
        list(input_frame_times(init)),
        levels=resolve_levels(args.levels),
        variables=[v for v in INPUT_VARIABLES if v not in V.FORCING_VARS],
        optional=V.EXTERNAL_FORCING_VARS,
        origin=args.archive,
    )
    ds.attrs["init_time"] = init.isoformat()
    with atomic_output(args.output) as tmp:
        to_example_batch(ds).to_netcdf(tmp)
    print(
        f"wrote {args.output} (init {init:%Y-%m-%dT%H:%M}Z from {args.archive}, "
        f"{ds.sizes['level']} levels) in {time.monotonic() - start:.1f} s",
        file=sys.stderr,
    )
    return 0
