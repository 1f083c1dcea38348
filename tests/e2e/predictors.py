"""Predictors for failure-path tests, loaded by the real workers through GCF_PREDICTOR
("tests.e2e.predictors:<factory>"): the persistence baseline slowed down, or one that raises."""

from __future__ import annotations

import os
import time

from forecast.predictor import PersistencePredictor


class _SlowPersistence(PersistencePredictor):
    """Persistence whose every step takes GCF_TEST_STEP_SECONDS (a rollout long enough to kill)."""

    name = "slow-persistence"

    def forecast(self, inputs, *, steps, progress=None):
        delay = float(os.environ.get("GCF_TEST_STEP_SECONDS", "1.5"))

        def slow_progress(step: int, total: int) -> None:
            time.sleep(delay)
            if progress is not None:
                progress(step, total)

        return super().forecast(inputs, steps=steps, progress=slow_progress)


class _Failing(PersistencePredictor):
    """Fails after its first step, as a rollout that runs out of memory would."""

    name = "failing"

    def forecast(self, inputs, *, steps, progress=None):
        if progress is not None:
            progress(1, steps)
        raise RuntimeError("injected rollout failure after step 1")


def slow_persistence() -> PersistencePredictor:
    return _SlowPersistence()


def failing() -> PersistencePredictor:
    return _Failing()


class _Hung(PersistencePredictor):
    """Hangs after its first step and ignores Celery's soft time limit, as a rollout stuck
    in a native call would: only the hard time limit (killing the process) stops it."""

    name = "hung"

    def forecast(self, inputs, *, steps, progress=None):
        if progress is not None:
            progress(1, steps)
        while True:
            try:
                time.sleep(3600)
            except BaseException:  # noqa: BLE001, S112 - the point: a hang nothing interrupts
                continue


def hung() -> PersistencePredictor:
    return _Hung()
