"""`forecast run`: a forecast from an init time — fetch what it needs, roll out, write.

    forecast run --checkpoint stats/demo/checkpoint.npz --stats stats/demo \\
        --init-time 2026-11-16T00 --steps 4 --source synthetic --output forecast.nc

The inputs (frames T − 6 h and T on the checkpoint's grid and levels) come from `--source`:
`era5` (the CDS, configured by `CDSAPI_URL`/`CDSAPI_KEY` or `~/.cdsapirc`, through the request
cache), `opendata` (ECMWF's IFS open data), `synthetic` (the offline world), or a path: a
NetCDF/GRIB file or an ERA5 Zarr archive (WeatherBench 2 / ARCO-ERA5 layout) holding those
frames. The output format follows the extension of `--output`: .nc (CF-1.11), .zarr, .grib2;
it appears atomically. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from forecast.commands.progress import StepProgress


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Registers `run`."""
    from forecast.io.files import SUFFIXES

    parser = subparsers.add_parser(
        "run", help="forecast from an init time, fetching the inputs", description=__doc__
    )
    parser.add_argument("--checkpoint", required=True, type=Path, help="checkpoint (.npz)")
    parser.add_argument(
        "--stats", required=True, type=Path, help="directory with the normalisation stats"
    )
    parser.add_argument(
        "--init-time", required=True, type=_utc_time, help="init time T, ISO 8601 UTC"
    )
    parser.add_argument("--steps", type=_positive_int, default=40, help="number of 6 h leads")
    parser.add_argument(
        "--source",
        default="era5",
        help="era5, opendata, synthetic, or a file/Zarr store path holding the input frames",
    )
    parser.add_argument(
        "--output", required=True, type=_output_path, help=f"forecast file ({', '.join(SUFFIXES)})"
    )
    parser.add_argument(
        "--grid",
        type=float,
        default=None,
        help="grid spacing in degrees (default: the checkpoint's resolution)",
    )
    parser.add_argument(
        "--cache",
        type=Path,
        default=Path(os.environ.get("GCF_VAR_DIR", "var")) / "cache",
        help="root of the request caches",
    )
    parser.add_argument("--graphs-cache", type=Path, default=None, help="cache of built graphs")
    parser.add_argument(
        "--opendata-url",
        default=None,
        help="open-data server (default: $GCF_OPENDATA_URL, else ECMWF's)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Loads the checkpoint, fetches the inputs, rolls out and writes the forecast."""
    from forecast import variables as V
    from forecast.data.sources import fetch_inputs
    from forecast.errors import InvalidInputError
    from forecast.io import write_forecast
    from forecast.predictor import GraphCastPredictor

    def say(text: str) -> None:
        if not args.quiet:
            print(f"forecast run: {text}", file=sys.stderr, flush=True)

    started = time.perf_counter()
    predictor = GraphCastPredictor.from_files(
        args.checkpoint, args.stats, graphs_cache_dir=args.graphs_cache
    )
    checkpoint = predictor.rollout.checkpoint
    task = checkpoint.task_config
    grid = args.grid or float(checkpoint.model_config.resolution)
    if not grid:
        raise InvalidInputError(f"{args.checkpoint} works on any grid (resolution 0): give --grid")
    say(
        f"checkpoint {args.checkpoint.name}: {grid:g}°, {len(task.pressure_levels)} levels; "
        f"inputs for {args.init_time:%Y-%m-%dT%H:%M} UTC from {args.source}"
    )
    needed = [v for v in task.input_variables if v not in V.STATIC_VARS and v not in V.FORCING_VARS]
    inputs = fetch_inputs(
        args.source,
        args.init_time,
        levels=task.pressure_levels,
        grid_deg=grid,
        variables=needed,
        cache_dir=args.cache,
        cds_progress=None if args.quiet else _CdsLines(),
        opendata_url=args.opendata_url or _opendata_url(args.source),
    )
    say(f"inputs ready in {time.perf_counter() - started:.1f} s; rolling out {args.steps} steps")
    progress = StepProgress("forecast run: rollout", enabled=not args.quiet)
    try:
        forecast = predictor.forecast(inputs, steps=args.steps, progress=progress)
    finally:
        progress.close()
    write_forecast(forecast, args.output)
    say(f"wrote {args.output} in {time.perf_counter() - started:.1f} s")
    return 0


class _CdsLines:
    """CDS retrieval progress: one line per state change."""

    def __init__(self) -> None:
        self._last: tuple[str, str] | None = None

    def __call__(self, event) -> None:
        key = (event.label, event.stage)
        if key != self._last:
            self._last = key
            print(f"  {event.describe()}", file=sys.stderr, flush=True)


def _opendata_url(source: str) -> str | None:
    if source != "opendata":
        return None
    from forecast.commands.fetch import opendata_url

    return opendata_url()


def _utc_time(text: str):
    from forecast.errors import InvalidInputError
    from forecast.times import to_utc

    try:
        return to_utc(text)
    except InvalidInputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _output_path(text: str) -> Path:
    from forecast.errors import InvalidInputError
    from forecast.io.files import forecast_format

    try:
        forecast_format(text)
    except InvalidInputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return Path(text)
