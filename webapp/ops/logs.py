"""Structured logs that carry the run they belong to.

A `ContextVar` holds the current run id; `RunIdFilter` (on the console handler, see LOGGING in
webapp/config/django/base.py) copies it onto every record, so each line of a worker, a flow or
the site says which run it is about without each call site formatting it in.

How code binds it:
  * Celery tasks: nothing to do. `connect_celery_signals` (called by the ops app) binds the
    `run_id` keyword argument of any task for the task's duration.
  * Prefect flows and other code: `with bind_run_id(run_id): ...` around the work, e.g. the
    body of `daily_forecast` once the run record exists.

A `ContextVar` (not a thread-local) follows the code into threads started with
`contextvars.copy_context()` and asyncio tasks, and is reset exactly on exit.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import inspect
import json
import logging
from collections.abc import Iterator

_RUN_ID: contextvars.ContextVar[int | None] = contextvars.ContextVar("gcf_run_id", default=None)
# What a record outside any run shows.
NO_RUN = "-"
_TASK_TOKENS: dict[str, contextvars.Token] = {}


def current_run_id() -> int | None:
    """The run the current code works for, if any."""
    return _RUN_ID.get()


@contextlib.contextmanager
def bind_run_id(run_id: int | None) -> Iterator[None]:
    """Every log record emitted inside the block carries `run_id`."""
    token = _RUN_ID.set(run_id)
    try:
        yield
    finally:
        _RUN_ID.reset(token)


class RunIdFilter(logging.Filter):
    """Sets `record.run_id` from the bound run (keeps one a caller passed in `extra`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "run_id", None) is None:
            run_id = _RUN_ID.get()
            record.run_id = NO_RUN if run_id is None else run_id
        return True


def _utc(record: logging.LogRecord) -> str:
    return (
        dt.datetime.fromtimestamp(record.created, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
        + "Z"
    )


def _quote(value: object) -> str:
    text = str(value)
    if text and not any(c in text for c in ' "=\n\t'):
        return text
    return json.dumps(text, ensure_ascii=False)


class KeyValueFormatter(logging.Formatter):
    """`time=… level=… logger=… run_id=… msg="…"` (logfmt): readable, and greppable by run."""

    def format(self, record: logging.LogRecord) -> str:
        fields = {
            "time": _utc(record),
            "level": record.levelname,
            "logger": record.name,
            "run_id": getattr(record, "run_id", NO_RUN),
            "msg": record.getMessage(),
        }
        line = " ".join(f"{key}={_quote(value)}" for key, value in fields.items())
        if record.exc_info:
            line += " exc=" + _quote(self.formatException(record.exc_info))
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line (time in UTC, level, logger, run_id, msg, exc), for collectors."""

    def format(self, record: logging.LogRecord) -> str:
        run_id = getattr(record, "run_id", NO_RUN)
        payload = {
            "time": _utc(record),
            "level": record.levelname,
            "logger": record.name,
            "run_id": None if run_id == NO_RUN else run_id,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return json.dumps(payload, ensure_ascii=False, default=str)


def _task_run_id(task, args: tuple, kwargs: dict) -> int | None:
    """The task's `run_id` argument, passed by keyword or by position."""
    if "run_id" in kwargs:
        return kwargs["run_id"]
    try:
        bound = inspect.signature(task.run).bind_partial(*args, **kwargs)
    except (TypeError, ValueError):
        return None
    return bound.arguments.get("run_id")


def _task_started(task_id=None, task=None, args=None, kwargs=None, **_) -> None:
    run_id = _task_run_id(task, tuple(args or ()), dict(kwargs or {})) if task else None
    if task_id and run_id is not None:
        _TASK_TOKENS[task_id] = _RUN_ID.set(run_id)


def _task_finished(task_id: str | None = None, **_) -> None:
    token = _TASK_TOKENS.pop(task_id, None) if task_id else None
    if token is not None:
        _RUN_ID.reset(token)


def connect_celery_signals() -> None:
    """Binds a task's `run_id` keyword argument while it runs (idempotent)."""
    from celery.signals import task_postrun, task_prerun

    task_prerun.connect(_task_started, weak=False, dispatch_uid="gcf-run-id-start")
    task_postrun.connect(_task_finished, weak=False, dispatch_uid="gcf-run-id-end")
