"""Finding the newest init time by probing the CDS, and backfill gaps."""

from __future__ import annotations

import datetime as dt

import pytest

from forecast.data.acquire import acquire_inputs, resolve_init_time
from forecast.data.availability import (
    backfill,
    backfill_gaps,
    floor_to_init_hour,
    init_times,
    latest_init_time,
)
from forecast.data.cache import Era5Cache
from forecast.data.cds import CdsClient, CdsError
from forecast.errors import DataUnavailableError, InvalidInputError
from tests.devtools.fixtures import FAST

NOW = dt.datetime(2026, 11, 21, 6)
GRID = 10.0


@pytest.mark.network
def test_the_newest_init_time_with_all_inputs_is_found(make_client, local_cds, tmp_path):
    assert latest_init_time(make_client(), now=NOW) == dt.datetime(2026, 11, 16, 12)
    local_cds.available_until = dt.datetime(2026, 11, 16, 11)  # 12 UTC not published yet
    assert latest_init_time(make_client(), now=NOW) == dt.datetime(2026, 11, 16, 0)


class _NoCatalogue(CdsClient):
    """A client whose catalogue lookup fails, so probing must start from `now`."""

    def collection_end(self, dataset):
        raise CdsError("catalogue down")


@pytest.mark.network
def test_probing_walks_back_when_the_catalogue_does_not_say(local_cds):
    client = _NoCatalogue(local_cds.url, local_cds.key, retry=FAST)
    assert latest_init_time(client, now=NOW) == dt.datetime(2026, 11, 16, 12)
    # 21T00 … 17T00 fail at their first probe (9 jobs), 16T12 needs all three probes.
    assert local_cds.counts["submit"] == 9 + 3


@pytest.mark.network
def test_successful_probes_are_cached(make_client, local_cds, tmp_path):
    cache = Era5Cache(tmp_path)
    latest_init_time(make_client(), now=NOW, cache=cache)
    local_cds.reset_counts()
    assert latest_init_time(make_client(), now=NOW, cache=cache) == dt.datetime(2026, 11, 16, 12)
    assert local_cds.counts["submit"] == 0


@pytest.mark.network
def test_nothing_available_in_the_lookback_is_transient(make_client, local_cds):
    local_cds.available_until = dt.datetime(2026, 1, 1)
    with pytest.raises(DataUnavailableError, match="no ERA5 init time"):
        latest_init_time(make_client(), now=NOW, lookback=dt.timedelta(days=1))


@pytest.mark.network
def test_resolve_init_time_probes_for_the_cds(make_client):
    assert resolve_init_time("cds", now=NOW, client=make_client()) == dt.datetime(2026, 11, 16, 12)


@pytest.mark.network
def test_backfill_lists_and_fills_gaps(make_client, local_cds, tmp_path):
    cache_dir = tmp_path / "cache"
    start, end = dt.datetime(2026, 11, 15, 0), dt.datetime(2026, 11, 17, 0)
    acquire_inputs(
        dt.datetime(2026, 11, 15, 12),
        levels=(500,),
        grid_deg=GRID,
        cache_dir=cache_dir,
        client=make_client(),
    )
    gaps = backfill_gaps(start, end, cache_dir=cache_dir, levels=(500,), grid_deg=GRID)
    assert gaps == [
        dt.datetime(2026, 11, 15, 0),
        dt.datetime(2026, 11, 16, 0),
        dt.datetime(2026, 11, 16, 12),
        dt.datetime(2026, 11, 17, 0),
    ]
    results = backfill(
        start, end, cache_dir=cache_dir, levels=(500,), grid_deg=GRID, client=make_client()
    )
    assert set(results) == set(gaps)
    assert isinstance(results[dt.datetime(2026, 11, 17, 0)], DataUnavailableError)  # not yet
    assert all(results[t].is_file() for t in gaps[:3])
    assert backfill_gaps(start, end, cache_dir=cache_dir, levels=(500,), grid_deg=GRID) == [
        dt.datetime(2026, 11, 17, 0)
    ]


def test_init_time_arithmetic():
    assert floor_to_init_hour(dt.datetime(2026, 11, 16, 11, 59)) == dt.datetime(2026, 11, 16, 0)
    assert floor_to_init_hour(dt.datetime(2026, 11, 16, 5), (0, 6, 12, 18)).hour == 0
    assert init_times(dt.datetime(2026, 11, 16, 1), dt.datetime(2026, 11, 17, 0)) == [
        dt.datetime(2026, 11, 16, 12),
        dt.datetime(2026, 11, 17, 0),
    ]
    with pytest.raises(InvalidInputError, match="ends .* before it starts"):
        init_times(dt.datetime(2026, 11, 17), dt.datetime(2026, 11, 16))
