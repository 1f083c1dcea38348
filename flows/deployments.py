"""Every schedule of the service, served from one process: `python -m flows.deployments`.

Needs a Prefect API (`prefect server start`, PREFECT_API_URL=http://127.0.0.1:4200/api);
stopping the process leaves the schedules active (`pause_on_shutdown=False`).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys

from django.conf import settings
from prefect import Flow, serve

from flows.daily import daily_forecast
from flows.opendata import opendata_poll
from flows.reaper import reap_stale_runs

# settings.GCF_DAILY_CRON (06:15 UTC every day by default): the ERA5 hindcast of the newest init
# time ERA5T holds (it lags ~5 days; resolve_init_time picks the latest cycle actually available).
DAILY_CRON = settings.GCF_DAILY_CRON
# Every 15 minutes: start the real-time cycle of each IFS open-data cycle (00/06/12/18 UTC)
# as soon as it is completely published (~6–8 h after its nominal time, not at a fixed
# minute): the poll reads the cycles' indexes and starts each cycle once.
OPENDATA_POLL_CRON = "*/15 * * * *"
# Every 2 minutes: resume runs whose flow died, fail runs silent for too long.
REAPER_CRON = "*/2 * * * *"
# 09:00 UTC every day: score the runs whose ERA5 truth has become available (tier 2).
VERIFY_CRON = "0 9 * * *"
# Hourly at :40: score open-data runs against each IFS analysis as it is published (tier 1;
# a cycle's analysis appears ~6–8 h after its valid time).
VERIFY_ANALYSIS_CRON = "40 * * * *"


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
        opendata_poll.to_deployment(
            name="opendata-poll", cron=OPENDATA_POLL_CRON, tags=["forecast", "opendata"]
        ),
        reap_stale_runs.to_deployment(name="reaper", cron=REAPER_CRON, tags=["maintenance"]),
    ]
    verify = _verify_flow()
    if verify is not None:
        deployments.append(
            verify.to_deployment(
                name="daily",
                cron=VERIFY_CRON,
                parameters={"truth_source": "era5"},
                tags=["verify"],
            )
        )
        deployments.append(
            verify.to_deployment(
                name="ifs-analysis",
                cron=VERIFY_ANALYSIS_CRON,
                parameters={"truth_source": "ifs_analysis"},
                tags=["verify", "opendata"],
            )
        )
    return deployments


def main() -> int:
    """Serves every deployment until interrupted."""
    serve(*build_deployments(), pause_on_shutdown=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
