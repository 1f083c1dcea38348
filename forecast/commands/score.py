"""`forecast score`: scores a forecast file against a truth file with WeatherBench2's metrics.

    forecast score --forecast forecast.nc --truth era5.nc [--climatology clim.nc]
                   [--region europe | --box LAT0,LAT1,LON0,LON1] --output scores.json

The forecast is a predictor's output (forecast layout, docs/design.md); the truth is in the
model layout (or DeepMind's example-batch layout) and holds the same valid times or more. The
output is `{variable: {level or "surface": {lead_hours: {metric: value}}}}` with `mse`, `rmse`,
`bias`, `mae`, and `acc` when a climatology is given (wind vectors: `mse` and `rmse` only);
undefined values are `null`. `--predictor persistence|climatology` reports a baseline instead.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
from pathlib import Path

import numpy as np
import xarray as xr

from forecast.commands import UsageError
from forecast.data.convert import standardize
from forecast.errors import InvalidInputError
from forecast.io import open_forecast
from forecast.verify import evaluation
from forecast.verify.climatology import load_climatology
from forecast.verify.regions import REGIONS, get_region, parse_box


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "score", help="score a forecast against the truth", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--forecast", required=True, type=Path, help="forecast NetCDF")
    parser.add_argument("--truth", required=True, type=Path, help="truth NetCDF (model layout)")
    parser.add_argument("--climatology", type=Path, help="climatology NetCDF (enables ACC)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--region", default="global", help=f"one of {', '.join(REGIONS)}")
    where.add_argument(
        "--box", help="LAT0,LAT1,LON0,LON1 in degrees, may cross the date line (--box=-30,30,…)"
    )
    parser.add_argument(
        "--predictor",
        choices=evaluation.PREDICTORS,
        default="model",
        help="which forecast to report: the file's (model) or a baseline",
    )
    parser.add_argument("--output", required=True, type=Path, help="JSON file to write")
    parser.set_defaults(func=run)


def _open(path: Path, what: str) -> xr.Dataset:
    if not path.is_file():
        raise InvalidInputError(f"{what} file not found: {path}")
    try:
        ds = xr.open_dataset(path)
    except (OSError, ValueError) as exc:
        raise InvalidInputError(f"cannot read {what} file {path}: {exc}") from exc
    return standardize(ds, origin=str(path))


def _value(x: float) -> float | None:
    x = float(x)
    return None if math.isnan(x) else x


def scores_to_json(scores: xr.Dataset) -> dict:
    """`{variable: {level or "surface": {lead_hours: {metric: value}}}}` for one predictor/region.

    Args:
      scores: `scores_from_sums` output selected to one predictor and region
        (dims field, lead_time).
    """
    result: dict = {}
    hours = (scores["lead_time"].values / np.timedelta64(1, "h")).astype(int)
    for j in range(scores.sizes["field"]):
        var = str(scores["variable"].values[j])
        level = int(scores["level"].values[j])
        key = "surface" if level == evaluation.SURFACE_LEVEL else str(level)
        names = ("mse", "rmse") if var.endswith("wind_vector") else evaluation.SCORES
        per_lead = {}
        for k, hour in enumerate(hours):
            values = {n: _value(scores[n].values[j, k]) for n in names}
            if values.get("acc", 0.0) is None:
                del values["acc"]
            per_lead[str(hour)] = values
        result.setdefault(var, {})[key] = per_lead
    return result


def _write_json(data: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=1)
    os.replace(tmp, path)


def run(args: argparse.Namespace) -> int:
    try:
        region_name, region = (
            ("box", parse_box(args.box)) if args.box else (args.region, get_region(args.region))
        )
    except InvalidInputError as exc:  # a bad --box or --region is the caller's, not the data's
        raise UsageError(str(exc)) from None
    if args.predictor == "climatology" and args.climatology is None:
        raise UsageError("--predictor climatology needs --climatology")
    forecast = open_forecast(args.forecast).load()
    truth = _open(args.truth, "truth")
    climatology = load_climatology(args.climatology) if args.climatology else None
    sums = evaluation.score_run(
        forecast,
        truth,
        climatology=climatology,
        regions={region_name: region},
        baselines=() if args.predictor == "model" else (args.predictor,),
    )
    if args.predictor not in sums["predictor"].values:
        raise InvalidInputError(f"cannot score {args.predictor}: {sums.attrs['notes']}")
    scores = evaluation.scores_from_sums(sums).sel(predictor=args.predictor, region=region_name)
    _write_json(scores_to_json(scores.transpose("field", "lead_time")), args.output)
    print(f"wrote {args.output} ({sums.sizes['lead_time']} leads, region {region_name})")
    return 0
