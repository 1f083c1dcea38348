"""The frozen run configuration and the one parser of predictor specs."""

from __future__ import annotations

import pytest

from forecast.errors import InvalidInputError
from webapp.runs.config import RunConfig, parse_predictor_spec, time_limits


def test_spec_forms(tmp_path):
    checkpoint = tmp_path / "weights:v2.bin"  # an existing file wins over the factory form
    checkpoint.write_bytes(b"x")
    assert parse_predictor_spec("persistence").kind == "persistence"
    assert parse_predictor_spec("/models/graphcast.npz").kind == "checkpoint"
    assert parse_predictor_spec(str(checkpoint)).target == str(checkpoint)
    factory = parse_predictor_spec("tests.e2e.predictors:failing")
    assert factory.kind == "factory" and factory.factory == ("tests.e2e.predictors", "failing")


@pytest.mark.parametrize("spec", ["", "graphcast", "a b:c", "module:"])
def test_unknown_specs_are_named(spec):
    with pytest.raises(InvalidInputError, match="predictor spec"):
        parse_predictor_spec(spec)


def test_config_round_trips_through_json_and_refuses_unknown_keys():
    config = RunConfig(predictor_spec="persistence", grid_deg=10.0, levels=13, steps=2)
    assert RunConfig.from_json(config.to_json()) == config
    with pytest.raises(InvalidInputError, match="unknown keys"):
        RunConfig.from_json({**config.to_json(), "colour": "blue"})


def test_soft_limit_comes_before_the_hard_one():
    assert time_limits(7200) == (7140, 7200)
    assert time_limits(8) == (7, 8)
    with pytest.raises(InvalidInputError, match="soft time limit"):
        RunConfig(
            predictor_spec="persistence",
            grid_deg=1.0,
            levels=13,
            steps=1,
            rollout_soft_time_limit_s=10,
            rollout_time_limit_s=5,
        )
