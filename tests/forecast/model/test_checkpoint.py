"""Tests of checkpoint load/save in the official `.npz` layout."""

from __future__ import annotations

import dataclasses
import zipfile
from pathlib import Path

import numpy as np
import pytest

from forecast.errors import CheckpointError
from forecast.model import checkpoint, config


def test_loads_vector_a(vectors_dir: Path) -> None:
    ckpt = checkpoint.load(vectors_dir / "A" / "checkpoint.npz")
    assert ckpt.model_config == config.ModelConfig(4.0, 3, 32, 4, 1, 0.6, None)
    # 18 inputs: numeric, not lexicographic, ordering ("10" after "9").
    assert ckpt.task_config == config.TASK_13
    assert ckpt.num_parameters() == 70739
    module = "mesh2grid_gnn/~_networks_builder/decoder_nodes_grid_nodes_mlp/~/linear_1"
    assert ckpt.params[module]["w"].shape == (32, 83)
    assert ckpt.params[module]["w"].dtype == np.float32
    listed = (vectors_dir / "A" / "params.txt").read_text().split("\n")
    expected = {line.split("\t")[0] for line in listed if line.strip() and line[0] != "#"}
    assert {f"{m}:{n}" for m, leaves in ckpt.params.items() for n in leaves} == expected


def test_loads_third_party_checkpoint(shared_dir: Path) -> None:
    ckpt = checkpoint.load(shared_dir / "data" / "third-party-checkpoint" / "fine_tuned_model.npz")
    assert ckpt.model_config.mesh_size == 4
    assert ckpt.model_config.latent_size == 32
    assert ckpt.model_config.mesh2grid_edge_normalization_factor is None
    assert ckpt.task_config.pressure_levels == config.TASK_13.pressure_levels
    assert "Fine-tuned" in ckpt.description


def test_save_round_trips_the_exact_layout(vectors_dir: Path, tmp_path: Path) -> None:
    source = vectors_dir / "A" / "checkpoint.npz"
    ckpt = checkpoint.load(source)
    target = tmp_path / "copy.npz"
    checkpoint.save(target, ckpt)
    with np.load(source, allow_pickle=False) as a, np.load(target, allow_pickle=False) as b:
        assert sorted(a.files) == sorted(b.files)
        for key in a.files:
            assert a[key].dtype == b[key].dtype, key
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    with zipfile.ZipFile(target) as archive:  # uncompressed, as numpy.savez writes
        assert {info.compress_type for info in archive.infolist()} == {zipfile.ZIP_STORED}
    reloaded = checkpoint.load(target)
    assert (reloaded.model_config, reloaded.task_config) == (ckpt.model_config, ckpt.task_config)
    assert not list(tmp_path.glob(".*.tmp"))


def test_optional_factor_round_trips(vectors_dir: Path, tmp_path: Path) -> None:
    ckpt = checkpoint.load(vectors_dir / "A" / "checkpoint.npz")
    with_factor = dataclasses.replace(
        ckpt,
        model_config=dataclasses.replace(
            ckpt.model_config, mesh2grid_edge_normalization_factor=0.04
        ),
    )
    checkpoint.save(tmp_path / "f.npz", with_factor)
    with np.load(tmp_path / "f.npz") as archive:
        assert archive["model_config:mesh2grid_edge_normalization_factor"].dtype == np.float64
    assert (
        checkpoint.load(tmp_path / "f.npz").model_config.mesh2grid_edge_normalization_factor == 0.04
    )


def test_sha256_identifies_the_file(vectors_dir: Path, tmp_path: Path) -> None:
    path = vectors_dir / "A" / "checkpoint.npz"
    digest = checkpoint.file_sha256(path)
    assert len(digest) == 64
    copy = tmp_path / "c.npz"
    copy.write_bytes(path.read_bytes() + b"x")
    assert checkpoint.file_sha256(copy) != digest


def _bad_files(vectors_dir: Path, tmp_path: Path) -> dict[str, Path]:
    source = (vectors_dir / "A" / "checkpoint.npz").read_bytes()
    files = {
        "garbage": b"this is not a checkpoint",
        "truncated": source[: len(source) // 2],
        "empty": b"",
    }
    paths = {}
    for name, data in files.items():
        paths[name] = tmp_path / f"{name}.npz"
        paths[name].write_bytes(data)
    paths["npy"] = tmp_path / "single.npy"
    np.save(paths["npy"], np.zeros(3))
    paths["pickled"] = tmp_path / "pickled.npz"
    np.savez(paths["pickled"], params=np.array([{"a": 1}], dtype=object))
    paths["missing"] = tmp_path / "nope.npz"
    return paths


@pytest.mark.parametrize("case", ["garbage", "truncated", "empty", "npy", "pickled", "missing"])
def test_corrupt_files_raise_checkpoint_error(vectors_dir: Path, tmp_path: Path, case: str) -> None:
    path = _bad_files(vectors_dir, tmp_path)[case]
    with pytest.raises(CheckpointError, match=path.name if case != "missing" else "not found"):
        checkpoint.load(path)


def test_missing_fields_are_named(vectors_dir: Path, tmp_path: Path) -> None:
    with np.load(vectors_dir / "A" / "checkpoint.npz") as archive:
        arrays = {k: archive[k] for k in archive.files}
    no_license = {k: v for k, v in arrays.items() if k != "license"}
    np.savez(tmp_path / "a.npz", **no_license)
    with pytest.raises(CheckpointError, match="license"):
        checkpoint.load(tmp_path / "a.npz")
    no_latent = {k: v for k, v in arrays.items() if k != "model_config:latent_size"}
    np.savez(tmp_path / "b.npz", **no_latent)
    with pytest.raises(CheckpointError, match="latent_size"):
        checkpoint.load(tmp_path / "b.npz")
