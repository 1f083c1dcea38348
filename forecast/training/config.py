"""Training configuration: a frozen, documented dataclass read from a TOML or JSON file.

    [model]                 # ModelConfig fields (ignored when fine-tuning: the checkpoint's)
    resolution = 4.0
    mesh_size = 3
    latent_size = 32
    gnn_msg_steps = 4
    hidden_layers = 1
    radius_query_fraction_edge_length = 0.6

    [task]
    preset = "TASK_13"      # or explicit TaskConfig fields

    [data]
    archive = "var/training/world.nc"
    stats_dir = "stats/demo"
    train_start = "2025-01-01"
    train_end = "2025-11-30T18"
    validation_start = "2025-12-01"
    validation_end = "2025-12-31T18"

    [training]
    checkpoint = "stats/demo/checkpoint.npz"   # written here; state beside it
    seed = 0
    batch_size = 1
    validation_every = 200
    validation_examples = 4
    checkpoint_every = 200

    [[training.phases]]     # 1-step training, then autoregressive fine-tuning
    steps = 1500
    rollout_steps = 1
    peak_learning_rate = 1e-3
    warmup_steps = 100

Relative paths are relative to the current directory (run from the repository root).
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
from pathlib import Path
from typing import Any

from forecast.errors import InvalidInputError
from forecast.model import config as model_config_lib
from forecast.model.config import ModelConfig, TaskConfig

TASK_PRESETS = {
    "TASK": model_config_lib.TASK,
    "TASK_13": model_config_lib.TASK_13,
    "TASK_13_PRECIP_OUT": model_config_lib.TASK_13_PRECIP_OUT,
}


@dataclasses.dataclass(frozen=True)
class Phase:
    """One stage of training with its own schedule.

    Attributes:
        steps: optimiser steps in this phase.
        rollout_steps: K, autoregressive steps per example (1 = one-step training; K > 1
            backpropagates through the rollout, loss averaged over the K lead times).
        peak_learning_rate: peak of the warm-up/cosine schedule.
        warmup_steps: linear warm-up length.
        end_fraction: final learning rate as a fraction of the peak.
    """

    steps: int
    rollout_steps: int = 1
    peak_learning_rate: float = 1e-3
    warmup_steps: int = 0
    end_fraction: float = 0.01


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything `forecast train` needs.

    Attributes:
        model: the network's shape (None when fine-tuning: taken from `init_checkpoint`).
        task: variables, levels and input window.
        archive: model-layout dataset archive (NetCDF or Zarr).
        stats_dir: normalisation statistics (DeepMind layout), e.g. from `forecast stats`.
        train_start, train_end: span of the archive used for training windows.
        validation_start, validation_end: held-out span for validation (None: no validation).
        checkpoint: output checkpoint path (official `.npz`); the optimiser state and step
            are written beside it (`<name>.train_state.npz`) and the log (`<name>.log.jsonl`).
        init_checkpoint: fine-tune from these weights (and their configs) instead of a fresh
            initialisation.
        phases: the training stages, run in order.
        seed: parameter initialisation and batch sampling seed.
        batch_size: examples per step.
        weight_decay, clip_norm, b1, b2: AdamW and clipping settings (GraphCast's defaults).
        bfloat16: train the network in bf16 (as inference runs) instead of float32.
        validation_every, validation_examples: validation cadence and size.
        checkpoint_every: steps between checkpoint + state saves (and always at the end).
        description, license: written into the checkpoint.
    """

    model: ModelConfig | None
    task: TaskConfig
    archive: Path
    stats_dir: Path
    checkpoint: Path
    phases: tuple[Phase, ...]
    train_start: str | None = None
    train_end: str | None = None
    validation_start: str | None = None
    validation_end: str | None = None
    init_checkpoint: Path | None = None
    seed: int = 0
    batch_size: int = 1
    weight_decay: float = 0.1
    clip_norm: float = 32.0
    b1: float = 0.9
    b2: float = 0.95
    bfloat16: bool = False
    validation_every: int = 200
    validation_examples: int = 4
    checkpoint_every: int = 200
    description: str = "GraphCast trained by forecast train"
    license: str = "CC BY-SA 4.0"

    @property
    def total_steps(self) -> int:
        """Optimiser steps over all phases."""
        return sum(phase.steps for phase in self.phases)

    @property
    def state_path(self) -> Path:
        """Optimiser state and step, beside the checkpoint."""
        return self.checkpoint.with_name(self.checkpoint.stem + ".train_state.npz")

    @property
    def log_path(self) -> Path:
        """JSON-lines training log, beside the checkpoint."""
        return self.checkpoint.with_name(self.checkpoint.stem + ".log.jsonl")


def load_train_config(path: str | Path) -> TrainConfig:
    """Reads a TOML (`.toml`) or JSON (`.json`) training config.

    Raises:
        InvalidInputError: unreadable file, unknown format, or a missing/invalid field
            (the message names it).
    """
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise InvalidInputError(f"cannot read training config {path}: {exc}") from exc
    try:
        if path.suffix == ".toml":
            raw = tomllib.loads(text)
        elif path.suffix == ".json":
            raw = json.loads(text)
        else:
            raise InvalidInputError(f"training config {path} must end in .toml or .json")
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInputError(f"training config {path} is malformed: {exc}") from exc
    return train_config_from_dict(raw)


def _section(raw: dict, name: str, required: bool = True) -> dict:
    section = raw.get(name)
    if section is None:
        if required:
            raise InvalidInputError(f"training config has no [{name}] section")
        return {}
    if not isinstance(section, dict):
        raise InvalidInputError(f"training config: [{name}] must be a table")
    return section


def _task(section: dict) -> TaskConfig:
    if "preset" in section:
        preset = section["preset"]
        if preset not in TASK_PRESETS:
            raise InvalidInputError(f"task.preset {preset!r} is not one of {sorted(TASK_PRESETS)}")
        return TASK_PRESETS[preset]
    return model_config_lib.task_config_from_dict(section)


def train_config_from_dict(raw: dict[str, Any]) -> TrainConfig:
    """Builds a TrainConfig from parsed TOML/JSON (see the module docstring)."""
    data = _section(raw, "data")
    training = _section(raw, "training")
    model_section = _section(raw, "model", required=False)
    init_checkpoint = training.get("init_checkpoint")
    model = None
    if model_section:
        model = model_config_lib.model_config_from_dict(model_section)
    elif init_checkpoint is None:
        raise InvalidInputError("training config needs a [model] section or an init_checkpoint")
    for key in ("archive", "stats_dir"):
        if key not in data:
            raise InvalidInputError(f"training config: data.{key} is required")
    if "checkpoint" not in training:
        raise InvalidInputError("training config: training.checkpoint is required")
    phases_raw = training.get("phases")
    if not phases_raw or not isinstance(phases_raw, list):
        raise InvalidInputError("training config: training.phases must be a non-empty list")
    phases = []
    for i, phase in enumerate(phases_raw):
        unknown = set(phase) - {f.name for f in dataclasses.fields(Phase)}
        if unknown or "steps" not in phase:
            raise InvalidInputError(
                f"training.phases[{i}]: needs 'steps'; unknown keys {sorted(unknown)}"
            )
        phases.append(Phase(**phase))
        if phases[-1].steps < 1 or phases[-1].rollout_steps < 1:
            raise InvalidInputError(f"training.phases[{i}]: steps and rollout_steps must be >= 1")
    simple = {
        f.name
        for f in dataclasses.fields(TrainConfig)
        if f.name not in {"model", "task", "archive", "stats_dir", "checkpoint", "phases"}
    }
    kwargs: dict[str, Any] = {}
    for key, value in {**data, **training}.items():
        if key in {"archive", "stats_dir", "checkpoint", "phases"}:
            continue
        if key not in simple:
            raise InvalidInputError(f"training config: unknown setting {key!r}")
        kwargs[key] = Path(value) if key == "init_checkpoint" else value
    config = TrainConfig(
        model=model,
        task=_task(_section(raw, "task", required=False) or {"preset": "TASK_13"}),
        archive=Path(data["archive"]),
        stats_dir=Path(data["stats_dir"]),
        checkpoint=Path(training["checkpoint"]),
        phases=tuple(phases),
        **kwargs,
    )
    if config.batch_size < 1:
        raise InvalidInputError("training.batch_size must be >= 1")
    return config
