"""Guardrails: every kind of bad input is refused with a message naming it."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import numpy as np
import pytest

from forecast.data.guardrails import check_inputs, check_task_inputs, find_problems
from forecast.data.layout import to_example_batch
from forecast.data.synthetic import synthetic_era5
from forecast.errors import InvalidInputError
from forecast.model.config import TASK_13
from forecast.variables import PRESSURE_LEVELS_13

FRAMES = [dt.datetime(2026, 11, 15, 18), dt.datetime(2026, 11, 16, 0)]
GRID = 10.0
EXPECT = dict(
    input_variables=TASK_13.input_variables,
    pressure_levels=TASK_13.pressure_levels,
    grid_deg=GRID,
)


@pytest.fixture(scope="module")
def good():
    return synthetic_era5(FRAMES, grid_deg=GRID, levels=PRESSURE_LEVELS_13)


@pytest.fixture(scope="module")
def world_stats():
    """Per-level mean/stddev of the synthetic world (its own climatology)."""
    times = [dt.datetime(2026, 1, 1) + dt.timedelta(days=30 * k, hours=7 * k) for k in range(8)]
    sample = synthetic_era5(times, grid_deg=GRID, levels=PRESSURE_LEVELS_13)
    reduce = [d for d in ("time", "lat", "lon")]
    return SimpleNamespace(
        mean={n: sample[n].mean([d for d in reduce if d in sample[n].dims]).values for n in sample},
        stddev={
            n: sample[n].std([d for d in reduce if d in sample[n].dims]).values for n in sample
        },
    )


def _messages(ds, **kw):
    return [p.message for p in find_problems(ds, **(EXPECT | kw))]


def test_good_inputs_pass_in_both_layouts(good, world_stats):
    report = check_inputs(good, **EXPECT, stats=world_stats)
    assert report.ok and report.magnitudes_checked
    assert "year_progress_sin" not in report.variables_checked  # derived, not in the file
    assert check_task_inputs(to_example_batch(good), TASK_13, grid_deg=GRID).ok


def test_a_missing_variable_is_named(good):
    with pytest.raises(InvalidInputError, match="missing variable 2m_temperature"):
        check_inputs(good.drop_vars("2m_temperature"), **EXPECT)


def test_wrong_levels_are_named(good):
    fewer = good.sel(level=[500, 850, 1000])
    assert any("missing [50, 100" in m for m in _messages(fewer))
    reordered = good.sel(level=list(PRESSURE_LEVELS_13[::-1]))
    assert any("order [1000" in m for m in _messages(reordered))


def test_a_wrong_grid_or_resolution_is_named(good):
    coarse = synthetic_era5(FRAMES, grid_deg=20.0, levels=PRESSURE_LEVELS_13)
    (message,) = _messages(coarse)
    assert "grid is 10×18" in message and "needs 10° = 19×36" in message
    shifted = good.assign_coords(lon=good["lon"] + 5.0)
    assert any("not the 10° grid" in m for m in _messages(shifted))


def test_nan_is_located(good):
    bad = good.copy(deep=True)
    bad["temperature"][1, 7, 3, 4] = np.nan
    with pytest.raises(InvalidInputError) as caught:
        check_inputs(bad, **EXPECT)
    assert "temperature has 1 NaN/inf value(s), first at time=2026-11-16T00:00, level=500" in str(
        caught.value
    )
    assert [p.kind for p in caught.value.problems] == ["nan"]


def test_temperature_in_celsius_is_an_absurd_magnitude(good, world_stats):
    celsius = good.assign({"2m_temperature": good["2m_temperature"] - 273.15})
    with pytest.raises(InvalidInputError, match=r"2m_temperature: mean .* stddev from"):
        check_inputs(celsius, **EXPECT, stats=world_stats)


def test_geopotential_height_instead_of_geopotential_is_caught_per_level(good, world_stats):
    height = good.assign({"geopotential": good["geopotential"] / 9.80665})
    problems = find_problems(height, **EXPECT, stats=world_stats)
    levels = {p.level for p in problems if p.variable == "geopotential"}
    assert {100, 500, 850} <= levels


def test_declared_units_must_be_era5s(good):
    celsius = good.copy()
    celsius["2m_temperature"] = celsius["2m_temperature"].assign_attrs(units="degC")
    (message,) = _messages(celsius)
    assert message == "2m_temperature is in 'degC'; the model needs 'K'"
    spelled = good.copy()
    spelled["geopotential"] = spelled["geopotential"].assign_attrs(units="m**2 s**-2")
    assert _messages(spelled) == []


def test_one_absurd_value_is_caught(good, world_stats):
    spike = good.copy(deep=True)
    spike["10m_u_component_of_wind"][0, 5, 5] = 1.0e4
    (problem,) = find_problems(spike, **EXPECT, stats=world_stats)
    assert problem.kind == "magnitude" and "value 1e+04" in problem.message


def test_negative_precipitation_is_refused(good, world_stats):
    bad = good.assign({"total_precipitation_6hr": good["total_precipitation_6hr"] - 0.01})
    kinds = {p.kind for p in find_problems(bad, **EXPECT, stats=world_stats)}
    assert "negative" in kinds


def test_descending_latitude_is_refused(good):
    flipped = good.isel(lat=slice(None, None, -1))
    (message,) = _messages(flipped)
    assert "latitude is descending (90 → -90)" in message


def test_frames_must_be_two_and_six_hours_apart(good):
    assert any("1 input frame(s)" in m for m in _messages(good.isel(time=[1])))
    spread = good.assign_coords(time=good["time"].values + np.array([0, 6], "timedelta64[h]"))
    assert any("not 6 h apart" in m for m in _messages(spread))


def test_all_problems_are_listed_together(good):
    bad = good.drop_vars("land_sea_mask").isel(lat=slice(None, None, -1))
    bad = bad.copy(deep=True)
    bad["2m_temperature"][0, 0, 0] = np.inf
    kinds = [p.kind for p in find_problems(bad, **EXPECT)]
    assert kinds == ["missing_variable", "latitude_order", "nan"]


def test_official_stats_reject_celsius(good, shared_dir):
    stats_dir = shared_dir / "data" / "graphcast-stats-official"
    celsius = good.assign({"2m_temperature": good["2m_temperature"] - 273.15})
    problems = find_problems(celsius, **EXPECT, stats=stats_dir)
    (t2m,) = [p for p in problems if p.variable == "2m_temperature"]
    assert "-13" in t2m.message or "-12" in t2m.message  # ≈ −273 K / 21 K
