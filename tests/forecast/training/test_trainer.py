"""Tests of the training loop: round trip through predict/inspect, resume, fine-tuning."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from forecast.cli import main
from forecast.data.layout import to_example_batch
from forecast.data.synthetic import synthetic_era5, write_synthetic_archive
from forecast.errors import CheckpointError
from forecast.model import checkpoint
from forecast.training.config import load_train_config, train_config_from_dict
from forecast.training.trainer import evaluation_loss, train

# A tiny network (resolution 0: any grid) keeps compile and step times to seconds.
TINY_MODEL = {
    "resolution": 0.0,
    "mesh_size": 1,
    "latent_size": 8,
    "gnn_msg_steps": 1,
    "hidden_layers": 1,
    "radius_query_fraction_edge_length": 0.6,
}


def _config(archive: Path, stats: Path, out: Path, **training) -> dict:
    return {
        "model": TINY_MODEL,
        "task": {"preset": "TASK_13"},
        "data": {
            "archive": str(archive),
            "stats_dir": str(stats),
            "train_start": "2026-01-01",
            "train_end": "2026-01-02T18",
            "validation_start": "2026-01-03",
            "validation_end": "2026-01-03T18",
        },
        "training": {
            "checkpoint": str(out / "model.npz"),
            "validation_every": 2,
            "validation_examples": 2,
            "checkpoint_every": 2,
            "description": "tiny test model",
            "phases": [
                {"steps": 3, "rollout_steps": 1, "peak_learning_rate": 1e-3, "warmup_steps": 1},
                {"steps": 2, "rollout_steps": 2, "peak_learning_rate": 3e-4},
            ],
        }
        | training,
    }


def test_trained_checkpoint_round_trips(small_archive, small_stats, tmp_path, capsys) -> None:
    config_path = tmp_path / "train.json"
    config_path.write_text(json.dumps(_config(small_archive, small_stats, tmp_path)))
    assert main(["train", "--config", str(config_path), "--quiet"]) == 0
    ckpt_path = tmp_path / "model.npz"
    log = [json.loads(line) for line in (tmp_path / "model.log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3, 4, 5]
    assert [r["rollout_steps"] for r in log] == [1, 1, 1, 2, 2]
    assert all(np.isfinite(r["loss"]) for r in log)
    assert "validation_loss" in log[1] and "validation_loss" in log[2]  # every 2 and phase end

    # The official layout: `forecast inspect` reads it ...
    capsys.readouterr()
    assert main(["inspect", str(ckpt_path)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["model_config"]["latent_size"] == 8
    assert summary["task_config"]["pressure_levels"][-1] == 1000
    assert summary["description"] == "tiny test model"
    # ... and `forecast predict` rolls it out.
    window = synthetic_era5(
        pd.date_range("2026-01-05T00", periods=4, freq="6h"), grid_deg=10.0, seed=0
    )
    batch_path = tmp_path / "batch.nc"
    to_example_batch(window).to_netcdf(batch_path)
    out = tmp_path / "forecast.nc"
    args = ["predict", "--checkpoint", str(ckpt_path), "--stats", str(small_stats)]
    args += ["--input", str(batch_path), "--steps", "2", "--output", str(out)]
    assert main(args) == 0
    forecast = xr.load_dataset(out)
    assert forecast.sizes["time"] == 2
    assert np.all(np.isfinite(forecast["geopotential"].values))
    # The checkpoint's weights are the trained ones (not the initialisation).
    trained = checkpoint.load(ckpt_path)
    assert trained.num_parameters() > 1000


def test_resume_continues_exactly(small_archive, small_stats, tmp_path) -> None:
    straight = train_config_from_dict(_config(small_archive, small_stats, tmp_path / "a"))
    result = train(straight)
    assert result.completed and result.global_step == 5

    split = train_config_from_dict(_config(small_archive, small_stats, tmp_path / "b"))
    first = train(split, max_steps=4)  # stops inside phase 2
    assert not first.completed and first.global_step == 4
    state = np.load(split.state_path)
    assert int(state["global_step"]) == 4 and int(state["phase_index"]) == 1
    second = train(split)
    assert second.completed and second.global_step == 5

    a = checkpoint.load(straight.checkpoint).params
    b = checkpoint.load(split.checkpoint).params
    for module in a:
        for name in a[module]:
            np.testing.assert_allclose(a[module][name], b[module][name], rtol=1e-5, atol=1e-7)
    log = split.log_path.read_text().splitlines()
    assert [json.loads(line)["step"] for line in log] == [1, 2, 3, 4, 5]


def test_state_of_another_run_is_refused(small_archive, small_stats, tmp_path) -> None:
    config = train_config_from_dict(_config(small_archive, small_stats, tmp_path))
    train(config, max_steps=1)
    other = train_config_from_dict(_config(small_archive, small_stats, tmp_path, seed=5))
    with pytest.raises(CheckpointError, match="other settings"):
        train(other)
    changed = _config(small_archive, small_stats, tmp_path)
    changed["training"]["phases"][0]["peak_learning_rate"] = 5e-3
    with pytest.raises(CheckpointError, match="other phases"):
        train(train_config_from_dict(changed))


def test_appending_a_phase_trains_longer(small_archive, small_stats, tmp_path) -> None:
    short = _config(small_archive, small_stats, tmp_path)
    short["training"]["phases"] = short["training"]["phases"][:1]
    assert train(train_config_from_dict(short)).global_step == 3
    longer = _config(small_archive, small_stats, tmp_path)
    result = train(train_config_from_dict(longer))
    assert result.completed and result.global_step == 5


def test_toml_config_and_errors(tmp_path) -> None:
    path = tmp_path / "train.toml"
    path.write_text(
        '[data]\narchive = "a.nc"\nstats_dir = "s"\n'
        '[training]\ncheckpoint = "c.npz"\n'
        "[[training.phases]]\nsteps = 10\nrollout_steps = 3\n"
        "[model]\nresolution = 4.0\nmesh_size = 3\nlatent_size = 32\ngnn_msg_steps = 4\n"
        "hidden_layers = 1\nradius_query_fraction_edge_length = 0.6\n"
    )
    config = load_train_config(path)
    assert config.phases[0].rollout_steps == 3 and config.model.latent_size == 32
    assert config.state_path.name == "c.train_state.npz"
    path.write_text('[data]\narchive = "a.nc"\n')
    assert main(["train", "--config", str(path)]) == 1  # names the missing setting
    bad = tmp_path / "train.yaml"
    bad.write_text("x")
    assert main(["train", "--config", str(bad)]) == 1


@pytest.mark.slow
def test_fine_tuning_vectors_a_lowers_its_loss(vectors_dir, tmp_path) -> None:
    # Vector A's checkpoint is a 4° / mesh 3 / latent 32 GraphCast with random weights.
    source = vectors_dir / "A" / "checkpoint.npz"
    archive = write_synthetic_archive(
        tmp_path / "world-4deg.nc",
        pd.date_range("2026-03-01", periods=6, freq="6h"),
        grid_deg=4.0,
    )
    stats = vectors_dir / "A"  # DeepMind-layout stats (37 levels, selected by label)
    config = {
        "task": {"preset": "TASK_13"},
        "data": {"archive": str(archive), "stats_dir": str(stats)},
        "training": {
            "checkpoint": str(tmp_path / "tuned.npz"),
            "init_checkpoint": str(source),
            "validation_every": 100,
            "checkpoint_every": 100,
            "phases": [{"steps": 10, "rollout_steps": 1, "peak_learning_rate": 3e-3}],
        },
    }
    inits = [pd.Timestamp("2026-03-01T06") + pd.Timedelta(hours=6 * k) for k in range(4)]
    before = evaluation_loss(source, stats, archive, inits)
    result = train(train_config_from_dict(config))
    after = evaluation_loss(result.checkpoint, stats, archive, inits)
    assert after < 0.9 * before, (before, after)
    original = checkpoint.load(source)
    tuned = checkpoint.load(result.checkpoint)
    assert tuned.model_config == original.model_config
    assert tuned.task_config == original.task_config
    changed = [
        not np.allclose(original.params[m][n], tuned.params[m][n])
        for m in original.params
        for n in original.params[m]
    ]
    assert all(changed)
