"""The recipe for adding a GPU host (deploy/README.md "A pool of GPU hosts"), tested.

A second gpu worker is started exactly as `gcf-celery-gpu@.service` starts it on another
machine: same broker, database and shared stores (the unit's EnvironmentFile), its own node
name (`gpu<i>@<host>`). With the head's own gpu worker stopped, a real daily cycle's rollout
is consumed by the new host, /healthz lists it under the gpu queue, and the run completes.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flows.daily import daily_forecast
from tests.e2e.conftest import (  # noqa: F401
    cycle,
    prefect_api,
    redis_server,
    restart_worker,
    service_env,
    workers,
)
from webapp.infra.processes import terminate
from webapp.runs.models import ForecastRun

REPO = Path(__file__).resolve().parents[2]
UNIT = REPO / "deploy" / "systemd" / "gcf-celery-gpu@.service"
pytestmark = [pytest.mark.slow, pytest.mark.network]


def _unit_command(index: str, host: str) -> tuple[list[str], dict[str, str]]:
    """The unit's ExecStart and Environment= lines for instance `index` on machine `host`."""
    text = UNIT.read_text()
    argv = shlex.split(re.search(r"^ExecStart=(.*)$", text, re.M).group(1))
    # systemd: %i is the instance, %% a literal %; Celery then expands %h to the host name,
    # which is where another machine differs: substitute it here.
    argv = [a.replace("%i", index).replace("%%h", host) for a in argv]
    assert Path(argv[0]).name == "celery"
    environment = dict(line.split("=", 1) for line in re.findall(r"^Environment=(.*)$", text, re.M))
    environment = {k: v.replace("%i", index) for k, v in environment.items()}
    return [sys.executable, "-m", "celery", *argv[1:]], environment


def test_a_second_gpu_host_consumes_the_queue(cycle, service_env, settings, client, tmp_path):  # noqa: F811
    settings.GCF_PREDICTOR = "persistence"
    settings.GCF_HEALTH_MIN_FREE_GB = 0.0
    command, unit_env = _unit_command("1", "host-b")
    assert command[command.index("--hostname") + 1] == "gpu1@host-b"
    assert unit_env["CUDA_VISIBLE_DEVICES"] == "1"
    log = tmp_path / "host-b.log"
    with open(log, "wb") as out:
        host_b = subprocess.Popen(
            command, cwd=REPO, env={**service_env, **unit_env}, stdout=out,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while " ready." not in log.read_text(errors="replace"):
            assert host_b.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        # The head's own gpu worker goes away: only the new host consumes `gpu`.
        cycle["gpu"].stop()

        body = client.get("/healthz").json()
        assert body["checks"]["workers.gpu"]["workers"] == ["gpu1@host-b"], body

        run = ForecastRun.objects.get(pk=daily_forecast(init_time="2026-11-17T00:00:00"))
        assert run.status == ForecastRun.Status.SUCCEEDED, (run.error_type, run.error_message)
        # The new host received the run's rollout and wrote its forecast.
        text = log.read_text(errors="replace")
        assert re.search(r"rollout_task\[[0-9a-f-]+\] received", text), text[-2000:]
        assert re.search(
            rf"rollout_task\[[0-9a-f-]+\] succeeded in [0-9.]+s: \S*/runs/{run.pk}/forecast\.nc",
            text,
        ), text[-2000:]
        # Structured logs: the worker's own lines about the run carry its id.
        assert re.search(rf"logger=webapp\.\S+ run_id={run.pk} ", text), text[-2000:]
    finally:
        terminate(host_b, timeout=20, group=True)
        restart_worker(cycle, "gpu", service_env)  # its log beside the session's worker logs
