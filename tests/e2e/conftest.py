"""Real services for end-to-end tests: a Redis server, Celery workers, a Prefect API, a var dir.

Everything is session-scoped (starting them costs seconds) and torn down at the end. The
workers and any flow subprocess reach the suite's own test database through DATABASE_URL.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.conf import settings

from webapp.infra.redis_server import RedisServer, find_server_binary
from webapp.infra.workers import Worker, start_workers, stop_workers

REPO_ROOT = Path(__file__).resolve().parents[2]
# The products need coastlines: the shapes live once under the repo's var/ (cheap to lay out).
CARTOPY_DIR = REPO_ROOT / "var" / "cartopy"
# Resources already started this session, by fixture name. A test module that imports these
# fixtures gets its own copies of them in pytest's eyes; they must share one Redis, one set of
# workers and one Prefect API, not start a second set beside the first.
_STARTED: dict[str, object] = {}
# Tiny world so a whole cycle takes seconds on 2 cores.
E2E_ENV = {
    "GCF_GRID_DEG": "10",
    "GCF_STEPS": "2",
    "GCF_LEVELS": "13",
    "GCF_DATA_SOURCE": "synthetic",
}


def database_url(settings_dict: dict) -> str:
    """A DATABASE_URL for the database described by a Django connection's settings."""
    engine = settings_dict["ENGINE"]
    if engine.endswith("sqlite3"):
        return f"sqlite:///{settings_dict['NAME']}"
    user = settings_dict.get("USER") or ""
    password = f":{settings_dict['PASSWORD']}" if settings_dict.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    port = f":{settings_dict['PORT']}" if settings_dict.get("PORT") else ""
    return (
        f"postgres://{auth}{settings_dict.get('HOST') or '127.0.0.1'}{port}/{settings_dict['NAME']}"
    )


def _reuse(name: str):
    """The resource `name` if this session started it already (then the caller yields it)."""
    return _STARTED.get(name)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    if (started := _reuse("redis_server")) is not None:
        yield started
        return
    try:
        find_server_binary()
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    with RedisServer(data_dir=tmp_path_factory.mktemp("redis")) as server:
        _STARTED["redis_server"] = server
        yield server
        del _STARTED["redis_server"]


@pytest.fixture(scope="session")
def service_env(redis_server, django_db_setup, django_db_blocker, tmp_path_factory):
    """Points this process and every child at the test database, Redis and a fresh var dir."""
    from django.db import connection

    if (started := _reuse("service_env")) is not None:
        yield started
        return

    var_dir = tmp_path_factory.mktemp("var")
    env = {
        **E2E_ENV,
        "GCF_VAR_DIR": str(var_dir),
        "GCF_REDIS_URL": redis_server.url,
        "DATABASE_URL": database_url(connection.settings_dict),
        "DJANGO_SETTINGS_MODULE": "webapp.config.django.test",
        "CARTOPY_DATA_DIR": str(CARTOPY_DIR),
        "PREFECT_HOME": str(var_dir / "prefect"),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
    }
    saved_env = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    overrides = {
        "GCF_VAR_DIR": var_dir,
        "GCF_RUNS_DIR": var_dir / "runs",
        "GCF_CACHE_DIR": var_dir / "cache",
        "MEDIA_ROOT": var_dir / "media",
        "GCF_GRID_DEG": 10.0,
        "GCF_STEPS": 2,
        "GCF_DATA_SOURCE": "synthetic",
        "CELERY_BROKER_URL": f"{redis_server.url}/0",
        "CELERY_RESULT_BACKEND": f"{redis_server.url}/1",
    }
    saved_settings = {key: getattr(settings, key) for key in overrides}
    for key, value in overrides.items():
        setattr(settings, key, value)
    from webapp.celery import app

    app.conf.update(
        broker_url=overrides["CELERY_BROKER_URL"], result_backend=overrides["CELERY_RESULT_BACKEND"]
    )
    _STARTED["service_env"] = env
    yield env
    del _STARTED["service_env"]
    # Let go of the result store before Redis stops (its consumer would try to reconnect).
    app.backend.result_consumer.stop()
    app.close()
    for key, value in saved_settings.items():
        setattr(settings, key, value)
    for key, value in saved_env.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def workers(service_env, tmp_path_factory):
    """One real Celery worker per queue (gpu, cpu), as subprocesses."""
    if (running := _reuse("workers")) is not None:
        yield running
        return
    started = start_workers(
        ("gpu", "cpu"), log_dir=tmp_path_factory.mktemp("celery"), env=service_env
    )
    by_queue = {worker.queue: worker for worker in started}
    _STARTED["workers"] = by_queue
    yield by_queue
    del _STARTED["workers"]
    stop_workers(list(by_queue.values()))  # including replacements of killed ones


@pytest.fixture(scope="session")
def prefect_api(service_env):
    """A temporary Prefect API server and database for the flows run in this process."""
    from prefect.testing.utilities import prefect_test_harness

    if _reuse("prefect_api") is not None:
        yield
        return
    with prefect_test_harness(server_startup_timeout=180):
        _STARTED["prefect_api"] = True
        yield
        del _STARTED["prefect_api"]


@pytest.fixture
def cycle(workers, prefect_api, transactional_db):
    """Everything a real daily cycle needs; the test database is committed (other processes read it)."""
    return workers


def restart_worker(
    workers: dict[str, Worker], queue: str, env: dict, log_dir: Path | None = None
) -> Worker:
    """Replaces a worker that a test killed (or stopped). Its log goes beside the session's
    worker logs by default: a test's own tmp_path is deleted when the test passes."""
    old = workers[queue]
    old.stop()
    workers[queue] = Worker(queue, log_dir=log_dir or old.log_file.parent, env=env).start()
    return workers[queue]
