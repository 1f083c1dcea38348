"""GraphCast rollout: s/step after compile, compile time, warm start from the persistent cache,
and peak RSS per step, for config A, a GraphCast_small-shaped model (1.0°) and the two 0.25°
shapes (GraphCast_operational: 13 levels, precipitation out only; GraphCast: 37 levels).

Every measurement runs in a fresh process (so peak RSS is its own and the in-memory jit cache
is empty). Per model: a cold run per step count, each with an empty compilation cache; then a
warm run of 1 step in a new process reusing the cache the first cold run wrote. The warm run's
"start" is the wall time from process start to the first prediction minus one compiled step
(imports, checkpoint, graphs from the on-disk cache, compiled step from the persistent cache).
Shapes: latent 512, 16 processor steps, 1 hidden layer; mesh 5 at 1.0°, mesh 6 at 0.25°;
random weights (normal, scaled by 1/sqrt(fan-in)); data are synthetic (official stats' mean ±
noise, TISR included). Graphs are cached in `var/cache/graphs` (built once per grid and mesh).

Memory: a sampler thread records VmRSS and RssAnon every 0.1 s, per step; with `--rss-cap-gb`
the child kills itself when VmRSS passes the cap (a shared machine). 0.25° runs spill the
forecast to unlinked files (`Rollout(spill_dir=...)`), so RssAnon is the rollout's own memory.

    PYTHONPATH=. .venv/bin/python bench/rollout.py [--models A small operational graphcast37]
        [--steps 1 4 8] [--reference-op-order] [--chunk-size N] [--memory-budget-gb B]
        [--edge-products auto|on|off] [--rss-cap-gb 13] [--no-warm]
        [--json OUT]
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VECTORS_A = REPO.parent / "shared" / "graphcast" / "vectors" / "A"
OFFICIAL_STATS = REPO.parent / "shared" / "data" / "graphcast-stats-official"
GRAPHS_CACHE = REPO / "var" / "cache" / "graphs"
PROCESS_START = time.time()
EDGE_PRODUCTS = {"auto": None, "on": True, "off": False}

# name: (model config args, task name, grid spacing in degrees).
SHAPES = {
    "small": ((1.0, 5, 512, 16, 1, 0.6), "TASK_13", 1.0),
    "operational": ((0.25, 6, 512, 16, 1, 0.6, 0.6180338738074472), "TASK_13_PRECIP_OUT", 0.25),
    "graphcast37": ((0.25, 6, 512, 16, 1, 0.6, 0.6180338738074472), "TASK", 0.25),
}


def _random_checkpoint(shape: str, path: Path) -> None:
    """Random weights of `shape`; parameter shapes by abstract evaluation on a 10° grid.

    Parameter shapes depend on the channels and widths only, not on the grid or the mesh, so
    a coarse grid with mesh 1 gives the 0.25°/mesh 6 model's shapes without its memory.
    """
    import dataclasses

    import haiku as hk
    import jax
    import numpy as np

    from forecast.model import build, checkpoint, config, extraction, normalization
    from forecast.model.graphcast import GraphArrays
    from forecast.model.graphs import build_graphs
    from forecast.model.xarray_jax import dataset_to_fields

    args, task_name, _ = SHAPES[shape]
    model = config.ModelConfig(*args)
    task = getattr(config, task_name)
    stats = normalization.load_stats(OFFICIAL_STATS, task.pressure_levels)
    lat, lon = _grid(10.0)
    batch = _batch(task, stats, lat, lon, 3)
    inputs, _, forcings = extraction.extract_inputs_targets_forcings(batch, task, ["6h"])
    coarse = dataclasses.replace(model, mesh_size=1)
    graphs = GraphArrays.from_graphs(
        build_graphs(lat, lon, mesh_size=1, radius_query_fraction_edge_length=0.6)
    )

    def forward(i, f):
        return build.build_one_step(coarse, task, stats, graphs)(i, f)

    shapes = jax.eval_shape(
        hk.transform(forward).init,
        jax.random.PRNGKey(0),
        dataset_to_fields(inputs, task.input_variables),
        dataset_to_fields(forcings, task.forcing_variables),
    )
    rng = np.random.default_rng(0)
    params = {}
    for module, leaves in shapes.items():
        params[module] = {}
        for name, leaf in leaves.items():
            if name == "w":
                value = rng.standard_normal(leaf.shape) / np.sqrt(leaf.shape[0])
            elif name == "scale":
                value = 1 + 0.1 * rng.standard_normal(leaf.shape)
            else:
                value = 0.05 * rng.standard_normal(leaf.shape)
            params[module][name] = value.astype(np.float32)
    checkpoint.save(
        path, checkpoint.CheckPoint(params, model, task, f"random {shape}-shaped", "none")
    )


def _repeat_last_frame(dataset, num_times: int):
    """`dataset` extended to `num_times` times by repeating its last frame, 6 h apart."""
    import numpy as np
    import xarray as xr

    step = np.timedelta64(6, "h")
    frames = [dataset]
    last = dataset.isel(time=[-1])
    for k in range(1, num_times - dataset.sizes["time"] + 1):
        shifted = {"time": last["time"].values + k * step}
        if "datetime" in last.coords:
            shifted["datetime"] = last["datetime"] + k * step
        frames.append(last.assign_coords(shifted))
    return xr.concat(frames, dim="time", data_vars="minimal") if len(frames) > 1 else dataset


def _grid(spacing: float):
    import numpy as np

    num_lat = int(round(180 / spacing)) + 1
    return (
        np.linspace(-90, 90, num_lat).astype(np.float32),
        (np.arange(int(round(360 / spacing))) * spacing).astype(np.float32),
    )


def _batch(task, stats, lat, lon, num_times):
    sys.path.insert(0, str(REPO))
    from tests.forecast.model.graphcast_helpers import synthetic_batch

    return synthetic_batch(task, stats, lat=lat, lon=lon, num_times=num_times, with_tisr=True)


class _MemorySampler(threading.Thread):
    """Samples VmRSS and RssAnon (MB) every 0.1 s (the parent enforces the cap)."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak_rss = self.peak_anon = 0
        self.step_peaks: list[tuple[int, int]] = []
        self._lock = threading.Lock()

    def run(self) -> None:
        while True:
            rss, anon = _proc_status_mb("VmRSS"), _proc_status_mb("RssAnon")
            with self._lock:
                self.peak_rss, self.peak_anon = max(self.peak_rss, rss), max(self.peak_anon, anon)
            time.sleep(0.1)

    def end_step(self) -> None:
        """Closes a step: records its peaks and starts the next one's."""
        with self._lock:
            self.step_peaks.append((self.peak_rss, self.peak_anon))
            self.peak_rss = self.peak_anon = 0


def child(args: argparse.Namespace) -> None:
    """One measured rollout in this process; prints one JSON line."""
    os.environ["GCF_JAX_CACHE_DIR"] = args.cache
    sampler = _MemorySampler()
    sampler.start()
    import logging

    import jax
    import xarray as xr

    from forecast.model import extraction
    from forecast.model.rollout import Rollout

    logging.basicConfig(level=logging.WARNING, format="  %(asctime)s %(name)s: %(message)s")
    logging.getLogger("forecast.model.chunking").setLevel(logging.INFO)
    logging.getLogger("forecast.model.rollout").setLevel(logging.INFO)
    started = time.perf_counter()
    options = dict(
        fuse_edge_first_layer=args.fuse,
        float32_accumulation=args.fuse,
        precompute_edge_embeddings=args.fuse,
        grid_chunk_size=args.chunk_size,
        memory_budget_bytes=int(args.memory_budget_gb * 1e9) if args.memory_budget_gb else None,
        precompute_edge_products=EDGE_PRODUCTS[args.edge_products],
    )
    spill = None
    if args.model == "A":
        rollout = Rollout.from_files(VECTORS_A / "checkpoint.npz", VECTORS_A, **options)
        batch = xr.load_dataset(VECTORS_A / "example_batch.nc")
    else:
        spacing = SHAPES[args.model][2]
        if spacing < 1:
            spill = Path(tempfile.mkdtemp(prefix="gcf_bench_spill_", dir=REPO / "var"))
        rollout = Rollout.from_files(
            args.checkpoint,
            OFFICIAL_STATS,
            graphs_cache_dir=GRAPHS_CACHE,
            spill_dir=spill,
            **options,
        )
        lat, lon = _grid(spacing)
        batch = _batch(
            rollout.checkpoint.task_config, rollout.stats, lat, lon, min(args.steps, 2) + 2
        )
    _log("data ready")
    known_steps = min(args.steps, batch.sizes["time"] - 2)
    inputs, targets, forcings = extraction.extract_inputs_targets_forcings(
        batch, rollout.checkpoint.task_config, slice("6h", f"{6 * known_steps}h")
    )
    del batch, targets
    # Steps past the batch repeat its last forcings (TISR kept as given): a 10-day 0.25°
    # batch of every field would be ~14 GB of synthetic data, and only forcings are needed.
    forcings = _repeat_last_frame(forcings, args.steps)
    _log("inputs extracted")
    setup = time.perf_counter() - started
    baseline_mb = _proc_status_mb("VmRSS")
    # Peak RSS of the rollout alone: reset the high-water mark after the data are prepared.
    Path("/proc/self/clear_refs").write_text("5")
    sampler.end_step()
    # CPU seconds per step (all threads): less sensitive than wall time to other load.
    cpu = [time.process_time()]
    first_prediction = []

    def progress(k: int, n: int) -> None:
        _log(f"step {k}/{n}")
        cpu.append(time.process_time())
        sampler.end_step()
        if k == 1:
            first_prediction.append(time.time())

    rollout.run(inputs, forcings, progress=progress)
    cpu_steps = [b - a for a, b in zip(cpu[:-1], cpu[1:], strict=True)]
    steps = rollout.step_seconds
    record = {
        "model": args.model,
        "steps": args.steps,
        "reference_op_order": not args.fuse,
        "chunk_plan": None if rollout.chunk_plan is None else vars(rollout.chunk_plan),
        "setup_s": round(setup, 2),
        "graphs_s": round(rollout.graphs_seconds, 2),
        "first_step_s": round(steps[0], 2),
        "first_step_cpu_s": round(cpu_steps[0], 2),
        "later_steps_s": [round(s, 2) for s in steps[1:]],
        "later_steps_cpu_s": [round(s, 2) for s in cpu_steps[1:]],
        "process_start_to_first_prediction_s": round(first_prediction[0] - PROCESS_START, 2),
        "rss_before_rollout_mb": baseline_mb,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "peak_rss_during_rollout_mb": _proc_status_mb("VmHWM"),
        # (VmRSS, RssAnon) peaks per step, sampled every 0.1 s.
        "step_peaks_mb": sampler.step_peaks[1:],
        "device": str(jax.devices()[0]),
    }
    if args.compiled_rerun:
        # The same first step again, now compiled: compile time = cold − compiled first step.
        cpu_again = time.process_time()
        rollout.run(inputs, forcings.isel(time=[0]))
        record["compiled_first_step_s"] = round(rollout.step_seconds[0], 2)
        record["compiled_first_step_cpu_s"] = round(time.process_time() - cpu_again, 2)
    if spill is not None:
        shutil.rmtree(spill, ignore_errors=True)
    print("RESULT " + json.dumps(record), flush=True)


def _log(message: str) -> None:
    """Progress of a child on stderr, with its memory (long 0.25° runs)."""
    print(
        f"  [{time.time() - PROCESS_START:7.1f} s] {message}: VmRSS {_proc_status_mb('VmRSS')} MB",
        file=sys.stderr,
        flush=True,
    )


def _proc_status_mb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return round(int(line.split()[1]) / 1024)
    raise KeyError(field)


def _run_child(model: str, steps: int, cache: Path, ckpt: Path | None, args) -> dict:
    command = [sys.executable, __file__, "--child", "--model", model, "--steps", str(steps)]
    command += ["--cache", str(cache)] + (["--checkpoint", str(ckpt)] if ckpt else [])
    command += [] if args.fuse else ["--reference-op-order"]
    command += ["--chunk-size", str(args.chunk_size)] if args.chunk_size else []
    command += ["--memory-budget-gb", str(args.memory_budget_gb)] if args.memory_budget_gb else []
    command += ["--edge-products", args.edge_products]
    # 1.0° and smaller: rerun step 1 compiled (cheap); 0.25°: later steps give the steady time.
    command += ["--compiled-rerun"] if model in ("A", "small") else []
    env = dict(os.environ, PYTHONPATH=str(REPO))
    with tempfile.TemporaryFile("w+") as out:
        child = subprocess.Popen(command, env=env, stdout=out, stderr=None, text=True)
        # The watchdog lives here, not in the child: a compiling child may hold its GIL.
        cap_mb = args.rss_cap_gb * 1024 if args.rss_cap_gb else None
        while child.poll() is None:
            if cap_mb and _status_mb(child.pid, "VmRSS") > cap_mb:
                child.kill()
                child.wait()
                raise RuntimeError(f"{model}: RSS passed the cap of {args.rss_cap_gb} GB: killed")
            time.sleep(0.2)
        out.seek(0)
        stdout = out.read()
    for line in stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"child failed (rc {child.returncode}): {stdout[-2000:]}")


def _status_mb(pid: int, field: str) -> int:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in text.splitlines():
        if line.startswith(field + ":"):
            return round(int(line.split()[1]) / 1024)
    return 0


def _compile_seconds(record: dict) -> tuple[float, float]:
    """First step − the compiled step (rerun of step 1, else the mean of later steps)."""
    if "compiled_first_step_s" in record:
        return (
            record["first_step_s"] - record["compiled_first_step_s"],
            record["first_step_cpu_s"] - record["compiled_first_step_cpu_s"],
        )
    later, later_cpu = record["later_steps_s"], record["later_steps_cpu_s"]
    if not later:
        return float("nan"), float("nan")
    return (
        record["first_step_s"] - sum(later) / len(later),
        record["first_step_cpu_s"] - sum(later_cpu) / len(later_cpu),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["A", "small"])
    parser.add_argument("--steps", nargs="+", type=int, default=[1, 4, 8])
    parser.add_argument(
        "--reference-op-order",
        dest="fuse",
        action="store_false",
        help="no fused edge MLP, no float32 accumulation, no precomputed edge embeddings (bit-exact with the reference)",
    )
    parser.add_argument("--chunk-size", type=int, default=0, help="grid nodes per chunk (0: auto)")
    parser.add_argument(
        "--memory-budget-gb", type=float, default=0, help="step memory budget (0: available)"
    )
    parser.add_argument(
        "--edge-products",
        choices=sorted(EDGE_PRODUCTS),
        default="auto",
        help="precomputed grid-edge products when chunked (auto: when the budget allows)",
    )
    parser.add_argument("--rss-cap-gb", type=float, default=0, help="kill a run above this RSS")
    parser.add_argument("--no-warm", dest="warm", action="store_false")
    parser.add_argument("--json", default=None)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--cache", help=argparse.SUPPRESS)
    parser.add_argument("--checkpoint", help=argparse.SUPPRESS)
    parser.add_argument("--compiled-rerun", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        args.steps = args.steps[0]
        child(args)
        return

    import jax

    work = Path(tempfile.mkdtemp(prefix="gcf_bench_rollout_"))
    # Random checkpoints and per-run caches: ~150 MB a model, not worth keeping.
    atexit.register(shutil.rmtree, work, ignore_errors=True)
    results = {
        "device": str(jax.devices()[0]),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load_avg": os.getloadavg(),
        "versions": {"jax": jax.__version__, "python": platform.python_version()},
        "optimised": args.fuse,
        "chunk_size": args.chunk_size or "auto",
        "models": {},
    }
    for model in args.models:
        ckpt = None
        if model in SHAPES:
            ckpt = work / f"{model}.npz"
            started = time.perf_counter()
            _random_checkpoint(model, ckpt)
            print(f"[{model}] random checkpoint: {time.perf_counter() - started:.1f} s")
        runs = {}
        for steps in args.steps:
            record = _run_child(model, steps, work / f"cache_{model}_{steps}", ckpt, args)
            runs[steps] = record
            later = record["later_steps_s"]
            per_step = sum(later) / len(later) if later else float("nan")
            print(
                f"[{model}] {steps} step(s): first step (compile + run) {record['first_step_s']} s, "
                f"steady {per_step:.2f} s/step, peak RSS {record['peak_rss_mb']} MB (process), "
                f"{record['rss_before_rollout_mb']} → {record['peak_rss_during_rollout_mb']} MB "
                f"(before rollout → peak during rollout), per-step (VmRSS, RssAnon) peaks "
                f"{record['step_peaks_mb']} MB, chunks {record['chunk_plan']}",
                flush=True,
            )
        steady = [s for r in runs.values() for s in r["later_steps_s"]]
        steady += [
            r["compiled_first_step_s"] for r in runs.values() if "compiled_first_step_s" in r
        ]
        steady_cpu = [s for r in runs.values() for s in r["later_steps_cpu_s"]]
        steady_cpu += [
            r["compiled_first_step_cpu_s"]
            for r in runs.values()
            if "compiled_first_step_cpu_s" in r
        ]
        compiles = [_compile_seconds(r) for r in runs.values()]
        summary = {
            "s_per_step": round(sum(steady) / len(steady), 2) if steady else None,
            "cpu_s_per_step": round(sum(steady_cpu) / len(steady_cpu), 2) if steady_cpu else None,
            # Per cold run: first step minus the compiled step (least disturbed run).
            "compile_s": round(min(c[0] for c in compiles), 2),
            "compile_cpu_s": round(min(c[1] for c in compiles), 2),
            "peak_rss_mb": {steps: r["peak_rss_mb"] for steps, r in runs.items()},
            "peak_rss_during_rollout_mb": {
                steps: r["peak_rss_during_rollout_mb"] for steps, r in runs.items()
            },
            "runs": runs,
        }
        if args.warm:
            warm = _run_child(model, 1, work / f"cache_{model}_{args.steps[0]}", ckpt, args)
            step = summary["s_per_step"] or 0.0
            summary.update(
                warm_first_step_s=warm["first_step_s"],
                warm_compile_s=round(warm["first_step_s"] - step, 2),
                warm_start_s=round(warm["process_start_to_first_prediction_s"] - step, 2),
                warm=warm,
            )
        results["models"][model] = summary
        print(
            f"[{model}] s/step {summary['s_per_step']} "
            f"(CPU {summary['cpu_s_per_step']} s/step over {os.cpu_count()} cores), "
            f"compile {summary['compile_s']} s (CPU {summary['compile_cpu_s']} s), "
            + (
                f"warm start (cache): process start → ready {summary['warm_start_s']} s, first "
                f"step {summary['warm_first_step_s']} s (compile ≈ {summary['warm_compile_s']} s), "
                if args.warm
                else ""
            )
            + f"peak RSS by steps {summary['peak_rss_mb']} MB, during the rollout "
            f"{summary['peak_rss_during_rollout_mb']} MB",
            flush=True,
        )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    print(json.dumps({k: v for k, v in results.items() if k != "models"}))


if __name__ == "__main__":
    main()
