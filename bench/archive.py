"""Benchmark: statistics and a climatology on Dask over a Zarr archive larger than the workers' memory.

    .venv/bin/python bench/archive.py                      # ~2 GB archive, workers of 400 MiB
    .venv/bin/python bench/archive.py --gigabytes 3 --memory-limit 500MiB --workers 1 2

Builds (once) a synthetic ERA5 archive in the WeatherBench 2 Zarr layout (`latitude` descending,
`longitude`, `level`, `time`; chunks of 4 times), then for each worker count starts a
LocalCluster of single-threaded worker processes with the given memory limit and runs
`compute_statistics_dask` and `compute_climatology_dask` (the `forecast stats` /
`forecast climatology` graphs). It reports wall time and each worker's peak RSS (VmHWM, read on
the worker) and checks every value against the in-memory path (`compute_statistics`,
`compute_climatology` in this process), 1e-6 relative. Prints a table and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

VARIABLES = ["temperature", "geopotential", "2m_temperature", "mean_sea_level_pressure"]


def peak_rss_mb() -> float:
    """This process's peak resident set size (VmHWM) in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def build_archive(path: Path, *, grid: float, gigabytes: float, start: str) -> xr.Dataset:
    """Writes the synthetic world as a WB2-layout Zarr of about `gigabytes` (uncompressed)."""
    from forecast.data.synthetic import synthetic_era5

    probe = synthetic_era5(
        np.array([np.datetime64(start, "ns")]), grid_deg=grid, variables=VARIABLES
    )
    per_time = probe.nbytes
    count = int(gigabytes * 1e9 // per_time)
    times = pd.date_range(start, periods=count, freq="6h")
    if (path / ".zmetadata").exists():
        existing = xr.open_zarr(path)
        if existing.sizes["time"] == count and existing.sizes["latitude"] == probe.sizes["lat"]:
            return existing
        shutil.rmtree(path)
    tmp = path.with_name(path.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    started = time.perf_counter()
    for i in range(0, count, 64):
        chunk = synthetic_era5(times[i : i + 64].to_numpy(), grid_deg=grid, variables=VARIABLES)
        chunk = chunk.rename(lat="latitude", lon="longitude").sortby("latitude", ascending=False)
        chunk = chunk.chunk({"time": 4})
        if i == 0:
            chunk.to_zarr(tmp, mode="w", consolidated=True, zarr_format=2)
        else:
            chunk.to_zarr(tmp, append_dim="time", consolidated=True)
        print(f"  archive: {min(i + 64, count)}/{count} times", file=sys.stderr, flush=True)
    os.replace(tmp, path)
    print(f"  built in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return xr.open_zarr(path)


def worker_peaks_mb(client) -> list[float]:
    """Peak RSS of every worker process (VmHWM), MB."""
    return sorted(client.run(peak_rss_mb).values())


def max_relative_difference(reference: xr.Dataset, other: xr.Dataset) -> float:
    """max |a − b| / |a| over every variable (NaN where both are NaN; NaN mismatch → inf)."""
    worst = 0.0
    for name in reference.data_vars:
        a = np.asarray(reference[name].values, dtype=np.float64)
        b = np.asarray(other[name].transpose(*reference[name].dims).values, dtype=np.float64)
        if not np.array_equal(np.isnan(a), np.isnan(b)):
            return float("inf")
        with np.errstate(invalid="ignore", divide="ignore"):
            rel = np.abs(a - b) / np.maximum(np.abs(a), 1e-30)
        worst = max(worst, float(np.nanmax(rel)) if rel.size else 0.0)
    return worst


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=Path("var/bench/archive"))
    parser.add_argument("--grid", type=float, default=2.5, help="degrees")
    parser.add_argument("--gigabytes", type=float, default=2.0, help="archive size, uncompressed")
    parser.add_argument("--memory-limit", default="400MiB", help="per Dask worker")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--days", default="20-24", help="climatology days of year")
    parser.add_argument("--json", type=Path, default=Path("var/bench/archive.json"))
    args = parser.parse_args()

    import dask
    import distributed

    from forecast.commands.climatology import parse_days
    from forecast.commands.cluster import dask_client
    from forecast.data.convert import standardize
    from forecast.data.sources import open_era5_archive
    from forecast.training.statistics import compute_statistics, compute_statistics_dask
    from forecast.verify.climatology import compute_climatology, compute_climatology_dask

    store = args.dir / f"era5-{args.grid:g}deg.zarr"
    store.parent.mkdir(parents=True, exist_ok=True)
    raw = build_archive(store, grid=args.grid, gigabytes=args.gigabytes, start="2023-07-01")
    archive_gb = raw.nbytes / 1e9
    days = parse_days(args.days)
    print(
        f"archive {store}: {raw.sizes['time']} times, {archive_gb:.2f} GB uncompressed, "
        f"{sum(f.stat().st_size for f in store.rglob('*') if f.is_file()) / 1e9:.2f} GB on disk",
        file=sys.stderr,
    )

    # The in-memory path: one process reading the archive a block of times at a time.
    lazy_numpy = standardize(xr.open_zarr(store, chunks=None), origin=str(store))
    started = time.perf_counter()
    reference_stats = compute_statistics(lazy_numpy)
    reference_clim = compute_climatology(lazy_numpy, dayofyear=days)
    in_memory = {"wall_s": time.perf_counter() - started, "peak_rss_mb": peak_rss_mb()}
    print(f"in memory: {in_memory['wall_s']:.1f} s, peak RSS {in_memory['peak_rss_mb']:.0f} MB")

    runs = []
    for workers in args.workers:
        # As `forecast stats/climatology --archive` open it: lazy, ~16 MB chunks along time.
        archive = open_era5_archive(store)
        with dask_client(None, workers=workers, memory_limit=args.memory_limit) as client:
            started = time.perf_counter()
            stats = compute_statistics_dask(archive)
            stats_s = time.perf_counter() - started
            started = time.perf_counter()
            clim = compute_climatology_dask(archive, dayofyear=days).compute()
            clim_s = time.perf_counter() - started
            peaks = worker_peaks_mb(client)
        stats_diff = max(
            max_relative_difference(r, s) for r, s in zip(reference_stats, stats, strict=True)
        )
        clim_diff = max_relative_difference(reference_clim, clim)
        row = {
            "workers": workers,
            "memory_limit": args.memory_limit,
            "stats_wall_s": round(stats_s, 2),
            "climatology_wall_s": round(clim_s, 2),
            "worker_peak_rss_mb": [round(p) for p in peaks],
            "stats_max_rel_diff": stats_diff,
            "climatology_max_rel_diff": clim_diff,
        }
        runs.append(row)
        print(
            f"{workers} worker(s) at {args.memory_limit}: stats {stats_s:.1f} s, climatology "
            f"{clim_s:.1f} s, peak RSS per worker {', '.join(f'{p:.0f}' for p in peaks)} MB; "
            f"max rel. diff vs in-memory: stats {stats_diff:.1e}, climatology {clim_diff:.1e}"
        )
        if not (stats_diff <= 1e-6 and clim_diff <= 1e-6):
            print("MISMATCH against the in-memory path", file=sys.stderr)
            return 1

    report = {
        "benchmark": "archive",
        "archive": {
            "path": str(store),
            "times": int(raw.sizes["time"]),
            "grid_deg": args.grid,
            "variables": VARIABLES,
            "levels": int(raw.sizes["level"]),
            "uncompressed_gb": round(archive_gb, 3),
        },
        "climatology_days": days,
        "in_memory": in_memory,
        "dask": runs,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "dask": dask.__version__,
            "distributed": distributed.__version__,
            "xarray": xr.__version__,
        },
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=1))
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
