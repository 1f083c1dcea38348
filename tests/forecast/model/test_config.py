"""Tests of the model/task configs: presets, channel counts, JSON round-trip, validation."""

from __future__ import annotations

import dataclasses

import pytest

from forecast import variables
from forecast.errors import InvalidInputError
from forecast.model import config
from forecast.model.graphcast import num_output_channels


def _input_width(task: config.TaskConfig) -> int:
    """Grid-node input width: 2 frames of every input + 1 frame of each forcing + 3."""
    levels = len(task.pressure_levels)
    width = 3
    for name in task.input_variables:
        per_frame = levels if variables.is_atmospheric(name) else 1
        width += per_frame if name in variables.STATIC_VARS else 2 * per_frame
    return width + len(task.forcing_variables)


@pytest.mark.parametrize(
    ("task", "width", "outputs"),
    [(config.TASK, 474, 227), (config.TASK_13, 186, 83), (config.TASK_13_PRECIP_OUT, 184, 83)],
)
def test_official_task_sizes(task: config.TaskConfig, width: int, outputs: int) -> None:
    assert _input_width(task) == width
    assert num_output_channels(task) == outputs


def test_precip_out_task_predicts_but_does_not_read_precipitation() -> None:
    task = config.TASK_13_PRECIP_OUT
    assert "total_precipitation_6hr" in task.target_variables
    assert "total_precipitation_6hr" not in task.input_variables
    assert task.pressure_levels == variables.PRESSURE_LEVELS_13


def test_field_order_matches_reference() -> None:
    assert [f.name for f in dataclasses.fields(config.ModelConfig)] == [
        "resolution",
        "mesh_size",
        "latent_size",
        "gnn_msg_steps",
        "hidden_layers",
        "radius_query_fraction_edge_length",
        "mesh2grid_edge_normalization_factor",
    ]
    assert [f.name for f in dataclasses.fields(config.TaskConfig)] == [
        "input_variables",
        "target_variables",
        "forcing_variables",
        "pressure_levels",
        "input_duration",
    ]


def test_json_round_trip() -> None:
    model = config.ModelConfig(1.0, 5, 512, 16, 1, 0.6, mesh2grid_edge_normalization_factor=0.04)
    assert config.model_config_from_json(config.to_json(model)) == model
    for task in (config.TASK, config.TASK_13, config.TASK_13_PRECIP_OUT):
        assert config.task_config_from_json(config.to_json(task)) == task


def test_from_dict_names_the_bad_field() -> None:
    data = config.to_dict(config.ModelConfig(1.0, 5, 512, 16, 1, 0.6))
    del data["latent_size"]
    with pytest.raises(InvalidInputError, match="latent_size"):
        config.model_config_from_dict(data)
    data = config.to_dict(config.ModelConfig(1.0, 5, 512, 16, 1, 0.6))
    data["mesh_size"] = 5.5
    with pytest.raises(InvalidInputError, match="mesh_size"):
        config.model_config_from_dict(data)
    task = config.to_dict(config.TASK_13)
    task["pressure_levels"] = ["fifty"]
    with pytest.raises(InvalidInputError, match="pressure_levels"):
        config.task_config_from_dict(task)
