"""A Redis of the ops tests' own (they stop it on purpose), with this process pointed at it."""

from __future__ import annotations

import pytest
from django.conf import settings

from webapp.infra.redis_server import RedisServer, find_server_binary


@pytest.fixture(scope="package")
def broker(tmp_path_factory):
    try:
        find_server_binary()
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    server = RedisServer(data_dir=tmp_path_factory.mktemp("redis")).start()
    from webapp.celery import app

    saved = settings.CELERY_BROKER_URL
    # The Celery app reads its CELERY_ settings from Django's (webapp/celery.py).
    settings.CELERY_BROKER_URL = f"{server.url}/0"
    app.conf.update(broker_url=settings.CELERY_BROKER_URL)
    yield server
    settings.CELERY_BROKER_URL = saved
    app.conf.update(broker_url=saved)
    server.stop()
