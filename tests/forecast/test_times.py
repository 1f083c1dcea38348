"""forecast.times: one normalisation of times to naive UTC."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from forecast.errors import InvalidInputError
from forecast.times import STEP, format_utc, lead_hours, to_aware_utc, to_utc


@pytest.mark.parametrize(
    "value",
    [
        "2026-11-20T06:00",
        "2026-11-20T06:00Z",
        "2026-11-20T07:00+01:00",
        dt.datetime(2026, 11, 20, 6),
        dt.datetime(2026, 11, 20, 6, tzinfo=dt.UTC),
        np.datetime64("2026-11-20T06:00"),
    ],
)
def test_to_utc_gives_naive_utc(value):
    assert to_utc(value) == dt.datetime(2026, 11, 20, 6)


def test_to_utc_rejects_off_hour_and_garbage():
    with pytest.raises(InvalidInputError, match="on the hour"):
        to_utc("2026-11-20T06:30")
    with pytest.raises(InvalidInputError, match="ISO 8601"):
        to_utc("yesterday")


def test_helpers():
    assert STEP.total_seconds() == 6 * 3600
    assert lead_hours(40) == 240
    assert to_aware_utc("2026-11-20T00:00").tzinfo is dt.UTC
    assert format_utc(dt.datetime(2026, 11, 20, 6)) == "2026-11-20 06:00 UTC"
