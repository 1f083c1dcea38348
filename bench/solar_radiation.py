"""Time and peak memory to compute TOA incident solar radiation on the official grids.

Each grid runs in a fresh process (its own peak RSS). Reports the first call (includes the JAX
compilation) separately from the warm per-timestamp time. Prints figures and optionally writes
them as JSON.

    .venv/bin/python bench/solar_radiation.py [--grids 1.0 0.25] [--times 4] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import resource
import time
from pathlib import Path

import numpy as np


def _measure(resolution: float, num_times: int, queue: multiprocessing.Queue) -> None:
    import jax

    from forecast.model.solar_radiation import toa_incident_solar_radiation

    lat = np.linspace(-90, 90, round(180 / resolution) + 1).astype(np.float32)
    lon = (np.arange(round(360 / resolution)) * resolution).astype(np.float32)
    start = np.datetime64("2026-11-15T00", "ns")
    times = start + np.arange(num_times) * np.timedelta64(6, "h")

    t = time.perf_counter()
    toa_incident_solar_radiation(times[:1], lat, lon)
    first = time.perf_counter() - t
    t, cpu = time.perf_counter(), time.process_time()
    toa_incident_solar_radiation(times, lat, lon)
    warm = (time.perf_counter() - t) / num_times
    warm_cpu = (time.process_time() - cpu) / num_times
    queue.put(
        {
            "grid": f"{resolution}deg",
            "points": int(lat.size * lon.size),
            "first_call_seconds": round(first, 2),
            "seconds_per_time": round(warm, 3),
            "cpu_seconds_per_time": round(warm_cpu, 3),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "device": str(jax.devices()[0]),
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grids", nargs="+", type=float, default=[1.0, 0.25])
    parser.add_argument("--times", type=int, default=4, help="timestamps in the warm call")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()

    context = multiprocessing.get_context("spawn")
    results = []
    for resolution in args.grids:
        queue = context.Queue()
        proc = context.Process(target=_measure, args=(resolution, args.times, queue))
        proc.start()
        result = queue.get()
        proc.join()
        results.append(result)
        print(
            f"{result['grid']:>8} ({result['points']} points, {result['device']}): first call "
            f"{result['first_call_seconds']:.2f} s, warm {result['seconds_per_time']:.3f} s/time "
            f"({result['cpu_seconds_per_time']:.3f} s CPU), peak RSS {result['peak_rss_mb']} MB"
        )

    if args.json:
        record = {
            "benchmark": "solar_radiation",
            "machine": {
                "platform": platform.platform(),
                "cpus": os.cpu_count(),
                "load": os.getloadavg(),
            },
            "results": results,
        }
        Path(args.json).write_text(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
