"""`forecast predict`: roll a GraphCast checkpoint out over an example-batch file.

Semantics of DeepMind's demo: the input file's last time is the last target; the two input
frames end `--steps` × 6 h before it; forcings in the file are used as given, missing ones
derived. The input may also use the CDS's, cfgrib's or WeatherBench 2's names and orders
(`latitude`, `valid_time`, `pressure_level`, `t2m`…). The forecast is written in the format of
`--output`'s extension (.nc CF-1.11, .zarr, .grib2), atomically: a failed run leaves no partial
file. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import xarray as xr

from forecast.commands.progress import StepProgress
from forecast.commands.run import _output_path, _positive_int
from forecast.errors import InvalidInputError


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Registers `predict`."""
    parser = subparsers.add_parser(
        "predict", help="run a GraphCast checkpoint on an example batch", description=__doc__
    )
    parser.add_argument("--checkpoint", required=True, help="checkpoint (.npz, official layout)")
    parser.add_argument(
        "--stats",
        required=True,
        help="directory with mean_by_level.nc, stddev_by_level.nc, diffs_stddev_by_level.nc",
    )
    parser.add_argument("--input", required=True, help="NetCDF in the example-batch layout")
    parser.add_argument("--steps", required=True, type=_positive_int, help="number of 6 h steps")
    parser.add_argument(
        "--output", required=True, type=_output_path, help="forecast file (.nc, .zarr, .grib2)"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress")
    parser.add_argument("--graphs-cache", default=None, help="directory caching built graphs")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Loads everything, validates, rolls out and writes atomically."""
    # Imported here: the parser of every `forecast` command is built on each invocation.
    from forecast.io import write_forecast
    from forecast.predictor import GraphCastPredictor

    dataset = _open_input(Path(args.input))
    predictor = GraphCastPredictor.from_files(
        args.checkpoint, args.stats, graphs_cache_dir=args.graphs_cache
    )
    progress = StepProgress("forecast predict", enabled=not args.quiet)
    try:
        forecast = predictor.forecast_last_target(dataset, steps=args.steps, progress=progress)
    finally:
        progress.close()
    write_forecast(forecast, args.output)
    if not args.quiet:
        print(f"forecast predict: wrote {args.output}", file=sys.stderr)
    return 0


def _open_input(path: Path) -> xr.Dataset:
    from forecast.data.convert import standardize

    if not path.is_file():
        raise InvalidInputError(f"input file not found: {path}")
    try:
        dataset = xr.load_dataset(path)
    except (OSError, ValueError, RuntimeError) as exc:
        # xarray's messages span several lines (engine hints); the first one says it.
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InvalidInputError(f"cannot read input file {path}: {reason}") from exc
    if "datetime" in dataset.coords:  # DeepMind's example batch: already in its layout
        return dataset
    return standardize(dataset, origin=str(path))
