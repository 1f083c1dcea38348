"""pytest fixtures around the local CDS, shared by the data, devtools and command tests."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator

import pytest

from devtools.local_cds import Faults, LocalCds
from forecast.data.cds import CdsClient, RetryPolicy

# The server's data end here (as if "now" were five days later): tests are deterministic.
AVAILABLE_UNTIL = dt.datetime(2026, 11, 16, 12)
# Fast retries and polls: the server is local.
FAST = RetryPolicy(tries=4, sleep_min=0.01, sleep_max=0.05, poll_min=0.02, timeout=20.0)


@pytest.fixture(scope="session")
def local_cds_server() -> Iterator[LocalCds]:
    server = LocalCds(available_until=AVAILABLE_UNTIL).start()
    yield server
    server.stop()


@pytest.fixture
def local_cds(local_cds_server: LocalCds) -> Iterator[LocalCds]:
    """The running local CDS with well-behaved defaults and zeroed request counts."""
    local_cds_server.faults = Faults()
    local_cds_server.available_until = AVAILABLE_UNTIL
    local_cds_server.reset_counts()
    yield local_cds_server
    local_cds_server.faults = Faults()
    local_cds_server.available_until = AVAILABLE_UNTIL


@pytest.fixture
def make_client(local_cds: LocalCds) -> Callable[..., CdsClient]:
    """Factory of real CDS clients pointed at the local CDS."""

    def make(key: str | None = None, retry: RetryPolicy = FAST, **kwargs) -> CdsClient:
        return CdsClient(local_cds.url, key or local_cds.key, retry=retry, **kwargs)

    return make
