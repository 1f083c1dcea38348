"""The ERA5 request cache: hits make no request, writes are atomic, concurrent fetches share."""

from __future__ import annotations

import json
import multiprocessing
import threading
import time
from pathlib import Path

import pytest

from forecast.data import lexicon
from forecast.data.cache import Era5Cache
from forecast.data.cds import CdsUnavailableError
from forecast.data.requests import Era5Request

REQUEST = Era5Request(
    lexicon.SINGLE_LEVELS_DATASET,
    ("2m_temperature", "mean_sea_level_pressure"),
    (),
    "2026-11-15",
    ("06:00", "12:00"),
    10.0,
)


@pytest.mark.network
def test_a_cache_hit_makes_no_request(make_client, local_cds, tmp_path):
    cache = Era5Cache(tmp_path)
    first = cache.fetch(REQUEST, make_client().retrieve)
    assert local_cds.counts["submit"] == 1
    local_cds.reset_counts()

    again = cache.fetch(REQUEST, make_client().retrieve)
    assert again == first
    assert local_cds.counts["total"] == 0  # not even the client's start-up call
    assert first.suffix == ".nc" and first.with_suffix(".json").is_file()
    assert Era5Request.from_dict(json.loads(first.with_suffix(".json").read_text())) == REQUEST


@pytest.mark.network
def test_two_concurrent_fetches_download_once(make_client, local_cds, tmp_path):
    local_cds.faults.queue_seconds = 0.3  # both flows ask while the first job is still queued
    cache = Era5Cache(tmp_path)
    results: dict[int, Path] = {}

    def flow(i: int) -> None:
        results[i] = cache.fetch(REQUEST, make_client().retrieve)

    threads = [threading.Thread(target=flow, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results[0] == results[1]
    assert local_cds.counts["submit"] == 1
    assert local_cds.counts["download"] == 1


def _fetch_in_process(root: str, url: str, key: str, queue) -> None:
    from forecast.data.cds import CdsClient
    from tests.devtools.fixtures import FAST

    path = Era5Cache(root).fetch(REQUEST, CdsClient(url, key, retry=FAST).retrieve)
    queue.put(str(path))


@pytest.mark.network
def test_two_processes_download_once(local_cds, tmp_path):
    local_cds.faults.queue_seconds = 2.0  # longer than a process start: both are waiting
    ctx = multiprocessing.get_context("spawn")  # fork would copy the server's threads and locks
    queue = ctx.Queue()
    procs = [
        ctx.Process(
            target=_fetch_in_process, args=(str(tmp_path), local_cds.url, local_cds.key, queue)
        )
        for _ in range(2)
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
    paths = {queue.get(timeout=5) for _ in procs}
    assert len(paths) == 1
    assert local_cds.counts["submit"] == 1


def test_a_failed_download_leaves_no_visible_file(tmp_path):
    cache = Era5Cache(tmp_path)

    def broken(request: Era5Request, part: Path) -> None:
        part.write_bytes(b"\x89HDF half a file")
        raise CdsUnavailableError("connection lost")

    with pytest.raises(CdsUnavailableError):
        cache.fetch(REQUEST, broken)
    assert cache.get(REQUEST) is None
    assert REQUEST not in cache
    parts = list(tmp_path.rglob("*.part"))
    assert len(parts) == 1  # kept for resumption, under a name no reader looks at

    def resume(request: Era5Request, part: Path) -> None:
        assert part == parts[0] and part.read_bytes().startswith(b"\x89HDF")
        part.write_bytes(b"\x89HDF the whole file")

    path = cache.fetch(REQUEST, resume)
    assert path.read_bytes() == b"\x89HDF the whole file"
    assert not parts[0].exists()


def test_the_second_waiter_uses_the_first_result(tmp_path):
    cache = Era5Cache(tmp_path)
    calls = []

    def slow(request: Era5Request, part: Path) -> None:
        calls.append(request)
        time.sleep(0.3)
        part.write_bytes(b"\x89HDF data")

    threads = [threading.Thread(target=cache.fetch, args=(REQUEST, slow)) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1


def test_evict_forgets_a_file(tmp_path):
    cache = Era5Cache(tmp_path)
    cache.fetch(REQUEST, lambda r, part: part.write_bytes(b"PK\x03\x04zip"))
    assert cache.get(REQUEST).suffix == ".zip"  # kept in the format the CDS sent
    cache.evict(REQUEST)
    assert cache.get(REQUEST) is None
