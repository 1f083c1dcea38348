"""Map products: maps/s for the full product set at 0.25°, a 10-day run's product set, and the
viewer's flip time over 40 leads (key press → new map shown, prefetched) in Debian chromium.

The forecast is the persistence baseline from the synthetic world at the init time; truth is the
synthetic world at the valid times, so every lead also gets an error map. The "product set" is
what the `cpu` worker renders ahead of time (`render_forecast_products` defaults: the main fields,
global, every lead; error maps where truth exists); other levels/regions/kinds are rendered on
demand by the site into the same cache. Prints figures and writes a JSON record.

    PYTHONPATH=. .venv/bin/python bench/products.py                     # all three parts
    PYTHONPATH=. .venv/bin/python bench/products.py --part rate --grid 0.25 --leads 8
    PYTHONPATH=. .venv/bin/python bench/products.py --part set --grid 1.0 --leads 40
    PYTHONPATH=. .venv/bin/python bench/products.py --part flip
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cartopy
import matplotlib
import numpy as np
import pandas as pd
import xarray as xr

from forecast.data.synthetic import synthetic_era5
from forecast.plots import natural_earth
from forecast.plots.products import (
    MAIN_PRODUCTS,
    render_forecast_products,
    render_part,
)
from forecast.predictor import PersistencePredictor

REPO = Path(__file__).resolve().parents[1]
PRODUCT_VARIABLES = (
    "2m_temperature",
    "mean_sea_level_pressure",
    "10m_u_component_of_wind",
    "10m_v_component_of_wind",
    "total_precipitation_6hr",
    "geopotential",
    "temperature",
)
CHROMIUM = Path("/usr/bin/chromium")


def _cpu_seconds() -> float:
    """CPU seconds of this process and its reaped children (the render pool).

    On a shared machine this, not the wall time, is what the rendering costs.
    """
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def build_run(leads: int, grid: float, init: str) -> tuple:
    """(forecast, truth) for one run on the synthetic world."""
    init_time = pd.Timestamp(init)
    # Only what the products draw: the world is costly to evaluate at 13 levels × 40 times.
    world = {"grid_deg": grid, "levels": (500, 850), "variables": PRODUCT_VARIABLES}
    inputs = synthetic_era5([init_time - pd.Timedelta(hours=6), init_time], **world)
    forecast = PersistencePredictor().forecast(inputs, steps=leads)
    truth = synthetic_era5(forecast["time"].values, **world)
    return forecast, truth


def bench_render(args, with_truth: bool) -> list[dict]:
    """Render the product set with 1 and 2 workers; maps/s, ms/PNG, CPU."""
    start = time.perf_counter()
    forecast, truth = build_run(args.leads, args.grid, args.init)
    print(
        f"built forecast+truth ({args.leads} leads, {args.grid}°): {time.perf_counter() - start:.1f} s"
    )
    runs = []
    for workers in args.workers:
        with tempfile.TemporaryDirectory(prefix="bench-products-") as tmp:
            start, cpu_start = time.perf_counter(), _cpu_seconds()
            products = render_forecast_products(
                forecast, Path(tmp), truth=truth if with_truth else None, workers=workers
            )
            elapsed = time.perf_counter() - start
            cpu = _cpu_seconds() - cpu_start
            size = sum((Path(tmp) / p.path).stat().st_size for p in products)
        maps = sum(p.kind == "map" for p in products)
        print(
            f"  {args.grid}°, workers={workers}: {len(products)} PNGs ({maps} maps, "
            f"{len(products) - maps} error maps) in {elapsed:.1f} s = "
            f"{len(products) / elapsed:.1f} maps/s ({1000 * elapsed / len(products):.0f} ms/PNG), "
            f"{size / 1e6:.1f} MB; CPU {1000 * cpu / len(products):.0f} ms/PNG; "
            f"load average {os.getloadavg()[0]:.1f}"
        )
        runs.append(
            {
                "grid_deg": args.grid,
                "leads": args.leads,
                "workers": workers,
                "products": len(products),
                "seconds": round(elapsed, 2),
                "maps_per_second": round(len(products) / elapsed, 2),
                "cpu_ms_per_png": round(1000 * cpu / len(products), 1),
                "bytes": size,
                "load_average_1m": os.getloadavg()[0],
            }
        )
    return runs


def _render_part(forecast_file: str, truth_file: str | None, out_dir: str, part: int) -> tuple:
    """What one render task does (`execute_render_part`): part `part` of 2 of the product set
    (`product_parts`), reading its fields at its leads from the forecast file.

    Returns (PNGs, CPU seconds of this worker, of which reading the files, wall seconds).
    """
    from forecast.io import open_forecast

    started, wall = time.process_time(), time.perf_counter()
    read = 0.0
    load = xr.Dataset.load

    def timed_load(dataset: xr.Dataset, **kwargs) -> xr.Dataset:
        # Every read of `render_part` is a `.load()` of a subset: time them, in this worker.
        nonlocal read
        begun = time.process_time()
        try:
            return load(dataset, **kwargs)
        finally:
            read += time.process_time() - begun

    xr.Dataset.load = timed_load
    try:
        with open_forecast(forecast_file) as forecast:
            truth = xr.open_dataset(truth_file) if truth_file is not None else None
            try:
                products = render_part(
                    forecast, Path(out_dir), part=part, parts=2, truth=truth, workers=1
                )
            finally:
                if truth is not None:
                    truth.close()
    finally:
        xr.Dataset.load = load
    return len(products), time.process_time() - started, read, time.perf_counter() - wall


def _warm(_: int) -> int:
    # What a worker that has rendered a run before has imported: reading a store uses dask.
    import dask.array  # noqa: F401
    import zarr  # noqa: F401

    natural_earth.configure_cartopy()
    return os.getpid()


def bench_fanout(args, with_truth: bool) -> dict:
    """Two warm worker processes, one render part each: what 2 cpu Celery workers do when the
    render task fans out (`product_parts`), without the pool's start-up. They read the run's
    Zarr store, as `execute_render_part` does (`--source nc`: its NetCDF fallback)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from forecast.io import write_forecast

    forecast, truth = build_run(args.leads, args.grid, args.init)
    with (
        ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool,
        tempfile.TemporaryDirectory(prefix="bench-fanout-") as tmp,
    ):
        # The files the render tasks read, as the rollout and the truth source write them.
        files = {
            fmt: write_forecast(forecast, Path(tmp) / f"forecast.{fmt}") for fmt in ("zarr", "nc")
        }
        forecast_file = files[args.source]
        truth_file = None
        if with_truth:
            truth_file = Path(tmp) / "truth.nc"
            truth.to_netcdf(truth_file)
        del forecast, truth
        list(pool.map(_warm, range(2)))  # imports done, as in a running worker
        start = time.perf_counter()
        results = list(
            pool.map(_render_part, [str(forecast_file)] * 2,
                     [str(truth_file) if truth_file else None] * 2, [tmp] * 2, range(2))
        )  # fmt: skip
        elapsed = time.perf_counter() - start
    done = sum(n for n, *_ in results)
    # Each worker alone on a core would take its own CPU time: the rate 2 idle cores give.
    projected = done / max(cpu for _, cpu, _, _ in results)
    print(
        f"  {args.grid}°, 2 warm workers (fan-out, each reading its part from {forecast_file.name}): "
        f"{done} PNGs in {elapsed:.1f} s = {done / elapsed:.1f} maps/s measured; per part "
        + ", ".join(
            f"{n} PNGs {wall:.1f} s wall, CPU {cpu:.1f} s (reading {read:.1f} s)"
            for n, cpu, read, wall in results
        )
        + f" → {projected:.1f} maps/s on 2 idle cores; load average {os.getloadavg()[0]:.1f}"
    )
    return {"grid_deg": args.grid, "leads": args.leads, "products": done, "source": args.source,
            "seconds": round(elapsed, 2), "maps_per_second": round(done / elapsed, 2),
            "worker_pngs": [n for n, *_ in results],
            "worker_wall_seconds": [round(wall, 2) for *_, wall in results],
            "worker_cpu_seconds": [round(cpu, 2) for _, cpu, _, _ in results],
            "worker_read_cpu_seconds": [round(read, 2) for _, _, read, _ in results],
            "maps_per_second_2_idle_cores": round(projected, 1),
            "load_average_1m": os.getloadavg()[0]}  # fmt: skip


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def bench_flip(args) -> dict:
    """A run served by `manage.py runserver`; chromium flips its 40 leads after prefetching."""
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="bench-flip-") as var:
        env = {
            **os.environ,
            "GCF_VAR_DIR": var,
            "DJANGO_SETTINGS_MODULE": "webapp.config.django.local",
            "PYTHONPATH": str(REPO),
            "CARTOPY_DATA_DIR": str(REPO / "var" / "cartopy"),
        }
        env.pop("DATABASE_URL", None)  # a throwaway SQLite database under `var`
        setup = (
            "import django; django.setup();"
            "from django.core.management import call_command; call_command('migrate', verbosity=0);"
            "import datetime as dt, sys, xarray as xr;"
            "from webapp.runs import services, paths;"
            "from forecast.plots.products import render_forecast_products;"
            "r = services.run_create(init_time=dt.datetime(2026,11,16,tzinfo=dt.UTC),"
            " predictor_spec='persistence', data_source='synthetic', grid_deg=float(sys.argv[2]),"
            " levels=2, steps=int(sys.argv[3]));"
            "services.run_mark_running(run_id=r.pk);"
            "p = paths.forecast_path(r.pk); p.parent.mkdir(parents=True);"
            "import shutil; shutil.copy(sys.argv[1], p);"
            "render_forecast_products(xr.load_dataset(p), paths.media_dir(r.pk), workers=1);"
            "services.run_mark_succeeded(run_id=r.pk); print(r.pk)"
        )
        forecast, _ = build_run(40, args.flip_grid, args.init)
        source = Path(var) / "source.nc"
        forecast.to_netcdf(source)
        started = time.perf_counter()
        run_id = subprocess.run(
            [sys.executable, "-c", setup, str(source), str(args.flip_grid), "40"],
            env=env, cwd=REPO, check=True, capture_output=True, text=True,
        ).stdout.split()[-1]  # fmt: skip
        print(
            f"  run {run_id} and its ahead-rendered set ready in {time.perf_counter() - started:.1f} s"
        )
        port = _free_port()
        server = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
            env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            for _ in range(200):
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    time.sleep(0.1)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=str(CHROMIUM), args=["--headless", "--no-sandbox"]
                )
                page = browser.new_page(viewport={"width": 1440, "height": 1000})
                started = time.perf_counter()
                page.goto(f"http://127.0.0.1:{port}/runs/{run_id}/maps/")
                page.wait_for_function(
                    "() => document.getElementById('prefetch-state').textContent.startsWith('all 40')",
                    timeout=300_000,
                )
                prefetch = time.perf_counter() - started
                page.keyboard.press("Home")
                for _ in range(39):
                    page.keyboard.press("ArrowRight")
                    page.wait_for_timeout(30)
                flips = page.evaluate("window.viewerStats.flips")
                # A region nobody rendered ahead: every map on demand, first one timed.
                started = time.perf_counter()
                page.select_option("#sel-region", "europe")
                page.wait_for_function(
                    "() => document.getElementById('map-main').dataset.shown.includes('europe')",
                    timeout=120_000,
                )
                first_on_demand = time.perf_counter() - started
                page.wait_for_function(
                    "() => document.getElementById('prefetch-state').textContent.startsWith('all 40')",
                    timeout=300_000,
                )
                all_on_demand = time.perf_counter() - started
                browser.close()
        finally:
            server.terminate()
            server.wait(timeout=20)
    result = {
        "grid_deg": args.flip_grid,
        "prefetch_40_ahead_rendered_s": round(prefetch, 2),
        "flips": len(flips),
        "flip_ms_median": round(float(np.median(flips)), 1),
        "flip_ms_p95": round(float(np.percentile(flips, 95)), 1),
        "flip_ms_max": round(float(np.max(flips)), 1),
        "on_demand_first_map_s": round(first_on_demand, 2),
        "on_demand_40_maps_s": round(all_on_demand, 2),
    }
    print(
        f"  flip (key press → new map decoded, prefetched): median {result['flip_ms_median']} ms, "
        f"p95 {result['flip_ms_p95']} ms, max {result['flip_ms_max']} ms over {len(flips)} flips; "
        f"prefetch of 40 ahead-rendered maps {prefetch:.1f} s; new region on demand: first map "
        f"{first_on_demand:.1f} s, all 40 {all_on_demand:.1f} s"
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["rate", "fanout", "set", "flip", "all"], default="all")
    parser.add_argument("--leads", type=int, default=None, help="default 8 (rate), 40 (set)")
    parser.add_argument("--grid", type=float, default=None, help="default 0.25 (rate), 1.0 (set)")
    parser.add_argument("--flip-grid", type=float, default=1.0)
    parser.add_argument("--init", default="2026-11-16T00:00")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--no-truth", action="store_true", help="fan-out: forecast maps only")
    parser.add_argument(
        "--source", choices=["zarr", "nc"], default="zarr", help="fan-out: the file parts read"
    )
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    natural_earth.configure_cartopy()
    record = {
        "bench": "products",
        "variables": [f"{v}{'' if lv is None else lv}" for v, lv in MAIN_PRODUCTS],
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "matplotlib": matplotlib.__version__,
        "cartopy": cartopy.__version__,
    }
    parts = ["rate", "set", "flip"] if args.part == "all" else [args.part]
    if "rate" in parts:
        print("maps/s, full product set (maps + error maps):")
        rate = argparse.Namespace(**vars(args))
        rate.grid, rate.leads = args.grid or 0.25, args.leads or 8
        record["rate"] = bench_render(rate, with_truth=True)
        record["rate_fanout"] = bench_fanout(rate, with_truth=True)
    if args.part == "fanout":
        rate = argparse.Namespace(**vars(args))
        rate.grid, rate.leads = args.grid or 0.25, args.leads or 8
        record["rate_fanout"] = bench_fanout(rate, with_truth=not args.no_truth)
    if "set" in parts:
        print("a 10-day run's product set (as the cpu worker renders it ahead, no truth yet):")
        run_set = argparse.Namespace(**vars(args))
        run_set.grid, run_set.leads = args.grid or 1.0, args.leads or 40
        record["set"] = bench_render(run_set, with_truth=False)
    if "flip" in parts:
        print("viewer flip time in chromium:")
        record["flip"] = bench_flip(args)
    if args.json:
        args.json.write_text(json.dumps(record, indent=2) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
