"""GET /healthz reflects real faults: a stopped Redis, a queue with no worker, a full store.

The module starts its own Redis (conftest.py) and Celery workers (it stops them on purpose, so
it does not share the e2e suite's).
"""

from __future__ import annotations

import os

import pytest

from webapp.infra.workers import Worker

pytestmark = [pytest.mark.network, pytest.mark.django_db]


@pytest.fixture(scope="module")
def worker_env(broker, tmp_path_factory) -> dict[str, str]:
    return {
        "DJANGO_SETTINGS_MODULE": "webapp.config.django.test",
        "GCF_REDIS_URL": broker.url,
        "CELERY_BROKER_URL": f"{broker.url}/0",
        "CELERY_RESULT_BACKEND": f"{broker.url}/1",
        "GCF_VAR_DIR": str(tmp_path_factory.mktemp("var")),
    }


@pytest.fixture
def healthy_disks(settings):
    settings.GCF_HEALTH_MIN_FREE_GB = 0.0
    settings.GCF_HEALTH_TIMEOUT_S = 2.0
    settings.PREFECT_API_URL = ""


def _health(client) -> tuple[int, dict]:
    response = client.get("/healthz")
    assert response["Content-Type"] == "application/json"
    return response.status_code, response.json()


def test_healthz_follows_workers_redis_and_disk(
    client, broker, worker_env, healthy_disks, settings, tmp_path
):
    workers = {}
    try:
        for queue in ("gpu", "cpu"):
            workers[queue] = Worker(queue, log_dir=tmp_path, env=worker_env).start()

        status, body = _health(client)
        assert status == 200, body
        assert body["status"] == "ok" and body["failing"] == []
        assert body["checks"]["workers.gpu"]["workers"] == [
            workers["gpu"].name.replace("%h", os.uname().nodename)
        ]
        assert body["checks"]["prefect"]["configured"] is False
        assert set(body["checks"]) >= {"database", "redis", "disk.media", "disk.runs", "disk.cache"}

        # No gpu worker: the queue has no consumer.
        workers.pop("gpu").stop()
        status, body = _health(client)
        assert status == 503
        assert body["failing"] == ["workers.gpu"]
        assert body["checks"]["workers.gpu"]["detail"] == "no worker consumes queue 'gpu'"
        assert body["checks"]["workers.cpu"]["ok"]

        # A store below its free-space threshold.
        settings.GCF_HEALTH_MIN_FREE_GB = 1e9
        status, body = _health(client)
        assert status == 503
        assert {"disk.media", "disk.runs", "disk.cache"} <= set(body["failing"])
        assert "store 'media'" in body["checks"]["disk.media"]["detail"]
        settings.GCF_HEALTH_MIN_FREE_GB = 0.0
    finally:
        for worker in workers.values():
            worker.stop()


def test_healthz_names_a_stopped_redis(client, broker, healthy_disks, tmp_path):
    broker.stop()
    try:
        status, body = _health(client)
        assert status == 503
        assert "redis" in body["failing"]
        assert body["checks"]["redis"]["ok"] is False
        assert "ConnectionError" in body["checks"]["redis"]["detail"]
        assert body["checks"]["workers.gpu"]["detail"] == "broker unreachable"
        assert body["checks"]["database"]["ok"]
        # Bounded: a dead broker costs about one timeout, not a hung request.
        assert body["checks"]["redis"]["ms"] < 5000
    finally:
        broker.start()


def test_healthz_checks_a_configured_prefect_api(client, broker, healthy_disks, settings):
    # Nothing listens on port 9 (discard): a configured but dead API fails the check.
    settings.PREFECT_API_URL = "http://127.0.0.1:9/api"
    status, body = _health(client)
    assert status == 503
    assert "prefect" in body["failing"]
    assert body["checks"]["prefect"]["configured"] is True
    assert "Connection refused" in body["checks"]["prefect"]["detail"]


def test_healthz_live_needs_nothing(client):
    response = client.get("/healthz/live")
    assert response.status_code == 200 and response.json() == {"status": "ok"}
