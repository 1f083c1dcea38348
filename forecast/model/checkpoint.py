"""Load and save GraphCast checkpoints in DeepMind's official `.npz` layout (SPEC §1).

The file is an uncompressed `numpy.savez` archive of 0-d and weight arrays; keys are the
flattened `CheckPoint` dataclass joined with ":" (`params:<module path>:<name>`,
`model_config:<field>`, `task_config:<field>:<i>`, `description`, `license`). No pickles are
needed, so loading uses `allow_pickle=False`. `save` writes the same layout, so checkpoints we
train load in the reference code and vice versa.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from forecast.errors import CheckpointError, InvalidInputError
from forecast.model import config as config_lib

Params = dict[str, dict[str, np.ndarray]]


@dataclasses.dataclass(frozen=True)
class CheckPoint:
    """A GraphCast checkpoint: weights, both configs, description and licence.

    Attributes:
      params: haiku parameters `{module path: {param name: float32 array}}`.
      model_config: the network's shape.
      task_config: its variables, levels and input window.
      description: free text from the author.
      license: licence of the weights.
    """

    params: Params
    model_config: config_lib.ModelConfig
    task_config: config_lib.TaskConfig
    description: str
    license: str

    def num_parameters(self) -> int:
        """Total number of weights."""
        return int(sum(a.size for module in self.params.values() for a in module.values()))


def load(path: str | Path) -> CheckPoint:
    """Reads a checkpoint written by DeepMind's `checkpoint.dump` or by `save`.

    Raises:
      CheckpointError: the file is missing, not an npz archive, truncated, needs pickles, or
        lacks a required field (the message names it).
    """
    path = Path(path)
    tree = _read_tree(path)
    for field in ("params", "model_config", "task_config", "description", "license"):
        if field not in tree:
            raise CheckpointError(f"{path.name}: checkpoint has no {field!r} entries")
    params: Params = {}
    for module, leaves in tree["params"].items():
        if not isinstance(leaves, dict):
            raise CheckpointError(f"{path.name}: malformed parameter key 'params:{module}'")
        params[module] = {}
        for name, value in leaves.items():
            if isinstance(value, dict):
                raise CheckpointError(f"{path.name}: malformed parameter key under {module!r}")
            params[module][name] = value
    try:
        model_config = config_lib.model_config_from_dict(
            {key: _scalar(value) for key, value in tree["model_config"].items()}
        )
        task_config = config_lib.task_config_from_dict(
            {
                key: [_scalar(v) for v in _tuple_items(value)]
                if isinstance(value, dict)
                else _scalar(value)
                for key, value in tree["task_config"].items()
            }
        )
    except InvalidInputError as exc:
        raise CheckpointError(f"{path.name}: {exc}") from exc
    return CheckPoint(
        params=params,
        model_config=model_config,
        task_config=task_config,
        description=str(_scalar(tree["description"])),
        license=str(_scalar(tree["license"])),
    )


def save(path: str | Path, checkpoint: CheckPoint) -> None:
    """Writes `checkpoint` in the official layout, atomically (temp file, then rename)."""
    arrays: dict[str, np.ndarray] = {}
    for module, leaves in checkpoint.params.items():
        for name, value in leaves.items():
            _check_key_part(module)
            arrays[f"params:{module}:{name}"] = np.asarray(value)
    for prefix, cfg in (
        ("model_config", checkpoint.model_config),
        ("task_config", checkpoint.task_config),
    ):
        for field in dataclasses.fields(cfg):
            value = getattr(cfg, field.name)
            if value is None:
                continue  # the reference omits None-valued fields
            if isinstance(value, tuple):
                for i, item in enumerate(value):
                    arrays[f"{prefix}:{field.name}:{i}"] = _to_0d(item)
            else:
                arrays[f"{prefix}:{field.name}"] = _to_0d(value)
    arrays["description"] = _to_0d(checkpoint.description)
    arrays["license"] = _to_0d(checkpoint.license)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as handle:
            np.savez(handle, **arrays)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of a file's bytes: the checkpoint's identity on forecasts."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_tree(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise CheckpointError(f"checkpoint file not found: {path}")
    tree: dict[str, Any] = {}
    try:
        archive = np.load(path, allow_pickle=False)
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise CheckpointError(f"{path.name}: not an .npz archive (a single .npy array)")
        with archive:
            for key in archive.files:
                node = tree
                parts = key.split(":")
                for part in parts[:-1]:
                    node = node.setdefault(part, {})
                    if not isinstance(node, dict):
                        raise CheckpointError(f"{path.name}: conflicting keys at {key!r}")
                node[parts[-1]] = archive[key]
    except CheckpointError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError) as exc:
        raise CheckpointError(f"{path.name}: not a readable .npz checkpoint ({exc})") from exc
    return tree


def _tuple_items(node: dict[str, Any]) -> list[Any]:
    try:
        keys = sorted(node, key=int)  # "10" after "9"
    except ValueError as exc:
        raise InvalidInputError(f"non-numeric tuple index in {sorted(node)}") from exc
    return [node[k] for k in keys]


def _scalar(value: Any) -> Any:
    if isinstance(value, dict):
        raise InvalidInputError(f"expected a single value, got entries {sorted(value)}")
    array = np.asarray(value)
    if array.ndim != 0:
        raise InvalidInputError(f"expected a 0-d value, got shape {array.shape}")
    return array.item()


def _to_0d(value: Any) -> np.ndarray:
    if isinstance(value, bool):
        raise InvalidInputError("booleans are not part of the checkpoint layout")
    if isinstance(value, str):
        return np.array(value)
    if isinstance(value, int | np.integer):
        return np.array(value, dtype=np.int64)
    if isinstance(value, float | np.floating):
        return np.array(value, dtype=np.float64)
    raise InvalidInputError(f"cannot store {type(value).__name__} in a checkpoint")


def _check_key_part(part: str) -> None:
    if ":" in part:
        raise InvalidInputError(f"checkpoint keys may not contain ':' ({part!r})")
