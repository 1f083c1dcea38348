"""The committed demo checkpoint beats persistence on held-out synthetic dates, and loads."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from forecast.cli import main
from forecast.model import checkpoint
from forecast.model.config import TASK_13
from forecast.training.skill import skill_against_persistence

DEMO = Path(__file__).resolve().parents[3] / "stats" / "demo"


def test_demo_files_are_committed_and_small() -> None:
    ckpt = checkpoint.load(DEMO / "checkpoint.npz")
    assert ckpt.task_config == TASK_13
    assert ckpt.model_config.resolution == 4.0
    assert (DEMO / "checkpoint.npz").stat().st_size < 5_000_000
    for name in ("mean_by_level.nc", "stddev_by_level.nc", "diffs_stddev_by_level.nc"):
        assert (DEMO / name).is_file()
    assert "forecast train --config stats/demo/train.toml" in (DEMO / "README.md").read_text()


def test_demo_inspects(capsys) -> None:
    assert main(["inspect", str(DEMO / "checkpoint.npz")]) == 0
    assert json.loads(capsys.readouterr().out)["model_config"]["mesh_size"] == 3


def test_demo_beats_persistence_on_held_out_dates() -> None:
    # 2026 was never seen in training (2025); three inits at different seasons and hours.
    inits = [pd.Timestamp(t) for t in ("2026-02-11T06", "2026-06-20T12", "2026-11-03T00")]
    table = skill_against_persistence(DEMO / "checkpoint.npz", DEMO, inits)
    failures = [
        f"{name}@{level} {lead} h: model {table.model[(name, level)][lead]:.4g} >= "
        f"persistence {table.persistence[(name, level)][lead]:.4g}"
        for (name, level), by_lead in table.model.items()
        for lead in by_lead
        if table.model[(name, level)][lead] >= table.persistence[(name, level)][lead]
    ]
    assert not failures, "\n".join(failures)
