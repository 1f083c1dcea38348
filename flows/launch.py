"""Starting the daily flow for an existing run through the served Prefect deployment."""

from __future__ import annotations

DAILY_DEPLOYMENT = "daily-forecast/daily"


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
