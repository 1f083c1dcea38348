"""Time constants and UTC normalisation: the one home of the 6-hour step and of "naive UTC".

Inside the project every datetime is naive UTC (numpy/xarray/ERA5 convention); aware values
are converted at the edges with `to_utc`. Display code says "UTC" next to every time.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from forecast.errors import InvalidInputError

# GraphCast's model step and the spacing of its two input frames (SPEC: 6-hourly data).
STEP_HOURS = 6
STEP = pd.Timedelta(hours=STEP_HOURS)
# The same as a standard-library timedelta, for code that does datetime arithmetic.
STEP_TIMEDELTA = dt.timedelta(hours=STEP_HOURS)
# Nominal analysis/forecast cycles of the operational IFS and of 6-hourly ERA5 inits.
SYNOPTIC_HOURS = (0, 6, 12, 18)


def to_utc(value: dt.datetime | str | np.datetime64 | pd.Timestamp) -> dt.datetime:
    """`value` as a naive UTC datetime on the hour; raises InvalidInputError otherwise.

    Strings are ISO 8601 (`2026-11-20T00:00`, `2026-11-20T00:00Z`, `2026-11-20 06:00+01:00`);
    aware values are converted to UTC, naive ones are taken to be UTC already.
    """
    if isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            value = dt.datetime.fromisoformat(text)
        except ValueError as exc:
            raise InvalidInputError(
                f"not an ISO 8601 time: {value!r} (e.g. 2026-11-20T00:00)"
            ) from exc
    elif not isinstance(value, dt.datetime) or isinstance(value, pd.Timestamp):
        value = pd.Timestamp(value).to_pydatetime()
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    if value.minute or value.second or value.microsecond:
        raise InvalidInputError(f"times must be on the hour, got {value.isoformat()}")
    return value


def to_aware_utc(value: dt.datetime | str | np.datetime64 | pd.Timestamp) -> dt.datetime:
    """`value` as an aware UTC datetime (for the database and the site)."""
    return to_utc(value).replace(tzinfo=dt.UTC)


def lead_hours(step: int) -> int:
    """Hours after the init time of the forecast's `step`-th lead (step 1 = +6 h)."""
    return STEP_HOURS * step


def format_utc(value: dt.datetime) -> str:
    """`2026-11-20 06:00 UTC`: how people read a time (aware values are converted)."""
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC)
    return value.strftime("%Y-%m-%d %H:%M UTC")
