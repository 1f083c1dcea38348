"""The seam through which the web layer starts and cancels flow runs, without importing flows.

`webapp` defines the interface; `flows` provides it (`flows.launch.PrefectLauncher`) and the
setting `GCF_FLOW_LAUNCHER` names it, so the dependency points one way only: flows → webapp.
"""

from __future__ import annotations

from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string

# The implementation the service ships with; a test or deployment may name another.
DEFAULT_LAUNCHER = "flows.launch.PrefectLauncher"


class FlowLauncher(Protocol):
    """Starts the daily flow for an existing run, and cancels a flow run."""

    def launch(self, *, run_id: int) -> tuple[str, str]:
        """Starts `daily_forecast(run_id=...)` without waiting.

        Returns:
          (how it was launched: a `ForecastRun.Launch` value, the Prefect flow-run id or "").
        """

    def cancel(self, *, flow_run_id: str) -> bool:
        """Asks Prefect to cancel the flow run; returns whether the API accepted it."""

    def backfill(self, *, start: str, end: str, every_hours: int) -> dict[str, int | str]:
        """Runs the cycles of [start, end] that have no good run, here and now.

        Returns:
          {init time: run id, or the error of a failed cycle}.

        Raises:
          ValueError: a bad range (before any flow starts).
        """


def get_launcher() -> FlowLauncher:
    """The configured launcher (`GCF_FLOW_LAUNCHER`, a dotted path to a class or factory)."""
    return import_string(getattr(settings, "GCF_FLOW_LAUNCHER", "") or DEFAULT_LAUNCHER)()
