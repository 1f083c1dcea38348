"""The training loop: phases of (multi-step) training, validation, resumable checkpoints.

`train(config)` runs every phase of a `TrainConfig` in order. Each step draws a batch of
random windows from the archive (`ArchiveBatches`; the draw is seeded by the global step, so
a resumed run sees the same batches), computes the GraphCast loss and its gradient through
the K-step rollout (`forecast.training.loss`), and applies the phase's AdamW update. The next
batch is read in a background thread while the device computes.

Every `checkpoint_every` steps, at the end of each phase and when stopped early, it writes:

* the checkpoint, in the official `.npz` layout (`forecast.model.checkpoint.save`), so
  `forecast predict` / `forecast inspect` and DeepMind's code load it;
* `<name>.train_state.npz` beside it: the optimiser state (flattened leaves), the global step,
  the phase and step within it, a fingerprint of the settings that shape the run and the
  phases run so far (a resumed config may append phases, e.g. to train longer, but not
  change those already run);
* `<name>.log.jsonl`: one JSON object per logged step (loss, learning rate, gradient norm,
  validation loss).

With `resume=True` (the default) a run whose state file exists continues from it.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import hashlib
import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pandas as pd

from forecast.errors import CheckpointError, InvalidInputError
from forecast.model import build, checkpoint, normalization
from forecast.model import config as model_config_lib
from forecast.model.graphcast import GraphArrays
from forecast.model.graphs import load_or_build_graphs
from forecast.model.rollout import enable_compilation_cache
from forecast.training.batches import ArchiveBatches, Batch, open_archive
from forecast.training.config import Phase, TrainConfig
from forecast.training.loss import make_loss
from forecast.training.optimizer import learning_rate_schedule, make_optimizer

logger = logging.getLogger(__name__)

ProgressFactory = Callable[[int, int, str], object]


@dataclasses.dataclass(frozen=True)
class TrainResult:
    """What a call to `train` did.

    Attributes:
        checkpoint: the checkpoint written.
        global_step: optimiser steps done so far (over all calls).
        completed: whether every phase is done (False: stopped by `max_steps`).
        train_loss: mean training loss over the last logged window.
        validation_loss: the last validation loss (None without validation).
        seconds: wall time of this call.
    """

    checkpoint: Path
    global_step: int
    completed: bool
    train_loss: float | None
    validation_loss: float | None
    seconds: float


@dataclasses.dataclass
class _State:
    params: dict
    opt_state: object | None
    global_step: int = 0
    phase_index: int = 0
    phase_step: int = 0


def _fingerprint(config: TrainConfig, model_config: model_config_lib.ModelConfig) -> str:
    """Hash of the settings a resumed run must share with the run that wrote the state.

    Phases are checked separately (`_phases_started`): a config may append phases to a
    finished run (train longer) but not change the ones already run.
    """
    shape = {
        "model": model_config_lib.to_dict(model_config),
        "task": model_config_lib.to_dict(config.task),
        "seed": config.seed,
        "batch_size": config.batch_size,
    }
    return hashlib.sha256(json.dumps(shape, sort_keys=True).encode()).hexdigest()[:16]


def _phases_started(config: TrainConfig, state: _State) -> str:
    """JSON of the phases run so far (finished ones and the one in progress)."""
    count = state.phase_index + (1 if state.phase_step > 0 else 0)
    return json.dumps([dataclasses.asdict(p) for p in config.phases[:count]])


def _check_grid(resolution: float, lat: np.ndarray, lon: np.ndarray) -> None:
    """A checkpoint with resolution > 0 only runs on grids of that spacing (see Rollout)."""
    if resolution <= 0:
        return
    for name, axis in (("lat", lat), ("lon", lon)):
        spacing = np.abs(np.diff(axis.astype(np.float64)))
        if spacing.size and not np.allclose(spacing, resolution, atol=1e-3):
            raise InvalidInputError(
                f"archive {name} spacing {spacing[0]:g}° differs from the model resolution "
                f"{resolution:g}°"
            )


def _save(
    config: TrainConfig,
    model_config: model_config_lib.ModelConfig,
    task_config: model_config_lib.TaskConfig,
    state: _State,
    fingerprint: str,
) -> None:
    params = jax.tree_util.tree_map(lambda x: np.asarray(x, np.float32), state.params)
    checkpoint.save(
        config.checkpoint,
        checkpoint.CheckPoint(
            params=params,
            model_config=model_config,
            task_config=task_config,
            description=config.description,
            license=config.license,
        ),
    )
    leaves = jax.tree_util.tree_leaves(state.opt_state) if state.opt_state is not None else []
    arrays = {f"opt_state:{i}": np.asarray(leaf) for i, leaf in enumerate(leaves)}
    arrays |= {
        "global_step": np.int64(state.global_step),
        "phase_index": np.int64(state.phase_index),
        "phase_step": np.int64(state.phase_step),
        "fingerprint": np.str_(fingerprint),
        "phases": np.str_(_phases_started(config, state)),
        "checkpoint_sha256": np.str_(checkpoint.file_sha256(config.checkpoint)),
    }
    tmp = config.state_path.with_name(f".{config.state_path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as handle:
            np.savez(handle, **arrays)
        os.replace(tmp, config.state_path)
    finally:
        tmp.unlink(missing_ok=True)


def _load_state(config: TrainConfig, fingerprint: str) -> tuple[_State, list[np.ndarray]]:
    """The saved params (from the checkpoint), step counters and optimiser leaves.

    Raises:
        CheckpointError: the state belongs to another configuration or checkpoint.
    """
    with np.load(config.state_path, allow_pickle=False) as saved:
        if str(saved["fingerprint"]) != fingerprint:
            raise CheckpointError(
                f"{config.state_path} was written by a run with other settings "
                "(model, task, seed or batch size); remove it or train with --no-resume"
            )
        done = json.loads(str(saved["phases"]))
        if done != [dataclasses.asdict(p) for p in config.phases[: len(done)]]:
            raise CheckpointError(
                f"{config.state_path} was written by a run with other phases {done}; only "
                "appending phases is allowed: remove it or train with --no-resume"
            )
        if str(saved["checkpoint_sha256"]) != checkpoint.file_sha256(config.checkpoint):
            raise CheckpointError(
                f"{config.checkpoint} changed since {config.state_path} was written; "
                "remove the state file or train with --no-resume"
            )
        count = sum(1 for key in saved.files if key.startswith("opt_state:"))
        leaves = [saved[f"opt_state:{i}"] for i in range(count)]
        state = _State(
            params=checkpoint.load(config.checkpoint).params,
            opt_state=None,
            global_step=int(saved["global_step"]),
            phase_index=int(saved["phase_index"]),
            phase_step=int(saved["phase_step"]),
        )
    return state, leaves


class _Log:
    """Appends JSON lines to the training log."""

    def __init__(self, path: Path, fresh: bool) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        if fresh:
            path.unlink(missing_ok=True)
        self._path = path

    def write(self, **record: object) -> None:
        with open(self._path, "a") as handle:
            handle.write(json.dumps(record) + "\n")


def _device_batch(batch: Batch) -> tuple[dict, dict, dict]:
    return jax.device_put((batch.inputs, batch.targets, batch.forcings))


def train(
    config: TrainConfig,
    *,
    resume: bool = True,
    max_steps: int | None = None,
    progress: ProgressFactory | None = None,
    graphs_cache_dir: str | Path | None = None,
) -> TrainResult:
    """Runs (or resumes) the training described by `config`.

    Args:
        config: the training configuration.
        resume: continue from `config.state_path` when it exists (else start over).
        max_steps: stop after this many steps in this call (the state is saved: run again
            to continue).
        progress: `progress(total, initial, description)` returning a tqdm-like object with
            `update(n)`, `set_postfix(**kw)` and `close()`; None disables progress bars.
        graphs_cache_dir: where built graphs are cached (None: rebuilt each run).

    Returns:
        A `TrainResult`.

    Raises:
        InvalidInputError / CheckpointError: unreadable archive, stats or checkpoints, a grid
            that does not match the model, or a state file from another configuration.
    """
    started = time.perf_counter()
    enable_compilation_cache()
    archive = open_archive(config.archive)
    if config.init_checkpoint is not None:
        initial = checkpoint.load(config.init_checkpoint)
        model_config, task_config = initial.model_config, initial.task_config
        if config.task != task_config:
            logger.warning("fine-tuning keeps the task of %s", config.init_checkpoint)
    else:
        initial = None
        model_config, task_config = config.model, config.task
    config = dataclasses.replace(config, task=task_config)
    stats = normalization.load_stats(config.stats_dir, task_config.pressure_levels)
    lat = np.asarray(archive["lat"].values)
    lon = np.asarray(archive["lon"].values)
    _check_grid(model_config.resolution, lat, lon)
    graphs = jax.device_put(
        GraphArrays.from_graphs(
            load_or_build_graphs(
                lat,
                lon,
                mesh_size=model_config.mesh_size,
                radius_query_fraction_edge_length=model_config.radius_query_fraction_edge_length,
                mesh2grid_edge_normalization_factor=model_config.mesh2grid_edge_normalization_factor,
                cache_dir=graphs_cache_dir,
            )
        )
    )
    fingerprint = _fingerprint(config, model_config)
    loss_fn = make_loss(model_config, task_config, stats, lat, bfloat16=config.bfloat16)

    saved_leaves: list[np.ndarray] | None = None
    resumed = resume and config.state_path.exists() and config.checkpoint.exists()
    if resumed:
        state, saved_leaves = _load_state(config, fingerprint)
        logger.info("resuming at step %d (phase %d)", state.global_step, state.phase_index)
    else:
        params = initial.params if initial is not None else None
        state = _State(params=params, opt_state=None)
    log = _Log(config.log_path, fresh=not resumed)

    steps_left = max_steps if max_steps is not None else config.total_steps
    recent: list[float] = []
    validation_loss: float | None = None
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    try:
        while state.phase_index < len(config.phases) and steps_left > 0:
            phase = config.phases[state.phase_index]
            batches = ArchiveBatches(
                archive,
                task_config,
                rollout_steps=phase.rollout_steps,
                start=config.train_start,
                end=config.train_end,
            )
            validation = _validation_set(config, archive, task_config, phase)
            if state.params is None:
                first = batches.batch(batches.init_times[:1])
                state.params = build.init_params(
                    model_config,
                    task_config,
                    stats,
                    graphs,
                    first.inputs,
                    {n: v[:, :1] for n, v in first.forcings.items()},
                    seed=config.seed,
                )
            schedule = learning_rate_schedule(
                peak=phase.peak_learning_rate,
                warmup_steps=phase.warmup_steps,
                total_steps=phase.steps,
                end_fraction=phase.end_fraction,
            )
            optimizer = make_optimizer(
                schedule,
                weight_decay=config.weight_decay,
                b1=config.b1,
                b2=config.b2,
                clip_norm=config.clip_norm,
            )
            params = jax.device_put(state.params)
            opt_state = optimizer.init(params)
            if saved_leaves is not None and state.phase_step > 0:
                treedef = jax.tree_util.tree_structure(opt_state)
                opt_state = jax.tree_util.tree_unflatten(treedef, saved_leaves)
            saved_leaves = None
            step_fn = _make_step(loss_fn, optimizer)
            eval_fn = jax.jit(loss_fn)

            def draw(step: int, batches: ArchiveBatches = batches) -> Batch:
                return batches.sample(np.random.default_rng([config.seed, step]), config.batch_size)

            bar = None
            if progress is not None:
                bar = progress(phase.steps, state.phase_step, f"phase {state.phase_index + 1}")
            future = pool.submit(draw, state.global_step)
            while state.phase_step < phase.steps and steps_left > 0:
                batch = future.result()
                if state.phase_step + 1 < phase.steps and steps_left > 1:
                    future = pool.submit(draw, state.global_step + 1)
                inputs, targets, forcings = _device_batch(batch)
                params, opt_state, loss, grad_norm = step_fn(
                    params, opt_state, graphs, inputs, targets, forcings
                )
                loss = float(loss)
                if not np.isfinite(loss):
                    raise InvalidInputError(
                        f"training diverged at step {state.global_step}: loss {loss} "
                        f"(init times {[str(t) for t in batch.init_times]})"
                    )
                state.global_step += 1
                state.phase_step += 1
                steps_left -= 1
                recent = (recent + [loss])[-50:]
                record = {
                    "step": state.global_step,
                    "phase": state.phase_index + 1,
                    "rollout_steps": phase.rollout_steps,
                    "loss": loss,
                    "grad_norm": float(grad_norm),
                    "learning_rate": float(schedule(state.phase_step - 1)),
                }
                phase_done = state.phase_step == phase.steps
                if validation and (state.global_step % config.validation_every == 0 or phase_done):
                    validation_loss = _validate(eval_fn, params, graphs, validation)
                    record["validation_loss"] = validation_loss
                log.write(**record)
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{np.mean(recent):.4f}", val=validation_loss)
                if (
                    state.global_step % config.checkpoint_every == 0
                    or phase_done
                    or steps_left == 0
                ):
                    state.params, state.opt_state = params, opt_state
                    _save(config, model_config, task_config, state, fingerprint)
            if bar is not None:
                bar.close()
            state.params, state.opt_state = params, opt_state
            if state.phase_step == phase.steps:
                state.phase_index += 1
                state.phase_step = 0
                state.opt_state = None
                _save(config, model_config, task_config, state, fingerprint)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    if not config.checkpoint.exists():
        _save(config, model_config, task_config, state, fingerprint)
    return TrainResult(
        checkpoint=config.checkpoint,
        global_step=state.global_step,
        completed=state.phase_index >= len(config.phases),
        train_loss=float(np.mean(recent)) if recent else None,
        validation_loss=validation_loss,
        seconds=time.perf_counter() - started,
    )


def _make_step(loss_fn, optimizer: optax.GradientTransformation):
    """The jitted update: loss and gradient through the rollout, clipped AdamW step."""

    def step(params, opt_state, graphs, inputs, targets, forcings):
        loss, grads = jax.value_and_grad(loss_fn)(params, graphs, inputs, targets, forcings)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss, optax.tree.norm(grads)

    return jax.jit(step, donate_argnums=(0, 1))


def _validation_set(config: TrainConfig, archive, task_config, phase: Phase) -> list[Batch]:
    """Fixed held-out batches (one example each) at evenly spaced validation init times."""
    if config.validation_start is None and config.validation_end is None:
        return []
    batches = ArchiveBatches(
        archive,
        task_config,
        rollout_steps=phase.rollout_steps,
        start=config.validation_start,
        end=config.validation_end,
    )
    return [batches.batch([t]) for t in batches.evenly_spaced(config.validation_examples)]


def _validate(eval_fn, params, graphs, validation: list[Batch]) -> float:
    losses = [eval_fn(params, graphs, *_device_batch(b)) for b in validation]
    return float(jnp.mean(jnp.stack(losses)))


def evaluation_loss(
    checkpoint_path: str | Path,
    stats_dir: str | Path,
    archive_path: str | Path,
    init_times: list[pd.Timestamp],
    *,
    rollout_steps: int = 1,
) -> float:
    """Mean training loss of a checkpoint on the windows at `init_times` (for comparisons).

    Raises:
        InvalidInputError / CheckpointError: as `train`.
    """
    ckpt = checkpoint.load(checkpoint_path)
    archive = open_archive(archive_path)
    stats = normalization.load_stats(stats_dir, ckpt.task_config.pressure_levels)
    lat = np.asarray(archive["lat"].values)
    lon = np.asarray(archive["lon"].values)
    config = ckpt.model_config
    graphs = jax.device_put(
        GraphArrays.from_graphs(
            load_or_build_graphs(
                lat,
                lon,
                mesh_size=config.mesh_size,
                radius_query_fraction_edge_length=config.radius_query_fraction_edge_length,
                mesh2grid_edge_normalization_factor=config.mesh2grid_edge_normalization_factor,
            )
        )
    )
    batches = ArchiveBatches(archive, ckpt.task_config, rollout_steps=rollout_steps)
    eval_fn = jax.jit(make_loss(config, ckpt.task_config, stats, lat))
    params = jax.device_put(ckpt.params)
    return _validate(eval_fn, params, graphs, [batches.batch([t]) for t in init_times])
