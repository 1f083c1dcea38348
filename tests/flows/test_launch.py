"""The detached flow's watchdog: a killed flow takes its process group (Prefect's temporary
API server) with it; a flow that exits cleanly is left alone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

# A "flow" that leads its own group, starts a long-lived child (standing in for Prefect's
# temporary server), prints the child's pid, then exits cleanly or waits to be killed.
SCRIPT = """
import subprocess, sys, time
from flows.launch import guard_process_group
guard_process_group()
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
print(child.pid, flush=True)
if sys.argv[1] == "clean":
    sys.exit(0)
time.sleep(60)
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ")[1][0] != "Z"
    except OSError:
        return False


def _start(how: str) -> tuple[subprocess.Popen, int]:
    flow = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, how],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    return flow, int(flow.stdout.readline())


def test_a_killed_flow_takes_its_children_with_it():
    flow, child = _start("kill")
    os.kill(flow.pid, signal.SIGKILL)
    flow.wait()
    deadline = time.monotonic() + 15
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(child), "the flow's child outlived it"


def test_a_clean_exit_leaves_the_group_alone():
    flow, child = _start("clean")
    assert flow.wait(30) == 0
    time.sleep(1)
    try:
        assert _alive(child), "the watchdog killed a cleanly exited flow's group"
    finally:
        try:
            os.kill(child, signal.SIGKILL)
        except ProcessLookupError:
            pytest.fail("child already gone")
