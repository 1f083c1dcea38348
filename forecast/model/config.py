"""Model and task configuration: frozen dataclasses, the official task presets, JSON round-trip.

Field names and order follow DeepMind's `ModelConfig` / `TaskConfig` (SPEC §2) because
checkpoints store them by name.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from forecast import variables
from forecast.errors import InvalidInputError


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Shape of the GraphCast network.

    Attributes:
      resolution: grid spacing in degrees; metadata only (0 means "any grid").
      mesh_size: number of icosahedron refinements; the multimesh uses levels 0…mesh_size.
      latent_size: width L of every latent vector.
      gnn_msg_steps: processor message-passing steps S (unshared weights).
      hidden_layers: hidden layers per MLP (each MLP has hidden_layers + 1 linears).
      radius_query_fraction_edge_length: grid2mesh radius as a fraction of the longest
        finest-level mesh edge.
      mesh2grid_edge_normalization_factor: fixed normaliser of mesh2grid edge features;
        None means "max edge length" (the official 2023 checkpoints).
    """

    resolution: float
    mesh_size: int
    latent_size: int
    gnn_msg_steps: int
    hidden_layers: int
    radius_query_fraction_edge_length: float
    mesh2grid_edge_normalization_factor: float | None = None


@dataclasses.dataclass(frozen=True)
class TaskConfig:
    """What the model reads and predicts.

    Attributes:
      input_variables: variables of the input window (targets, forcings and statics).
      target_variables: variables predicted at each step.
      forcing_variables: variables known at target times (TISR, progress features).
      pressure_levels: hPa, in the order the network stacks them.
      input_duration: length of the input window in pandas-Timedelta syntax ("12h" = 2 frames).
    """

    input_variables: tuple[str, ...]
    target_variables: tuple[str, ...]
    forcing_variables: tuple[str, ...]
    pressure_levels: tuple[int, ...]
    input_duration: str


TASK = TaskConfig(
    input_variables=(
        variables.TARGET_SURFACE_VARS
        + variables.TARGET_ATMOSPHERIC_VARS
        + variables.FORCING_VARS
        + variables.STATIC_VARS
    ),
    target_variables=variables.TARGET_SURFACE_VARS + variables.TARGET_ATMOSPHERIC_VARS,
    forcing_variables=variables.FORCING_VARS,
    pressure_levels=variables.PRESSURE_LEVELS_37,
    input_duration="12h",
)
TASK_13 = dataclasses.replace(TASK, pressure_levels=variables.PRESSURE_LEVELS_13)
# GraphCast_operational: precipitation is predicted but never read (HRES has no analysis of it).
TASK_13_PRECIP_OUT = dataclasses.replace(
    TASK_13,
    input_variables=(
        variables.TARGET_SURFACE_NO_PRECIP_VARS
        + variables.TARGET_ATMOSPHERIC_VARS
        + variables.FORCING_VARS
        + variables.STATIC_VARS
    ),
)

_TUPLE_FIELDS = {
    "input_variables": str,
    "target_variables": str,
    "forcing_variables": str,
    "pressure_levels": int,
}


def to_dict(config: ModelConfig | TaskConfig) -> dict[str, Any]:
    """The config as JSON-ready builtins (tuples become lists)."""
    return {
        key: list(value) if isinstance(value, tuple) else value
        for key, value in dataclasses.asdict(config).items()
    }


def model_config_from_dict(data: dict[str, Any]) -> ModelConfig:
    """Builds a ModelConfig, converting numbers to the field types.

    Raises:
      InvalidInputError: a required field is missing or a value has the wrong type.
    """
    converters = {
        "resolution": float,
        "mesh_size": int,
        "latent_size": int,
        "gnn_msg_steps": int,
        "hidden_layers": int,
        "radius_query_fraction_edge_length": float,
    }
    kwargs: dict[str, Any] = {}
    for name, convert in converters.items():
        if name not in data:
            raise InvalidInputError(f"model_config is missing the field {name!r}")
        kwargs[name] = _convert(convert, data[name], f"model_config.{name}")
    factor = data.get("mesh2grid_edge_normalization_factor")
    if factor is not None:
        factor = _convert(float, factor, "model_config.mesh2grid_edge_normalization_factor")
    return ModelConfig(**kwargs, mesh2grid_edge_normalization_factor=factor)


def task_config_from_dict(data: dict[str, Any]) -> TaskConfig:
    """Builds a TaskConfig from lists/tuples of names and levels.

    Raises:
      InvalidInputError: a field is missing or has the wrong type.
    """
    kwargs: dict[str, Any] = {}
    for name, convert in _TUPLE_FIELDS.items():
        if name not in data:
            raise InvalidInputError(f"task_config is missing the field {name!r}")
        kwargs[name] = tuple(_convert(convert, item, f"task_config.{name}") for item in data[name])
    if "input_duration" not in data:
        raise InvalidInputError("task_config is missing the field 'input_duration'")
    return TaskConfig(**kwargs, input_duration=str(data["input_duration"]))


def to_json(config: ModelConfig | TaskConfig) -> str:
    """JSON text of the config (field order kept)."""
    return json.dumps(to_dict(config))


def model_config_from_json(text: str) -> ModelConfig:
    """Inverse of `to_json` for a ModelConfig."""
    return model_config_from_dict(json.loads(text))


def task_config_from_json(text: str) -> TaskConfig:
    """Inverse of `to_json` for a TaskConfig."""
    return task_config_from_dict(json.loads(text))


def _convert(convert: type, value: Any, where: str) -> Any:
    if convert is str:
        if not isinstance(value, str):
            raise InvalidInputError(f"{where}: expected a string, got {value!r}")
        return value
    try:
        converted = convert(value)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"{where}: expected {convert.__name__}, got {value!r}") from exc
    if convert is int and converted != value:
        raise InvalidInputError(f"{where}: expected an integer, got {value!r}")
    return converted
