"""Starting and cancelling the daily flow for an existing run: the launcher `webapp` is given.

`webapp.runs.launcher.FlowLauncher` is the interface; `PrefectLauncher` is this service's
implementation, named by the `GCF_FLOW_LAUNCHER` setting, so `webapp` never imports `flows`.

A flow launched as a detached subprocess without a Prefect API starts Prefect's temporary
API server as its child. If the flow process is killed, nothing stops that server, so the
subprocess runs under `guard_process_group`: a watchdog that ends the flow's process group
(the temporary server with it) once the flow process is gone.
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import subprocess
import sys
import threading
import time

DAILY_DEPLOYMENT = "daily-forecast/daily"
logger = logging.getLogger(__name__)


def submit_to_deployment(*, run_id: int, triggered_by: str = "admin") -> str:
    """Schedules `daily_forecast(run_id=...)` on the served deployment without waiting.

    Returns:
      The Prefect flow-run id.

    Raises:
      Whatever the Prefect client raises (no API, unknown deployment); callers fall back.
    """
    from prefect.deployments import run_deployment

    flow_run = run_deployment(
        DAILY_DEPLOYMENT,
        parameters={"run_id": run_id, "triggered_by": triggered_by},
        timeout=0,
    )
    return str(flow_run.id)


class PrefectLauncher:
    """Launches through the Prefect deployment, or as a detached `python -m flows.daily`.

    GCF_FLOW_LAUNCH="auto": the deployment when a Prefect API is configured (PREFECT_API_URL,
    with `python -m flows.deployments` serving), else, or when that fails (logged), the
    subprocess; "deployment" / "subprocess" force one way.
    """

    def launch(self, *, run_id: int) -> tuple[str, str]:
        from django.conf import settings

        from webapp.config.env import REPO_ROOT
        from webapp.runs.models import ForecastRun
        from webapp.runs.paths import logs_dir

        how = settings.GCF_FLOW_LAUNCH
        if how not in ("auto", "deployment", "subprocess"):
            raise ValueError(f"GCF_FLOW_LAUNCH={how!r}: use auto, deployment or subprocess")
        if how == "deployment" or (how == "auto" and os.environ.get("PREFECT_API_URL")):
            try:
                return ForecastRun.Launch.DEPLOYMENT, submit_to_deployment(run_id=run_id)
            except Exception as exc:  # noqa: BLE001 - any API failure falls back, and says so
                logger.warning(
                    "Prefect deployment launch of run %s failed (%s: %s); spawning a subprocess",
                    run_id,
                    type(exc).__name__,
                    exc,
                )
        log_dir = logs_dir()
        log_dir.mkdir(parents=True, exist_ok=True)
        with open(log_dir / f"flow-run-{run_id}.log", "ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "flows.daily", "--run-id", str(run_id)],
                cwd=REPO_ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # survives the web request and the server's Ctrl-C
            )
        # Reaped when it ends, so a long-lived launcher (the web server) keeps no zombies.
        threading.Thread(target=process.wait, name=f"reap-flow-{run_id}", daemon=True).start()
        logger.info("run %s: flow subprocess pid %s", run_id, process.pid)
        return ForecastRun.Launch.SUBPROCESS, ""

    def cancel(self, *, flow_run_id: str) -> bool:
        """Moves the flow run to Cancelling through the Prefect API (the flow also polls the
        run's status, so a flow on an unreachable temporary API still stops)."""
        from prefect.client.orchestration import get_client
        from prefect.states import Cancelling

        with get_client(sync_client=True) as client:
            result = client.set_flow_run_state(flow_run_id, Cancelling(), force=True)
        return str(getattr(result, "status", "")).endswith("ACCEPT")

    def backfill(self, *, start: str, end: str, every_hours: int) -> dict[str, int | str]:
        """The backfill flow in this process; a bad range fails before any flow starts."""
        from flows.backfill import backfill, init_times

        init_times(start, end, every_hours=every_hours)
        return backfill(start, end, every_hours)


def guard_process_group() -> None:
    """Forks a watchdog that kills this process's group if this process dies uncleanly.

    Only for a process that leads its own group (started with `start_new_session=True`):
    then the group is exactly the flow and what it spawned (Prefect's temporary server). The
    flow tells the watchdog about a clean exit through a pipe (at exit, after Prefect has
    stopped its server); a pipe closed without that word means the flow was killed.
    """
    flow_pid = os.getpid()
    if os.getpgid(0) != flow_pid:
        return
    read_end, write_end = os.pipe()
    if os.fork() != 0:
        os.close(read_end)
        # Registered before Prefect starts its server, so it runs after Prefect's own stop.
        atexit.register(os.write, write_end, CLEAN_EXIT)
        return
    # The watchdog: its own session, so the kill below spares it.
    os.close(write_end)
    os.setsid()
    word = os.read(read_end, len(CLEAN_EXIT))
    if word != CLEAN_EXIT:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(flow_pid, sig)
            except ProcessLookupError:
                break
            time.sleep(5 if sig == signal.SIGTERM else 0)
    os._exit(0)


CLEAN_EXIT = b"ok"
