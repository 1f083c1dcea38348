"""The reaper: resumes runs whose flow died, and closes runs silent for too long.

A flow beats on its run every few seconds (`flow_heartbeat_at`), apart from the worker's
beats (`heartbeat_at`): a run whose flow is silent for GCF_FLOW_STALE_AFTER_S is resumed once
by a new flow (which adopts the dead one's running task or reuses its finished forecast),
and closed as failed, with the reason, if its flow dies again; a run silent on both counts
for GCF_STALE_AFTER_S is failed. Scheduled every few minutes (`flows/deployments.py`), or
`python -m flows.reaper` once (no Prefect API needed).
"""

from __future__ import annotations

import sys

from prefect import flow, get_run_logger

from flows import gateway


def reap() -> dict[str, object]:
    """One pass; returns {"recovered": {run id: resumed/closed}, "reaped": [run ids]}."""
    return gateway.reap()


@flow(name="reap-stale-runs")
def reap_stale_runs() -> dict[str, object]:
    """One reaper pass as a Prefect flow run (the scheduled deployment)."""
    outcome = reap()
    get_run_logger().info("reaper: %s", outcome)
    return outcome


def main(argv: list[str] | None = None) -> int:
    """Command line: one pass without Prefect; prints what it did."""
    del argv
    outcome = reap()
    print(
        f"resumed or closed: {outcome['recovered'] or 'none'}; reaped: {outcome['reaped'] or 'none'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
