"""`forecast doctor`: what this machine offers a rollout — JAX, devices, CUDA, XLA memory, cache.

Run it on every new GPU host (deploy/README.md) before starting its worker: it says whether JAX
sees the GPU, which CUDA/cuDNN/driver it runs on, how XLA will take device memory, and whether
the persistent compilation cache is in place (a cold cache costs a compile on the first run).

The process environment is what is being diagnosed, so this command (not the library) reads
it: the XLA variables as JAX itself will read them, and the cache directory's default.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

# What JAX and XLA read from the environment about devices and memory.
XLA_VARIABLES = (
    "XLA_PYTHON_CLIENT_PREALLOCATE",
    "XLA_PYTHON_CLIENT_MEM_FRACTION",
    "XLA_PYTHON_CLIENT_ALLOCATOR",
    "XLA_FLAGS",
    "JAX_PLATFORMS",
    "CUDA_VISIBLE_DEVICES",
)
_NVIDIA_SMI_FIELDS = ("name", "driver_version", "memory.total", "memory.used")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Registers `doctor`."""
    parser = subparsers.add_parser(
        "doctor", help="report JAX devices, CUDA, XLA memory settings and compile cache",
        description=__doc__,
    )  # fmt: skip
    parser.add_argument(
        "--cache-dir", type=Path, default=None,
        help="JAX compile cache to inspect (default: GCF_JAX_CACHE_DIR, else "
             "GCF_VAR_DIR/jax_cache, as the gpu worker uses)",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(func=run)


def default_cache_dir(environ: Mapping[str, str]) -> Path:
    """The compile cache the gpu worker uses (see forecast/model/rollout.py)."""
    if environ.get("GCF_JAX_CACHE_DIR"):
        return Path(environ["GCF_JAX_CACHE_DIR"])
    var_dir = environ.get("GCF_VAR_DIR") or Path(__file__).resolve().parents[2] / "var"
    return Path(var_dir) / "jax_cache"


def cuda_version(number: int | None) -> str | None:
    """CUDA's integer versions (runtime and driver API): 12040 → "12.4"."""
    if not number:
        return None
    return f"{number // 1000}.{number % 1000 // 10}"


def cudnn_version(number: int | None) -> str | None:
    """cuDNN's integer version: major·10000 + minor·100 + patch from 9.0 (90100 → "9.1.0"),
    major·1000 + minor·100 + patch before (8907 → "8.9.7")."""
    if not number:
        return None
    scale = 10000 if number >= 90000 else 1000
    return f"{number // scale}.{number % scale // 100}.{number % 100}"


def _cuda() -> dict[str, Any]:
    """CUDA runtime/cuDNN versions from jaxlib's CUDA plugin, when one is installed."""
    try:
        from jax._src.lib import cuda_versions
    except ImportError:
        cuda_versions = None
    if cuda_versions is None:
        return {"plugin": False}
    result: dict[str, Any] = {"plugin": True}
    for key, name, decode in (
        ("runtime", "cuda_runtime_get_version", cuda_version),
        ("cudnn", "cudnn_get_version", cudnn_version),
        ("driver_api", "cuda_driver_get_version", cuda_version),
    ):
        function = getattr(cuda_versions, name, None)
        try:
            result[key] = decode(function()) if function else None
        except Exception as exc:  # a broken CUDA install is what doctor must report
            result[key] = f"error: {exc}"
    return result


def _nvidia_smi() -> list[dict[str, str]] | str:
    """GPUs and driver version as `nvidia-smi` reports them ("" when it is not installed)."""
    binary = shutil.which("nvidia-smi")
    if not binary:
        return ""
    try:
        out = subprocess.run(
            [binary, f"--query-gpu={','.join(_NVIDIA_SMI_FIELDS)}", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=20, check=True,
        ).stdout  # fmt: skip
    except (OSError, subprocess.SubprocessError) as exc:
        return f"nvidia-smi failed: {exc}"
    return [
        dict(zip(_NVIDIA_SMI_FIELDS, (f.strip() for f in line.split(",")), strict=False))
        for line in out.splitlines()
        if line.strip()
    ]


def _devices() -> dict[str, Any]:
    import jax
    import jaxlib

    devices = []
    for device in jax.devices():
        entry = {"id": device.id, "platform": device.platform, "kind": device.device_kind}
        try:
            stats = device.memory_stats() or {}
        except Exception:  # CPU devices have none
            stats = {}
        if "bytes_limit" in stats:
            entry["memory_limit_gib"] = round(stats["bytes_limit"] / 1024**3, 2)
            entry["memory_in_use_gib"] = round(stats.get("bytes_in_use", 0) / 1024**3, 2)
        devices.append(entry)
    return {
        "jax": jax.__version__,
        "jaxlib": jaxlib.__version__,
        "backend": jax.default_backend(),
        "devices": devices,
    }


def _cache(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {"dir": str(path), "state": "missing (created on the first rollout)"}
    files = [f for f in path.rglob("*") if f.is_file()]
    size = sum(f.stat().st_size for f in files)
    writable = os.access(path, os.W_OK)
    state = "empty (the first rollout compiles)" if not files else "warm"
    return {
        "dir": str(path),
        "state": state if writable else f"{state}; NOT writable by this user",
        "entries": len(files),
        "size_mib": round(size / 1024**2, 1),
        "writable": writable,
    }


def diagnose(environ: Mapping[str, str], cache_dir: Path) -> dict[str, Any]:
    """The report: JAX and devices, CUDA and driver, XLA settings, compile cache."""
    report = _devices()
    on_gpu = report["backend"] in ("gpu", "cuda", "rocm")
    report["gpu"] = (
        {"cuda": _cuda(), "nvidia_smi": _nvidia_smi()} if on_gpu else "no GPU: CPU backend"
    )
    if not on_gpu and (smi := _nvidia_smi()):
        # A GPU the JAX install cannot use (CPU-only jaxlib, or JAX_PLATFORMS=cpu).
        report["gpu"] = {"note": "GPU present but JAX runs on the CPU", "nvidia_smi": smi}
    report["xla"] = {name: environ.get(name, "") for name in XLA_VARIABLES}
    report["compile_cache"] = _cache(cache_dir)
    return report


def format_report(report: dict[str, Any]) -> str:
    """The report as aligned text lines for people."""
    lines = [
        f"JAX            {report['jax']} (jaxlib {report['jaxlib']}), backend {report['backend']}"
    ]
    for device in report["devices"]:
        memory = (
            f", {device['memory_limit_gib']} GiB limit, {device['memory_in_use_gib']} GiB in use"
            if "memory_limit_gib" in device
            else ""
        )
        lines.append(f"device {device['id']:<7} {device['platform']}: {device['kind']}{memory}")
    gpu = report["gpu"]
    if isinstance(gpu, str):
        lines.append(f"GPU            {gpu}")
    else:
        if "note" in gpu:
            lines.append(f"GPU            {gpu['note']}")
        cuda = gpu.get("cuda", {})
        if cuda:
            lines.append(
                f"CUDA           runtime {cuda.get('runtime')}, cuDNN {cuda.get('cudnn')}"
                if cuda.get("plugin")
                else "CUDA           no jaxlib CUDA plugin installed"
            )
        smi = gpu.get("nvidia_smi")
        for card in smi if isinstance(smi, list) else []:
            lines.append(
                f"driver         {card.get('driver_version')} ({card.get('name')}, "
                f"{card.get('memory.total')})"
            )
        if isinstance(smi, str) and smi:
            lines.append(f"driver         {smi}")
    for name, value in report["xla"].items():
        lines.append(f"{name:<30} {value or '(unset)'}")
    cache = report["compile_cache"]
    detail = f", {cache['entries']} entries, {cache['size_mib']} MiB" if "entries" in cache else ""
    lines.append(f"compile cache  {cache['dir']}: {cache['state']}{detail}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Prints the report (text, or JSON with --json)."""
    cache_dir = args.cache_dir or default_cache_dir(os.environ)
    report = diagnose(os.environ, cache_dir)
    if args.json:
        json.dump(report, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(format_report(report))
    return 0
