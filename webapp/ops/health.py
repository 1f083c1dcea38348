"""Health of the service's dependencies, for GET /healthz.

Each check is a small function returning a `Check`; `service_health` runs them (the slow network
probes in parallel, each with a short timeout) and says whether all pass. What is checked:

  database   a `SELECT 1` on the default connection
  redis      PING to the Celery broker
  workers    at least one live Celery worker consuming each queue of GCF_HEALTH_QUEUES
             (a remote-control broadcast answered within GCF_HEALTH_TIMEOUT_S)
  prefect    GET <PREFECT_API_URL>/health when PREFECT_API_URL is set. Unset means each flow
             process starts its own ephemeral API (demo, tests): no shared server exists, so
             the check passes and says "not configured".
  disk       free space of each store (media, runs, cache) against GCF_HEALTH_MIN_FREE_GB

Answers name the failing part, never a secret (URLs with credentials are not shown).
"""

from __future__ import annotations

import dataclasses
import shutil
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from django.conf import settings
from django.db import connection

_GB = 1024**3


@dataclasses.dataclass(frozen=True)
class Check:
    """One health check's outcome: `ok`, a short human detail, how long it took."""

    name: str
    ok: bool
    detail: str
    ms: float = 0.0
    data: dict = dataclasses.field(default_factory=dict)

    def as_json(self) -> dict:
        return {"ok": self.ok, "detail": self.detail, "ms": round(self.ms, 1), **self.data}


def _timed(name: str, probe: Callable[[], tuple[bool, str, dict]]) -> Check:
    started = time.perf_counter()
    try:
        ok, detail, data = probe()
    except Exception as exc:  # a probe's failure is the answer, not an error of /healthz
        ok, detail, data = False, f"{type(exc).__name__}: {exc}", {}
    return Check(name, ok, detail, (time.perf_counter() - started) * 1000, data)


def check_database() -> Check:
    """The default database answers a trivial query."""

    def probe():
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return True, f"{connection.vendor} answers", {}

    return _timed("database", probe)


def _redis_client(timeout: float):
    import redis

    return redis.Redis.from_url(
        settings.CELERY_BROKER_URL, socket_timeout=timeout, socket_connect_timeout=timeout
    )


def check_redis(timeout: float) -> Check:
    """The Celery broker answers PING."""

    def probe():
        _redis_client(timeout).ping()
        return True, "broker answers PING", {}

    return _timed("redis", probe)


def live_queues(timeout: float) -> dict[str, list[str]]:
    """Worker names by queue, from the workers that answer a broadcast within `timeout` s."""
    from celery import Celery

    # A client app of its own, on the broker configured now: the service's app caches its
    # producer pool for the first broker URL it used, for good (kombu keeps the pools, keyed by
    # connection, so this costs one pooled connection, reused by every probe).
    probe = Celery("gcf-health", broker=settings.CELERY_BROKER_URL, set_as_current=False)
    probe.conf.update(
        accept_content=["json"],
        task_serializer="json",
        broker_connection_timeout=timeout,
        broker_connection_max_retries=1,
    )
    try:
        replies = probe.control.inspect(timeout=timeout).active_queues() or {}
    finally:
        probe.close()
    by_queue: dict[str, list[str]] = {}
    for worker, queues in replies.items():
        for queue in queues or []:
            by_queue.setdefault(queue["name"], []).append(worker)
    return by_queue


def check_workers(timeout: float, queues: list[str], broker: Check) -> list[Check]:
    """One check per required queue: at least one worker consumes it."""
    if not broker.ok:
        # No broker, no broadcast: say so rather than wait for a reply that cannot come.
        return [Check(f"workers.{q}", False, "broker unreachable") for q in queues]
    started = time.perf_counter()
    try:
        by_queue = live_queues(timeout)
    except Exception as exc:
        return [Check(f"workers.{q}", False, f"{type(exc).__name__}: {exc}") for q in queues]
    ms = (time.perf_counter() - started) * 1000
    checks = []
    for queue in queues:
        workers = sorted(by_queue.get(queue, []))
        detail = f"{len(workers)} worker(s)" if workers else f"no worker consumes queue {queue!r}"
        checks.append(Check(f"workers.{queue}", bool(workers), detail, ms, {"workers": workers}))
    return checks


def check_prefect(timeout: float) -> Check:
    """The shared Prefect API answers /health (passes, "not configured", without one)."""
    url = settings.PREFECT_API_URL.rstrip("/")

    if not url:
        return Check(
            "prefect", True, "not configured: flows start their own ephemeral API",
            data={"configured": False},
        )  # fmt: skip

    def probe():
        with urllib.request.urlopen(f"{url}/health", timeout=timeout) as response:
            return response.status == 200, f"API answers {response.status}", {}

    check = _timed("prefect", probe)
    return dataclasses.replace(check, data={**check.data, "configured": True})


def stores() -> dict[str, Path]:
    """The service's file stores by name (docs/design.md "Files on disk")."""
    return {
        "media": Path(settings.MEDIA_ROOT),
        "runs": Path(settings.GCF_RUNS_DIR),
        "cache": Path(settings.GCF_CACHE_DIR),
    }


def _existing(path: Path) -> Path:
    """`path`, or its nearest existing parent (a store not created yet lives on that disk)."""
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_disk(name: str, path: Path, min_free_gb: float) -> Check:
    """The store has at least `min_free_gb` GiB free."""

    def probe():
        usage = shutil.disk_usage(_existing(path))
        free_gb = usage.free / _GB
        data = {
            "free_gb": round(free_gb, 2),
            "total_gb": round(usage.total / _GB, 2),
            "min_free_gb": min_free_gb,
        }
        if free_gb < min_free_gb:
            return False, f"store {name!r}: {free_gb:.2f} GiB free < {min_free_gb:g} GiB", data
        return True, f"{free_gb:.1f} GiB free", data

    return _timed(f"disk.{name}", probe)


@dataclasses.dataclass(frozen=True)
class Health:
    """All checks; healthy when every one passes."""

    checks: list[Check]

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    @property
    def failing(self) -> list[str]:
        return [check.name for check in self.checks if not check.ok]

    def as_json(self) -> dict:
        return {
            "status": "ok" if self.ok else "fail",
            "failing": self.failing,
            "checks": {check.name: check.as_json() for check in self.checks},
        }


def service_health() -> Health:
    """Runs every check; the network probes run in parallel, so the answer costs about one
    timeout at worst (plus the worker broadcast, which always waits its timeout)."""
    timeout = float(settings.GCF_HEALTH_TIMEOUT_S)
    with ThreadPoolExecutor(max_workers=2) as pool:
        prefect = pool.submit(check_prefect, timeout)
        broker = check_redis(timeout)
        workers = pool.submit(check_workers, timeout, list(settings.GCF_HEALTH_QUEUES), broker)
        # The ORM's connection belongs to this thread: check it here.
        database = check_database()
        disks = [
            check_disk(name, path, float(settings.GCF_HEALTH_MIN_FREE_GB))
            for name, path in stores().items()
        ]
        checks = [database, broker, *workers.result(), prefect.result(), *disks]
    return Health(checks)
