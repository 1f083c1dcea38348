"""Time to score one forecast run (all target variables and levels, every region, model plus
persistence and climatology baselines) with `forecast.verify.evaluation.score_run`.

Fields are random float32 (scoring cost does not depend on values), on the official 1.0° grid
with 13 levels and 40 leads by default. Prints figures and optionally writes them as JSON.

    .venv/bin/python bench/score.py [--grid 1.0] [--steps 40] [--levels 13] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import time

import numpy as np
import pandas as pd
import xarray as xr

from forecast import variables
from forecast.verify import evaluation
from forecast.verify.regions import REGIONS


def _fields(times, lat, lon, levels, rng, names_sfc, names_atm) -> xr.Dataset:
    data = {}
    for name in names_sfc:
        shape = (len(times), lat.size, lon.size)
        data[name] = (("time", "lat", "lon"), rng.standard_normal(shape, dtype=np.float32))
    for name in names_atm:
        shape = (len(times), len(levels), lat.size, lon.size)
        data[name] = (("time", "level", "lat", "lon"), rng.standard_normal(shape, dtype=np.float32))
    coords = {"time": times, "level": np.asarray(levels, np.int32), "lat": lat, "lon": lon}
    return xr.Dataset(data, coords=coords)


def _load() -> str:
    try:
        return " ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid", type=float, default=1.0)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--levels", type=int, default=13, choices=sorted(variables.PRESSURE_LEVELS))
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()

    levels = variables.PRESSURE_LEVELS[args.levels]
    lat = np.linspace(-90, 90, int(round(180 / args.grid)) + 1, dtype=np.float32)
    lon = np.arange(0, 360, args.grid, dtype=np.float32)
    init = pd.Timestamp("2026-11-16T00:00")
    leads = pd.to_timedelta(np.arange(1, args.steps + 1) * 6, unit="h")
    rng = np.random.default_rng(0)
    sfc, atm = variables.TARGET_SURFACE_VARS, variables.TARGET_ATMOSPHERIC_VARS

    t0 = time.perf_counter()
    truth = _fields(pd.DatetimeIndex([init]).append(init + leads), lat, lon, levels, rng, sfc, atm)
    forecast = _fields(init + leads, lat, lon, levels, rng, sfc, atm)
    forecast = forecast.assign_coords(lead_time=("time", leads.to_numpy()))
    forecast.attrs = {"init_time": init.isoformat(), "synthetic": 1}
    valid = pd.DatetimeIndex(forecast["time"].values)
    clim = _fields(pd.DatetimeIndex(sorted(set(valid))), lat, lon, levels, rng, sfc, atm)
    clim = (
        clim.assign_coords(dayofyear=("time", valid.day_of_year), hour=("time", valid.hour))
        .set_index(time=["dayofyear", "hour"])
        .unstack("time")
    )
    # Contiguous in the layout a climatology file has: (dayofyear, hour, [level,] lat, lon).
    clim = clim.transpose("dayofyear", "hour", ...).copy(deep=True)
    for name in clim.data_vars:
        clim[name].values = np.ascontiguousarray(clim[name].values)
    setup_s = time.perf_counter() - t0
    num_fields = len(sfc) + len(atm) * len(levels)
    print(
        f"grid {args.grid}° ({lat.size}x{lon.size}), {len(levels)} levels, {num_fields} fields, "
        f"{args.steps} leads, {len(REGIONS)} regions, baselines persistence+climatology"
    )
    print(f"setup (random fields): {setup_s:.1f} s")

    times, cpu_times = [], []
    for _ in range(args.repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        sums = evaluation.score_run(forecast, truth, climatology=clim)
        scores = evaluation.scores_from_sums(sums)
        times.append(time.perf_counter() - t0)
        cpu_times.append(time.process_time() - c0)
    assert np.isfinite(scores["rmse"].values).all()
    print(f"score_run + scores: {', '.join(f'{t:.2f}' for t in times)} s (best {min(times):.2f} s)")
    print(f"CPU time: {', '.join(f'{t:.2f}' for t in cpu_times)} s (load average {_load()})")
    print(f"sums: {dict(sums.sizes)}")
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"peak RSS: {peak_gib:.2f} GiB (inputs in memory: {3 * forecast.nbytes / 2**30:.2f} GiB)")
    if args.json:
        record = {
            "grid_deg": args.grid,
            "levels": len(levels),
            "steps": args.steps,
            "fields": num_fields,
            "regions": len(REGIONS),
            "seconds": times,
            "cpu_seconds": cpu_times,
            "peak_rss_gib": peak_gib,
            "machine": platform.processor() or platform.machine(),
            "numpy": np.__version__,
        }
        with open(args.json, "w") as fh:
            json.dump(record, fh, indent=2)


if __name__ == "__main__":
    main()
