"""Era5Request: normalisation, stable cache keys, the CDS body; the request planner."""

from __future__ import annotations

import datetime as dt

import pytest

from forecast.data import lexicon
from forecast.data.requests import (
    TRUTH_VARIABLES,
    Era5Request,
    input_frame_times,
    plan_frames,
    plan_inputs,
    plan_statics,
    precipitation_hours,
)
from forecast.errors import InvalidInputError

PL, SL = lexicon.PRESSURE_LEVELS_DATASET, lexicon.SINGLE_LEVELS_DATASET


def test_equal_requests_have_equal_keys_whatever_the_order():
    a = Era5Request(
        PL, ("temperature", "geopotential"), (850, 500), "2026-11-16", ("06:00", "00:00")
    )
    b = Era5Request(
        PL, ("geopotential", "temperature"), (500, 850), "2026-11-16", ("00:00", "06:00")
    )
    assert a == b and a.cache_key == b.cache_key
    assert a.cache_key.startswith("pl-2026-11-16-")
    c = Era5Request(PL, ("temperature", "geopotential"), (500, 850), "2026-11-16", ("00:00",))
    assert c.cache_key != a.cache_key
    assert Era5Request.from_dict(a.to_dict()) == a


def test_the_cds_body_has_the_current_cds_fields():
    body = Era5Request(
        PL, ("temperature",), (500,), "2026-11-06", ("00:00",), 0.25, area=(60, -10, 30, 40)
    ).to_cds()
    assert body == {
        "product_type": ["reanalysis"],
        "variable": ["temperature"],
        "year": ["2026"],
        "month": ["11"],
        "day": ["06"],
        "time": ["00:00"],
        "pressure_level": ["500"],
        "data_format": "netcdf",
        "download_format": "unarchived",
        "grid": ["0.25", "0.25"],
        "area": ["60", "-10", "30", "40"],
    }


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(dataset="reanalysis-era5-land"), "unknown ERA5 dataset"),
        (dict(variables=("2m_temperature",)), "unknown variable '2m_temperature'"),
        (dict(levels=()), "needs pressure levels"),
        (dict(date="2026-13-01"), "bad date"),
        (dict(grid=0.0), "grid spacing"),
        (dict(data_format="csv"), "data_format"),
    ],
)
def test_bad_requests_are_refused(kwargs, message):
    base = dict(
        dataset=PL, variables=("temperature",), levels=(500,), date="2026-11-16", times=("00:00",)
    )
    with pytest.raises(InvalidInputError, match=message):
        Era5Request(**(base | kwargs))


def test_inputs_of_a_00_utc_init_split_per_dataset_and_day_each_field_once():
    init = dt.datetime(2026, 11, 16, 0)
    assert input_frame_times(init) == (dt.datetime(2026, 11, 15, 18), init)
    requests = plan_inputs(init, levels=(500, 850), grid_deg=1.0)
    summary = [(r.dataset, r.date, r.times, r.variables) for r in requests]
    surface = (
        "10m_u_component_of_wind",
        "10m_v_component_of_wind",
        "2m_temperature",
        "mean_sea_level_pressure",
        "toa_incident_solar_radiation",
    )
    assert summary[:2] == [
        (PL, "2026-11-15", ("18:00",), requests[0].variables),
        (PL, "2026-11-16", ("00:00",), requests[0].variables),
    ]
    assert len(requests[0].variables) == 6 and requests[0].levels == (500, 850)
    assert summary[2:6] == [
        (SL, "2026-11-15", ("18:00",), surface),
        (SL, "2026-11-16", ("00:00",), surface),
        # The 18 UTC window is 13…18, the 00 UTC one 19…00.
        (SL, "2026-11-15", tuple(f"{h:02d}:00" for h in range(13, 24)), ("total_precipitation",)),
        (SL, "2026-11-16", ("00:00",), ("total_precipitation",)),
    ]
    assert requests[-1] == plan_statics(grid_deg=1.0)
    assert len(requests) == 7


def test_a_12_utc_init_needs_one_request_per_dataset_and_kind():
    requests = plan_inputs(dt.datetime(2026, 11, 16, 12), levels=(500,), grid_deg=1.0)
    assert len(requests) == 4
    assert requests[1].times == ("06:00", "12:00")
    assert requests[2].times == tuple(f"{h:02d}:00" for h in range(1, 13))


def test_precipitation_hours_end_at_the_frame():
    assert precipitation_hours(dt.datetime(2026, 11, 16, 0)) == [
        dt.datetime(2026, 11, 15, 19) + dt.timedelta(hours=k) for k in range(6)
    ]


def test_truth_frames_need_no_forcings_or_statics():
    requests = plan_frames(
        [dt.datetime(2026, 11, 16, 6)], levels=(500,), grid_deg=1.0, variables=TRUTH_VARIABLES
    )
    names = {v for r in requests for v in r.variables}
    assert "toa_incident_solar_radiation" not in names and "land_sea_mask" not in names
    with pytest.raises(InvalidInputError, match="plan_statics"):
        plan_frames(
            [dt.datetime(2026, 11, 16)], levels=(), grid_deg=1.0, variables=["land_sea_mask"]
        )


def test_aware_times_are_converted_to_utc():
    aware = dt.datetime(2026, 11, 16, 1, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    assert input_frame_times(aware)[1] == dt.datetime(2026, 11, 16, 0)


def test_lexicon_keeps_the_surface_and_level_geopotential_apart():
    assert lexicon.from_short_name(PL, "z").name == "geopotential"
    assert lexicon.from_short_name(SL, "z").name == "geopotential_at_surface"
    assert lexicon.lookup("total_precipitation").short_name == "tp"
    assert lexicon.source_variable("total_precipitation_6hr") == "total_precipitation"
    with pytest.raises(InvalidInputError, match="no CDS name known"):
        lexicon.lookup("sea_surface_temperature")
