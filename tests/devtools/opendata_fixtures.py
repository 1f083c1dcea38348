"""pytest fixtures around the local open-data server, shared by the data, command and flow tests."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator

import pytest

from devtools.local_opendata import Faults, LocalOpenData
from forecast.data.cds import RetryPolicy
from forecast.data.opendata import OpenDataClient

# The server's clock: with the 7 h publication delay the newest published cycle is 06 UTC.
NOW = dt.datetime(2026, 11, 30, 15)
NEWEST = dt.datetime(2026, 11, 30, 6)
# The published grid: coarse for speed (the real files are 0.25°; the layout is the same).
GRID_DEG = 2.0
FAST = RetryPolicy(tries=3, sleep_min=0.01, sleep_max=0.05, timeout=20.0)


@pytest.fixture(scope="session")
def local_opendata_server() -> Iterator[LocalOpenData]:
    server = LocalOpenData(grid_deg=GRID_DEG, now=NOW).start()
    yield server
    server.stop()


@pytest.fixture
def local_opendata(local_opendata_server: LocalOpenData) -> Iterator[LocalOpenData]:
    """The running server with well-behaved defaults and zeroed counts."""
    server = local_opendata_server
    server.faults, server.now, server.statics = Faults(), NOW, True
    server.pressure_geopotential = "gh"
    server.reset_counts()
    yield server
    server.faults, server.now, server.statics = Faults(), NOW, True
    server.pressure_geopotential = "gh"


@pytest.fixture
def opendata_client(local_opendata: LocalOpenData) -> Callable[..., OpenDataClient]:
    """Factory of real open-data clients pointed at the local server."""

    def make(retry: RetryPolicy = FAST) -> OpenDataClient:
        return OpenDataClient(local_opendata.url, retry=retry)

    return make
