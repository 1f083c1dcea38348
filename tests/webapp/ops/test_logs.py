"""Structured logs: every record carries the bound run id, in key=value or JSON form."""

from __future__ import annotations

import json
import logging

import pytest

from webapp.ops.logs import JsonFormatter, KeyValueFormatter, RunIdFilter, bind_run_id


class _Capture(logging.Handler):
    def __init__(self, formatter: logging.Formatter) -> None:
        super().__init__()
        self.setFormatter(formatter)
        self.addFilter(RunIdFilter())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def capture():
    logger = logging.getLogger("webapp.tests.ops")
    handlers = {"kv": _Capture(KeyValueFormatter()), "json": _Capture(JsonFormatter())}
    for handler in handlers.values():
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield logger, handlers
    for handler in handlers.values():
        logger.removeHandler(handler)


def test_bound_run_id_on_every_record(capture):
    logger, handlers = capture
    logger.info("outside")
    with bind_run_id(42):
        logger.info('rollout step %d/%d "done"', 3, 4)
        with bind_run_id(43):
            logger.warning("nested")
        logger.info("back")
    logger.info("after")

    kv = handlers["kv"].lines
    assert [line.split(" run_id=")[1].split(" ")[0] for line in kv] == ["-", "42", "43", "42", "-"]
    assert kv[1].endswith('msg="rollout step 3/4 \\"done\\""')
    assert " level=INFO logger=webapp.tests.ops " in kv[1]
    assert kv[1].startswith("time=") and kv[1].split(" ")[0].endswith("Z")  # UTC

    records = [json.loads(line) for line in handlers["json"].lines]
    assert [r["run_id"] for r in records] == [None, 42, 43, 42, None]
    assert records[1]["msg"] == 'rollout step 3/4 "done"' and records[2]["level"] == "WARNING"


def test_exceptions_stay_on_one_line(capture):
    logger, handlers = capture
    try:
        raise ValueError("bad input file /x/inputs.nc")
    except ValueError:
        logger.exception("rollout failed")
    line = handlers["kv"].lines[0]
    assert "\n" not in line and "ValueError: bad input file" in line
    assert "ValueError" in json.loads(handlers["json"].lines[0])["exc"]


def test_celery_tasks_bind_their_run_id(capture):
    """The ops app connects Celery's task signals: a task's run_id argument, by position or
    keyword, is on every record it logs, and is unbound after it."""
    from webapp.celery import app

    logger, handlers = capture

    @app.task(name="tests.webapp.ops.log_probe")
    def log_probe(run_id: int, note: str = "") -> None:
        logger.info("in task %s", note)

    try:
        log_probe.apply(args=[7])
        log_probe.apply(kwargs={"run_id": 8, "note": "kw"})
        logger.info("after")
    finally:
        app.tasks.pop("tests.webapp.ops.log_probe", None)
    runs = [json.loads(line)["run_id"] for line in handlers["json"].lines]
    assert runs == [7, 8, None]
