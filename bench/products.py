"""Time `render_forecast_products` on one run: 40 leads at 1.0°, maps and error maps.

The forecast is the persistence baseline from the synthetic world at the init time; truth is the
synthetic world at the valid times (so every lead gets an error map). Prints figures per worker
count and writes a JSON record.

    PYTHONPATH=. .venv/bin/python bench/products.py [--leads 40] [--grid 1.0] [--workers 1 2] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import tempfile
import time
from pathlib import Path

import cartopy
import matplotlib
import pandas as pd

from forecast.data.synthetic import synthetic_era5
from forecast.plots import natural_earth
from forecast.plots.products import MAIN_PRODUCTS, render_forecast_products
from forecast.predictor import PersistencePredictor

PRODUCT_VARIABLES = (
    "2m_temperature",
    "mean_sea_level_pressure",
    "10m_u_component_of_wind",
    "10m_v_component_of_wind",
    "total_precipitation_6hr",
    "geopotential",
    "temperature",
)


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=40)
    parser.add_argument("--grid", type=float, default=1.0)
    parser.add_argument("--init", default="2026-11-16T00:00")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    natural_earth.configure_cartopy()
    start = time.perf_counter()
    forecast, truth = build_run(args.leads, args.grid, args.init)
    print(
        f"built forecast+truth ({args.leads} leads, {args.grid}°): {time.perf_counter() - start:.1f} s"
    )

    record = {
        "bench": "products",
        "leads": args.leads,
        "grid_deg": args.grid,
        "variables": [f"{v}{'' if lv is None else lv}" for v, lv in MAIN_PRODUCTS],
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "matplotlib": matplotlib.__version__,
        "cartopy": cartopy.__version__,
        "runs": [],
    }
    for workers in args.workers:
        with tempfile.TemporaryDirectory(prefix="bench-products-") as tmp:
            start, cpu_start = time.perf_counter(), _cpu_seconds()
            products = render_forecast_products(forecast, Path(tmp), truth=truth, workers=workers)
            elapsed = time.perf_counter() - start
            cpu = _cpu_seconds() - cpu_start
            size = sum((Path(tmp) / p.path).stat().st_size for p in products)
        maps = sum(p.kind == "map" for p in products)
        errors = len(products) - maps
        print(
            f"workers={workers}: {len(products)} PNGs ({maps} maps, {errors} error maps) in "
            f"{elapsed:.1f} s = {1000 * elapsed / len(products):.0f} ms/PNG, "
            f"{size / 1e6:.1f} MB; CPU {cpu:.1f} s = {1000 * cpu / len(products):.0f} ms/PNG; "
            f"load average {os.getloadavg()[0]:.1f}"
        )
        record["runs"].append(
            {
                "workers": workers,
                "products": len(products),
                "seconds": round(elapsed, 2),
                "ms_per_png": round(1000 * elapsed / len(products), 1),
                "cpu_seconds": round(cpu, 2),
                "bytes": size,
                "load_average_1m": os.getloadavg()[0],
            }
        )
    if args.json:
        args.json.write_text(json.dumps(record, indent=2) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
