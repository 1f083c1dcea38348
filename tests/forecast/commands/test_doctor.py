"""`forecast doctor`: JAX devices, GPU state, XLA settings and the compile cache of this machine."""

from __future__ import annotations

import argparse
import json

import jax
import jax.numpy as jnp
import pytest

from forecast import cli
from forecast.commands import doctor
from forecast.commands.doctor import cuda_version, cudnn_version
from forecast.model.rollout import enable_compilation_cache


def _doctor(capsys, *args: str) -> str:
    # Only doctor's parser: building the whole CLI here would import every command module
    # while capsys holds sys.stderr (one binds it as a default argument at import).
    parser = argparse.ArgumentParser(prog="forecast")
    doctor.add_parser(parser.add_subparsers(dest="command", required=True))
    assert doctor.run(parser.parse_args(["doctor", *args])) == 0
    return capsys.readouterr().out


def test_registered_in_the_cli():
    assert "doctor" in cli.COMMANDS


def test_reports_devices_xla_settings_and_a_missing_cache(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    monkeypatch.setenv("XLA_FLAGS", "--xla_gpu_autotune_level=0")
    monkeypatch.delenv("XLA_PYTHON_CLIENT_MEM_FRACTION", raising=False)
    report = json.loads(_doctor(capsys, "--json", "--cache-dir", str(tmp_path / "none")))
    assert report["jax"] == jax.__version__ and report["backend"] == jax.default_backend()
    assert len(report["devices"]) == len(jax.devices())
    if jax.default_backend() == "cpu":
        assert report["gpu"] in ("no GPU: CPU backend",) or "note" in report["gpu"]
    assert report["xla"]["XLA_PYTHON_CLIENT_PREALLOCATE"] == "false"
    assert report["xla"]["XLA_FLAGS"] == "--xla_gpu_autotune_level=0"
    assert report["xla"]["XLA_PYTHON_CLIENT_MEM_FRACTION"] == ""
    assert report["compile_cache"]["state"].startswith("missing")

    text = _doctor(capsys, "--cache-dir", str(tmp_path / "none"))
    assert f"JAX            {jax.__version__}" in text
    assert "XLA_PYTHON_CLIENT_MEM_FRACTION (unset)" in text
    if jax.default_backend() == "cpu":
        assert "no GPU: CPU backend" in text or "GPU present but JAX runs on the CPU" in text


def test_sees_a_compile_cache_that_a_real_compile_filled(capsys, tmp_path):
    cache = tmp_path / "jax_cache"
    previous = jax.config.jax_compilation_cache_dir
    enable_compilation_cache(cache)
    try:
        jax.jit(lambda x: jnp.sin(x) * 3.0 + x.shape[0])(jnp.arange(17.0)).block_until_ready()
    finally:
        if previous:
            enable_compilation_cache(previous)
        else:
            jax.config.update("jax_compilation_cache_dir", None)
    report = json.loads(_doctor(capsys, "--json", "--cache-dir", str(cache)))
    files = [f for f in cache.rglob("*") if f.is_file()]
    assert report["compile_cache"]["state"] == "warm"
    assert report["compile_cache"]["entries"] == len(files) >= 1
    assert report["compile_cache"]["size_mib"] == pytest.approx(
        sum(f.stat().st_size for f in files) / 1024**2, abs=0.06
    )


def test_cuda_version_numbers():
    assert cuda_version(12040) == "12.4" and cuda_version(11080) == "11.8"
    assert cudnn_version(90100) == "9.1.0" and cudnn_version(8907) == "8.9.7"
    assert cuda_version(None) is None and cudnn_version(0) is None
