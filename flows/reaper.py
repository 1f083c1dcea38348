"""A small flow that fails runs whose flow or worker died (no heartbeat), so none stays RUNNING."""

from __future__ import annotations

from prefect import flow, get_run_logger

from flows.django_setup import setup_django


@flow(name="reap-stale-runs")
def reap_stale_runs(older_than_s: int | None = None) -> list[int]:
    """Fails QUEUED/RUNNING runs silent for longer than `older_than_s` (default GCF_STALE_AFTER_S)."""
    setup_django()
    from webapp.runs.services import run_reap_stale

    reaped = run_reap_stale(older_than_s=older_than_s)
    get_run_logger().info("reaped %d stale run(s): %s", len(reaped), reaped)
    return reaped
