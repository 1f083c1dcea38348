"""Every schedule of the service, served from one process: `python -m flows.deployments`.

Needs a Prefect API (`prefect server start`, PREFECT_API_URL=http://127.0.0.1:4200/api);
stopping the process leaves the schedules active (`pause_on_shutdown=False`).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys

from prefect import Flow, serve

from flows.daily import daily_forecast
from flows.reaper import reap_stale_runs

# 06:15 UTC every day: the 00 UTC analysis is complete by then (ERA5T lags days, and
# resolve_init_time picks the latest cycle that is actually available).
DAILY_CRON = "15 6 * * *"
# Every 2 minutes: resume runs whose flow died, fail runs silent for too long.
REAPER_CRON = "*/2 * * * *"
# 09:00 UTC every day: score the runs whose truth has become available.
VERIFY_CRON = "0 9 * * *"


def _verify_flow() -> Flow | None:
    """The verification flow from `flows/verify.py`, when that module exists."""
    if importlib.util.find_spec("flows.verify") is None:
        return None
    module = importlib.import_module("flows.verify")
    flows = [value for value in vars(module).values() if isinstance(value, Flow)]
    return flows[0] if flows else None


def build_deployments() -> list:
    """The RunnerDeployments this service serves."""
    deployments = [
        daily_forecast.to_deployment(
            name="daily",
            cron=DAILY_CRON,
            parameters={"triggered_by": "schedule"},
            tags=["forecast"],
        ),
        reap_stale_runs.to_deployment(name="reaper", cron=REAPER_CRON, tags=["maintenance"]),
    ]
    verify = _verify_flow()
    if verify is not None:
        deployments.append(verify.to_deployment(name="daily", cron=VERIFY_CRON, tags=["verify"]))
    return deployments


def main() -> int:
    """Serves every deployment until interrupted."""
    serve(*build_deployments(), pause_on_shutdown=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
