"""Backfill planning: which init times a range holds, and which of them still need a run."""

from __future__ import annotations

import datetime as dt

import pytest

from flows.backfill import init_times
from tests.webapp.runs.factories import make_run
from webapp.runs import selectors, services

UTC = dt.UTC


def test_init_times_every_six_hours_inclusive():
    times = init_times("2026-11-01T00", "2026-11-02T00")
    assert len(times) == 5 and times[0] == dt.datetime(2026, 11, 1, tzinfo=UTC)
    assert times[-1] == dt.datetime(2026, 11, 2, tzinfo=UTC)


def test_init_times_start_rounds_up_to_a_cycle():
    assert init_times("2026-11-01T01", "2026-11-01T12")[0].hour == 6


@pytest.mark.parametrize(
    ("start", "end", "every", "message"),
    [
        ("2026-11-02", "2026-11-01", 6, "before its start"),
        ("2026-11-01", "2026-11-02", 5, "multiple of 6"),
    ],
)
def test_bad_ranges_are_named(start, end, every, message):
    with pytest.raises(ValueError, match=message):
        init_times(start, end, every_hours=every)


@pytest.mark.django_db
def test_failed_cycles_count_as_missing():
    times = init_times("2026-11-01T00", "2026-11-01T12")
    make_run(init_time=times[0])
    failed = make_run(init_time=times[1])
    services.run_mark_failed(run_id=failed.pk, error="boom")
    assert selectors.run_missing_init_times(init_times=times) == times[1:]
