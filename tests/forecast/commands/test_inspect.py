"""Tests of `forecast inspect`."""

from __future__ import annotations

import json
from pathlib import Path

from forecast.cli import main


def test_inspect_third_party_checkpoint(shared_dir: Path, capsys) -> None:
    path = shared_dir / "data" / "third-party-checkpoint" / "fine_tuned_model.npz"
    assert main(["inspect", str(path)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["model_config"] == {
        "resolution": 0.0,
        "mesh_size": 4,
        "latent_size": 32,
        "gnn_msg_steps": 4,
        "hidden_layers": 1,
        "radius_query_fraction_edge_length": 0.6,
        "mesh2grid_edge_normalization_factor": None,
    }
    task = report["task_config"]
    assert task["pressure_levels"] == [
        50,
        100,
        150,
        200,
        250,
        300,
        400,
        500,
        600,
        700,
        850,
        925,
        1000,
    ]
    assert task["input_variables"][-2:] == ["geopotential_at_surface", "land_sea_mask"]
    assert task["input_duration"] == "12h"
    assert report["description"].startswith("Fine-tuned GraphCast")
    assert "Creative Commons" in report["license"]
    assert report["parameter_count"] == 70739
    assert len(report["sha256"]) == 64


def test_inspect_corrupt_file_is_one_line_error(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    assert main(["inspect", str(bad)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "bad.npz" in err
