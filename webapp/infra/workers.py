"""Celery workers for the `gpu` and `cpu` queues, started and stopped as real subprocesses."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping
from pathlib import Path

from webapp.config.env import REPO_ROOT
from webapp.infra.processes import child_pids, terminate

# The gpu queue runs one rollout at a time per worker: the accelerator holds one model. The cpu
# queue takes a run's render parts (GCF_RENDER_PARTS, default 2) side by side, one per core.
CONCURRENCY = {"gpu": 1, "cpu": 2}


class Worker:
    """One `celery -A webapp worker` process consuming one queue."""

    def __init__(
        self,
        queue: str,
        *,
        log_dir: str | Path,
        env: Mapping[str, str] | None = None,
        concurrency: int | None = None,
    ) -> None:
        self.queue = queue
        self.name = f"{queue}-{uuid.uuid4().hex[:6]}@%h"
        self.log_file = Path(log_dir) / f"celery-{queue}-{self.name.split('@')[0]}.log"
        self.env = {**os.environ, **(env or {})}
        self.concurrency = concurrency or CONCURRENCY.get(queue, 1)
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 60.0) -> Worker:
        """Starts the worker and waits until it logs that it is ready."""
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        command = [
            sys.executable, "-m", "celery", "-A", "webapp", "worker",
            "-Q", self.queue, "-c", str(self.concurrency), "-n", self.name,
            "--loglevel", "INFO", "--without-gossip", "--without-mingle", "--pool", "prefork",
            # One message reserved at a time: a queued rollout waits in Redis for a free
            # worker instead of behind a busy one.
            "--prefetch-multiplier", "1",
        ]  # fmt: skip
        with open(self.log_file, "ab") as log:
            self.process = subprocess.Popen(
                command,
                cwd=REPO_ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"celery worker for {self.queue} exited with {self.process.returncode}:\n"
                    + self.log_tail()
                )
            if " ready." in self.log_file.read_text(errors="replace"):
                return self
            time.sleep(0.2)
        self.stop()
        raise TimeoutError(
            f"celery worker for {self.queue} not ready in {timeout} s:\n{self.log_tail()}"
        )

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of the worker's log."""
        if not self.log_file.exists():
            return ""
        return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])

    def pool_pids(self) -> list[int]:
        """Pids of the pool processes that execute the tasks."""
        return child_pids(self.process.pid) if self.process else []

    def stop(self, timeout: float = 20.0) -> None:
        """Warm shutdown (SIGTERM), then SIGKILL of the whole process group after `timeout` s."""
        if self.process is None:
            return
        terminate(self.process, timeout=timeout, group=True)
        # Pool children left behind by a parent that was killed.
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def start_workers(
    queues: tuple[str, ...] = ("gpu", "cpu"),
    *,
    log_dir: str | Path,
    env: Mapping[str, str] | None = None,
) -> list[Worker]:
    """Starts one worker per queue; stops those already started if one fails."""
    workers: list[Worker] = []
    try:
        for queue in queues:
            workers.append(Worker(queue, log_dir=log_dir, env=env).start())
    except BaseException:
        stop_workers(workers)
        raise
    return workers


def stop_workers(workers: list[Worker]) -> None:
    """Stops the workers (warm shutdown first)."""
    for worker in workers:
        worker.stop()
