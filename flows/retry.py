"""Prefect retry conditions: retry only what may succeed later."""

from __future__ import annotations

from forecast.errors import DataUnavailableError


def retry_only_transient(task_, task_run, state) -> bool:
    """`retry_condition_fn`: retry when the task failed with `DataUnavailableError` (data not
    published yet, service unreachable), never on anything else (bad input, bugs)."""
    del task_, task_run
    try:
        state.result(raise_on_failure=True)
    except DataUnavailableError:
        return True
    except Exception:  # noqa: BLE001 - anything else is permanent
        return False
    return False
