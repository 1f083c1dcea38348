"""`forecast predict`: roll a GraphCast checkpoint out over an example-batch file.

Semantics of DeepMind's demo: the input file's last time is the last target; the two input
frames end `--steps` × 6 h before it; forcings in the file are used as given, missing ones
derived. The forecast (forecast layout, docs/design.md) is written to a temporary file beside
`--output` and renamed, so a failed run never leaves a partial file. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import xarray as xr

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
    parser.add_argument("--steps", required=True, type=int, help="number of 6 h steps")
    parser.add_argument("--output", required=True, help="NetCDF file to write")
    parser.add_argument("--graphs-cache", default=None, help="directory caching built graphs")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Loads everything, validates, rolls out and writes atomically."""
    # Imported here: the parser of every `forecast` command is built on each invocation.
    from forecast.data.acquire import write_atomic
    from forecast.predictor import GraphCastPredictor

    if args.steps < 1:
        raise InvalidInputError(f"--steps must be >= 1, got {args.steps}")
    dataset = _open_input(Path(args.input))
    predictor = GraphCastPredictor.from_files(
        args.checkpoint, args.stats, graphs_cache_dir=args.graphs_cache
    )
    started = time.perf_counter()

    def progress(step: int, total: int) -> None:
        elapsed = time.perf_counter() - started
        print(f"forecast predict: step {step}/{total} ({elapsed:.1f} s)", file=sys.stderr)

    forecast = predictor.forecast_last_target(dataset, steps=args.steps, progress=progress)
    write_atomic(forecast, Path(args.output))
    print(f"forecast predict: wrote {args.output}", file=sys.stderr)
    return 0


def _open_input(path: Path) -> xr.Dataset:
    if not path.is_file():
        raise InvalidInputError(f"input file not found: {path}")
    try:
        return xr.load_dataset(path)
    except (OSError, ValueError, RuntimeError) as exc:
        # xarray's messages span several lines (engine hints); the first one says it.
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InvalidInputError(f"cannot read input file {path}: {reason}") from exc
