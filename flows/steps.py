"""Running one step of a run on a Celery worker: submit, wait, decide.

The flow passes the run id and the time limits from the run's frozen config; the task owns
its step and writes its own results. While it waits, the flow
- retries broker and result-store connection errors (a Redis restart is waited out, not a
  reason to fail the run);
- stops when the run's status turns terminal (cancelled by an admin, closed by the reaper),
  revoking the task;
- gives up when the task runs past its hard time limit plus a grace period (a worker that
  did not enforce it is stuck), revoking the task;
- detects a lost task: one STARTED on a worker that no longer answers or no longer knows it
  (the whole worker was killed: Redis would redeliver its unacknowledged message only after
  the visibility timeout, hours later), or one PENDING that no worker holds and no queue
  contains. After `LOST_AFTER_PROBES` consecutive such probes the step is re-submitted as a
  new task; the run's record names the new id, so the old message, when Redis redelivers it
  at last, finds itself superseded and stops without writing (`webapp.runs.execution`).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import redis.exceptions
from celery import states
from celery.exceptions import TimeLimitExceeded
from celery.result import AsyncResult
from kombu.exceptions import OperationalError

from flows import gateway

logger = logging.getLogger(__name__)
T = TypeVar("T")

POLL_S = 0.5
# How often the flow asks the workers whether they still hold the task, and after how many
# consecutive "no" it re-submits: ~15 s to notice a dead worker, and no false alarm from
# a single missed reply.
PROBE_S = 5.0
LOST_AFTER_PROBES = 3
# Beyond the hard time limit, how long a started task may take to report its end.
GRACE_S = 30.0
# A task waiting in its queue (behind other runs' rollouts) for longer than this many hard
# time limits is given up.
QUEUED_LIMITS = 3
# What a Redis outage raises in the client (kombu for the broker, redis-py for the results);
# not the builtin ConnectionError/TimeoutError, which a task's own failure may carry.
BROKER_ERRORS = (OperationalError, redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)


class RunStopped(Exception):
    """The run turned terminal (cancelled, closed) while the flow waited: stop."""


def retrying(call: Callable[[], T], *, what: str, limit_s: float = 600.0) -> T:
    """`call()`, retried with backoff while the broker or result store is unreachable.

    Raises:
      The last connection error once `limit_s` has passed.
    """
    deadline = time.monotonic() + limit_s
    delay = 0.5
    while True:
        try:
            return call()
        except BROKER_ERRORS as exc:
            if time.monotonic() + delay > deadline:
                raise
            logger.warning("%s: Redis unreachable (%s); retrying in %.1f s", what, exc, delay)
            time.sleep(delay)
            delay = min(2 * delay, 10.0)


@dataclasses.dataclass(frozen=True)
class Step:
    """One Celery task of a run: `task(run_id, *args)` under stage name `stage`, with its
    soft and hard time limits; `stop_with_run`: revoked when the run turns terminal (not a
    clean-up that must run whatever the run's status)."""

    task: Any
    stage: str
    soft_s: int
    hard_s: int
    args: tuple = ()
    stop_with_run: bool = True


def _submit(step: Step, run_id: int) -> AsyncResult:
    """Records the new task id on the run, then sends the step's task (so the worker never
    sees a task the record does not name)."""
    task_id = str(uuid.uuid4())
    gateway.record_submission(run_id, step.stage, task_id)
    retrying(
        lambda: step.task.apply_async(
            args=[run_id, *step.args],
            task_id=task_id,
            soft_time_limit=step.soft_s,
            time_limit=step.hard_s,
        ),
        what=f"run {run_id}: submitting {step.stage}",
    )
    return AsyncResult(task_id, app=step.task.app)


def _queued_ids(app, queue: str) -> set[str]:
    """Ids of the task messages waiting in `queue` (the Redis list kombu keeps)."""
    with app.connection_for_read() as connection:
        client = connection.default_channel.client
        raw = client.lrange(queue, 0, -1)
    ids = set()
    for item in raw:
        try:
            ids.add(json.loads(item)["headers"]["id"])
        except (ValueError, KeyError, TypeError):
            continue
    return ids


def is_lost(result: AsyncResult, state: str, queue: str) -> bool:
    """Whether no live worker holds the task and no queue has it (see the module doc)."""
    app = result.app
    if state == states.STARTED:
        info = result.info if isinstance(result.info, dict) else {}
        hostname = info.get("hostname")
        destination = [hostname] if hostname else None
        replies = app.control.inspect(destination=destination, timeout=1.0).query_task(result.id)
        return not any(result.id in (reply or {}) for reply in (replies or {}).values())
    if state == states.PENDING:
        replies = app.control.inspect(timeout=1.0).query_task(result.id)
        if any(result.id in (reply or {}) for reply in (replies or {}).values()):
            return False
        return result.id not in _queued_ids(app, queue)
    return False


def run_on_worker(
    task,
    run_id: int,
    *,
    stage: str,
    soft_s: int,
    hard_s: int,
    args: tuple = (),
    stop_with_run: bool = True,
):
    """Runs `task(run_id, *args)` on its Celery queue and returns its result (see `Step`).

    A resuming flow adopts its dead predecessor's task for the same stage when that task is
    still running or has finished, instead of starting the work again.

    Raises:
      RunStopped: the run turned terminal meanwhile (the task is revoked).
      TimeoutError: the task ran past its limits (revoked; the message says which limit).
      Exception: whatever the task raised.
    """
    step = Step(task, stage, soft_s, hard_s, args, stop_with_run)
    return _wait(step, run_id, _start(step, run_id))


def run_all_on_workers(run_id: int, steps: Sequence[Step]) -> list:
    """Runs `steps` of the run in parallel on their Celery queues (all are submitted, then
    each is waited for in turn) and returns their results in order.

    Every step has ended when this returns or raises (a failed step does not leave the others
    running unseen: whoever cleans up after them can).

    Raises:
      The first step's error, in order, once all have ended (the others' are logged).
    """
    started = [(step, _start(step, run_id)) for step in steps]
    results, errors = [], []
    for step, started_task in started:
        try:
            results.append(_wait(step, run_id, started_task))
        except Exception as exc:  # noqa: BLE001 - collected, the first is raised below
            if errors:
                logger.warning("run %s: %s also failed: %s", run_id, step.stage, exc)
            errors.append(exc)
            results.append(None)
    if errors:
        raise errors[0]
    return results


def _start(step: Step, run_id: int) -> tuple[AsyncResult, float]:
    """(the task, when it was submitted): the stage's recorded task when it is running or
    done (a resumed flow adopts it), else a new one."""
    stage = step.stage
    recorded_id = gateway.last_task(run_id, stage)
    if recorded_id:
        candidate = AsyncResult(recorded_id, app=step.task.app)
        state = retrying(lambda: candidate.state, what=f"run {run_id}: {stage} state")
        if state in (states.STARTED, states.SUCCESS):
            logger.info("run %s: adopting %s task %s (%s)", run_id, stage, recorded_id, state)
            gateway.record_submission(run_id, stage, recorded_id)
            return candidate, time.monotonic()
    return _submit(step, run_id), time.monotonic()


def _wait(step: Step, run_id: int, started_task: tuple[AsyncResult, float]):
    """Waits for the step's task (see the module doc) and returns its result."""
    stage, hard_s, queue = step.stage, step.hard_s, step.task.queue
    result, submitted = started_task
    deadline = submitted + QUEUED_LIMITS * hard_s
    started = False
    misses = 0
    next_probe = submitted + PROBE_S
    seen_progress = None
    while True:
        state = retrying(lambda r=result: r.state, what=f"run {run_id}: {stage} state")
        if state in states.READY_STATES:
            break
        status = gateway.status(run_id)
        if step.stop_with_run and status in gateway.TERMINAL:
            _revoke(result)
            raise RunStopped(f"run {run_id} is {status}; its {stage} was stopped")
        now = time.monotonic()
        if state == states.STARTED and not started:
            started = True
            deadline = now + hard_s + GRACE_S
        if now > deadline:
            _revoke(result)
            limit = f"its hard time limit of {hard_s} s" if started else "its queue wait limit"
            raise TimeoutError(
                f"{stage} of run {run_id} (Celery task {result.id}) exceeded {limit}: "
                "its worker is lost, stuck or overloaded; the task was revoked"
            )
        if now >= next_probe:
            next_probe = now + PROBE_S
            lost = retrying(
                lambda r=result, s=state: is_lost(r, s, queue),
                what=f"run {run_id}: probing {stage}",
            )
            misses = misses + 1 if lost else 0
            if misses >= LOST_AFTER_PROBES:
                logger.warning(
                    "run %s: %s task %s (%s) is held by no live worker; re-submitting it",
                    run_id,
                    stage,
                    result.id,
                    state,
                )
                gateway.record_lineage(
                    run_id, **{f"{stage}_lost_task": result.id, f"{stage}_lost_state": state}
                )
                result = _submit(step, run_id)
                submitted = time.monotonic()
                deadline = submitted + QUEUED_LIMITS * hard_s
                started, misses = False, 0
        if stage == "rollout":
            progress = gateway.progress(run_id)
            if progress != seen_progress:
                seen_progress = progress
                logger.info("run %s: rollout step %s/%s", run_id, *progress)
        time.sleep(POLL_S)
    # A plain read of the stored result (no pub/sub consumer thread that would linger and
    # reconnect for ever once Redis goes away).
    value = retrying(lambda: result.result, what=f"run {run_id}: {stage} result")
    if state == states.SUCCESS:
        return value
    if state == states.REVOKED or gateway.status(run_id) in gateway.TERMINAL:
        raise RunStopped(f"run {run_id} is {gateway.status(run_id)}; its {stage} was stopped")
    if isinstance(value, TimeLimitExceeded):
        raise TimeoutError(
            f"{stage} of run {run_id} (Celery task {result.id}) reached its hard time limit "
            f"of {hard_s} s and its process was killed; the worker is free again"
        )
    if isinstance(value, BaseException):
        raise value
    raise RuntimeError(f"{stage} of run {run_id} ended {state}: {value!r}")


def _revoke(result: AsyncResult) -> None:
    """Revokes the task and terminates its pool process (best effort: the task also checks
    the run's status itself)."""
    try:
        result.revoke(terminate=True, signal="SIGTERM")
    except BROKER_ERRORS as exc:
        logger.warning("revoking task %s failed: %s", result.id, exc)
