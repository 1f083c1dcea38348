"""GraphCast rollout: s/step after compile, compile time, warm start from the persistent cache,
and peak RSS at 1, 4 and 8 steps, for config A and a GraphCast_small-shaped model.

Every measurement runs in a fresh process (so peak RSS is its own and the in-memory jit cache
is empty). Per model: a cold run per step count, each with an empty compilation cache; then a
warm run of 1 step in a new process reusing the cache the 1-step cold run wrote.
GraphCast_small-shaped = 1.0° grid, 13 levels, mesh 5, latent 512, 16 processor steps, random
weights (normal, scaled by 1/sqrt(fan-in)); data are synthetic (official stats' mean ± noise).

    PYTHONPATH=. .venv/bin/python bench/rollout.py [--models A small] [--steps 1 4 8]
        [--reference-op-order] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VECTORS_A = REPO.parent / "shared" / "graphcast" / "vectors" / "A"
OFFICIAL_STATS = REPO.parent / "shared" / "data" / "graphcast-stats-official"


def _small_checkpoint(path: Path) -> None:
    """Random GraphCast_small-shaped weights; shapes from abstract evaluation (no compile)."""
    import haiku as hk
    import jax
    import numpy as np

    from forecast.model import build, checkpoint, config, extraction, normalization
    from forecast.model.graphcast import GraphArrays
    from forecast.model.xarray_jax import dataset_to_fields

    model = config.ModelConfig(1.0, 5, 512, 16, 1, 0.6)
    task = config.TASK_13
    stats = normalization.load_stats(OFFICIAL_STATS, task.pressure_levels)
    lat, lon = _grid()
    batch = _batch(task, stats, lat, lon, 3)
    inputs, _, forcings = extraction.extract_inputs_targets_forcings(batch, task, ["6h"])
    graphs = _graphs(model, lat, lon)

    def forward(i, f):
        return build.build_one_step(model, task, stats, GraphArrays.from_graphs(graphs))(i, f)

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
        path,
        checkpoint.CheckPoint(params, model, task, "random GraphCast_small-shaped", "none"),
    )


def _grid():
    import numpy as np

    return (
        np.linspace(-90, 90, 181).astype(np.float32),
        np.arange(360).astype(np.float32),
    )


def _graphs(model, lat, lon):
    from forecast.model.graphs import load_or_build_graphs

    return load_or_build_graphs(
        lat,
        lon,
        mesh_size=model.mesh_size,
        radius_query_fraction_edge_length=model.radius_query_fraction_edge_length,
        cache_dir=Path(tempfile.gettempdir()) / "gcf_bench_graphs",
    )


def _batch(task, stats, lat, lon, num_times):
    sys.path.insert(0, str(REPO))
    from tests.forecast.model.graphcast_helpers import synthetic_batch

    return synthetic_batch(task, stats, lat=lat, lon=lon, num_times=num_times, with_tisr=True)


def child(args: argparse.Namespace) -> None:
    """One measured rollout in this process; prints one JSON line."""
    os.environ["GCF_JAX_CACHE_DIR"] = args.cache
    import jax
    import xarray as xr

    from forecast.model import extraction
    from forecast.model.rollout import Rollout

    started = time.perf_counter()
    if args.model == "A":
        rollout = Rollout.from_files(
            VECTORS_A / "checkpoint.npz",
            VECTORS_A,
            fuse_edge_first_layer=args.fuse,
            precompute_edge_embeddings=args.fuse,
        )
        batch = xr.load_dataset(VECTORS_A / "example_batch.nc")
        # Repeat the last frames so any step count has forcings (TISR kept as given).
        while batch.sizes["time"] < args.steps + 2:
            extra = batch.isel(time=[-1])
            step = batch["time"].values[-1] - batch["time"].values[-2]
            extra = extra.assign_coords(
                time=extra["time"].values + step, datetime=extra["datetime"] + step
            )
            batch = xr.concat([batch, extra], dim="time", data_vars="minimal")
        batch = batch.isel(time=slice(0, args.steps + 2))
    else:
        rollout = Rollout.from_files(
            args.checkpoint, OFFICIAL_STATS, fuse_edge_first_layer=args.fuse, precompute_edge_embeddings=args.fuse,
            graphs_cache_dir=Path(tempfile.gettempdir()) / "gcf_bench_graphs",
        )  # fmt: skip
        lat, lon = _grid()
        batch = _batch(rollout.checkpoint.task_config, rollout.stats, lat, lon, args.steps + 2)
    inputs, _, forcings = extraction.extract_inputs_targets_forcings(
        batch, rollout.checkpoint.task_config, slice("6h", f"{6 * args.steps}h")
    )
    setup = time.perf_counter() - started
    # Peak RSS of the rollout alone: reset the high-water mark after the data are prepared.
    baseline_mb = _proc_status_mb("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")
    # CPU seconds per step (all threads): less sensitive than wall time to other load.
    cpu = [time.process_time()]
    rollout.run(inputs, forcings, progress=lambda k, n: cpu.append(time.process_time()))
    cpu_steps = [b - a for a, b in zip(cpu[:-1], cpu[1:], strict=True)]
    steps = rollout.step_seconds
    # The same first step again, now compiled: compile time = cold − compiled first step.
    cpu_again = time.process_time()
    rollout.run(inputs, forcings.isel(time=[0]))
    compiled_first = rollout.step_seconds[0]
    compiled_first_cpu = time.process_time() - cpu_again
    record = {
        "model": args.model,
        "steps": args.steps,
        "setup_s": round(setup, 2),
        "graphs_s": round(rollout.graphs_seconds, 2),
        "first_step_s": round(steps[0], 2),
        "first_step_cpu_s": round(cpu_steps[0], 2),
        "compile_s": round(steps[0] - compiled_first, 2),
        "compile_cpu_s": round(cpu_steps[0] - compiled_first_cpu, 2),
        "later_steps_s": [round(s, 2) for s in steps[1:]],
        "later_steps_cpu_s": [round(s, 2) for s in cpu_steps[1:]],
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "rss_before_rollout_mb": baseline_mb,
        "peak_rss_during_rollout_mb": _proc_status_mb("VmHWM"),
        "device": str(jax.devices()[0]),
    }
    print("RESULT " + json.dumps(record), flush=True)


def _proc_status_mb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return round(int(line.split()[1]) / 1024)
    raise KeyError(field)


def _run_child(model: str, steps: int, cache: Path, ckpt: Path | None, fuse: bool) -> dict:
    command = [sys.executable, __file__, "--child", "--model", model, "--steps", str(steps)]
    command += ["--cache", str(cache)] + (["--checkpoint", str(ckpt)] if ckpt else [])
    command += [] if fuse else ["--reference-op-order"]
    env = dict(os.environ, PYTHONPATH=str(REPO))
    out = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"child failed: {out.stderr[-3000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["A", "small"])
    parser.add_argument("--steps", nargs="+", type=int, default=[1, 4, 8])
    parser.add_argument(
        "--reference-op-order",
        dest="fuse",
        action="store_false",
        help="no fused edge MLP, no precomputed edge embeddings (bit-exact with the reference)",
    )
    parser.add_argument("--json", default=None)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--cache", help=argparse.SUPPRESS)
    parser.add_argument("--checkpoint", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        args.steps = args.steps[0]
        child(args)
        return

    import jax

    work = Path(tempfile.mkdtemp(prefix="gcf_bench_rollout_"))
    results = {
        "device": str(jax.devices()[0]),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load_avg": os.getloadavg(),
        "versions": {"jax": jax.__version__, "python": platform.python_version()},
        "optimised": args.fuse,
        "models": {},
    }
    for model in args.models:
        ckpt = None
        if model == "small":
            ckpt = work / "small.npz"
            started = time.perf_counter()
            _small_checkpoint(ckpt)
            print(f"[small] random checkpoint + graphs: {time.perf_counter() - started:.1f} s")
        runs = {}
        for steps in args.steps:
            record = _run_child(model, steps, work / f"cache_{model}_{steps}", ckpt, args.fuse)
            runs[steps] = record
            later = record["later_steps_s"]
            per_step = sum(later) / len(later) if later else float("nan")
            print(
                f"[{model}] {steps} step(s): first step (compile + run) {record['first_step_s']} s, "
                f"steady {per_step:.2f} s/step, peak RSS {record['peak_rss_mb']} MB (process), "
                f"{record['rss_before_rollout_mb']} → {record['peak_rss_during_rollout_mb']} MB "
                "(before rollout → peak during rollout)"
            )
        warm = _run_child(model, 1, work / f"cache_{model}_{args.steps[0]}", ckpt, args.fuse)
        steady = [s for r in runs.values() for s in r["later_steps_s"]]
        s_per_step = sum(steady) / len(steady) if steady else float("nan")
        steady_cpu = [s for r in runs.values() for s in r["later_steps_cpu_s"]]
        cpu_per_step = sum(steady_cpu) / len(steady_cpu) if steady_cpu else float("nan")
        summary = {
            "s_per_step": round(s_per_step, 2),
            "cpu_s_per_step": round(cpu_per_step, 2),
            # Per cold run: first step minus the same step once compiled (least disturbed run).
            "compile_s": min(r["compile_s"] for r in runs.values()),
            "compile_cpu_s": min(r["compile_cpu_s"] for r in runs.values()),
            "warm_first_step_s": warm["first_step_s"],
            "warm_compile_s": warm["compile_s"],
            "warm_compile_cpu_s": warm["compile_cpu_s"],
            "peak_rss_mb": {steps: r["peak_rss_mb"] for steps, r in runs.items()},
            "peak_rss_during_rollout_mb": {
                steps: r["peak_rss_during_rollout_mb"] for steps, r in runs.items()
            },
            "runs": runs,
        }
        results["models"][model] = summary
        print(
            f"[{model}] s/step {summary['s_per_step']} "
            f"(CPU {summary['cpu_s_per_step']} s/step over {os.cpu_count()} cores), "
            f"compile {summary['compile_s']} s (CPU {summary['compile_cpu_s']} s), "
            f"warm start (cache) first step {warm['first_step_s']} s "
            f"(compile ≈ {summary['warm_compile_s']} s, CPU {summary['warm_compile_cpu_s']} s), peak RSS by steps "
            f"{summary['peak_rss_mb']} MB, during the rollout {summary['peak_rss_during_rollout_mb']} MB"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    print(json.dumps({k: v for k, v in results.items() if k != "models"}))


if __name__ == "__main__":
    main()
