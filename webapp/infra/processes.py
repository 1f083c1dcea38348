"""Stopping the subprocesses the project starts, and finding their children."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path


def terminate(process: subprocess.Popen | None, *, timeout: float, group: bool = False) -> None:
    """SIGTERM, then SIGKILL after `timeout` s; with `group`, the kill takes the whole process
    group (the process must have been started with `start_new_session=True`)."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        if group:
            os.killpg(process.pid, signal.SIGKILL)
        else:
            process.kill()
        process.wait()


def child_pids(pid: int) -> list[int]:
    """Direct child pids of `pid` (from /proc)."""
    found: list[int] = []
    for task_dir in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(p) for p in (task_dir / "children").read_text().split()]
        except OSError:
            continue
    return found
