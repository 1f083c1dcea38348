"""Progress of long commands: a tqdm bar with ETA on a terminal, plain lines otherwise.

A bar redrawn in place is what a person at a terminal wants; in a log file (cron, CI, a
service) it turns into noise, so there each step is one short line with its ETA.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


class StepProgress:
    """A `progress(done, total)` callable for rollouts, fetches and training loops.

    Args:
        label: what is counted (the command and the stage, e.g. "forecast run: rollout").
        unit: the unit of one step.
        stream: where to write (stderr).
        enabled: False for `--quiet`.
    """

    def __init__(
        self, label: str, *, unit: str = "step", stream: TextIO | None = None, enabled: bool = True
    ) -> None:
        self.label = label
        self.unit = unit
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self._bar = None
        self._started = time.perf_counter()

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        if self.stream.isatty():
            if self._bar is None:
                from tqdm import tqdm

                self._bar = tqdm(
                    total=total,
                    desc=self.label,
                    unit=self.unit,
                    file=self.stream,
                    dynamic_ncols=True,
                )
            self._bar.update(done - self._bar.n)
            if done >= total:
                self.close()
            return
        elapsed = time.perf_counter() - self._started
        eta = elapsed / done * (total - done) if done else float("nan")
        print(
            f"{self.label}: {self.unit} {done}/{total} ({elapsed:.1f} s, ETA {eta:.0f} s)",
            file=self.stream,
            flush=True,
        )

    def close(self) -> None:
        """Closes the bar (if any)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None


class LineBar:
    """The parts of tqdm's interface the trainer uses, as a line every `every` steps.

    For logs (not a terminal): `update`, `set_postfix` and `close` print
    "label: step k/N (elapsed, ETA, postfix)" lines instead of redrawing a bar.
    """

    def __init__(
        self, total: int, initial: int, label: str, *, every: int = 10, stream: TextIO | None = None
    ) -> None:
        self.total, self.n, self.label, self.every = total, initial, label, max(1, every)
        self.stream = stream if stream is not None else sys.stderr
        self._start_n = initial
        self._started = time.perf_counter()
        self._postfix = ""

    def update(self, count: int = 1) -> None:
        """Advances by `count` steps; prints every `every` steps and at the end."""
        self.n += count
        if self.n % self.every == 0 or self.n >= self.total:
            self._print()

    def set_postfix(self, **values: object) -> None:
        """Values shown after the count (loss, validation loss)."""
        self._postfix = ", ".join(f"{k}={v}" for k, v in values.items() if v is not None)

    def close(self) -> None:
        """Nothing to tear down (the last line is printed by `update`)."""

    def _print(self) -> None:
        elapsed = time.perf_counter() - self._started
        done = self.n - self._start_n
        eta = elapsed / done * (self.total - self.n) if done else float("nan")
        extra = f", {self._postfix}" if self._postfix else ""
        print(
            f"{self.label}: step {self.n}/{self.total} ({elapsed:.0f} s, ETA {eta:.0f} s{extra})",
            file=self.stream,
            flush=True,
        )


def step_bar(total: int, initial: int, label: str):
    """A tqdm bar on a terminal, a `LineBar` otherwise (the trainer's progress factory)."""
    if sys.stderr.isatty():
        from tqdm import tqdm

        return tqdm(total=total, initial=initial, desc=label, unit="step", dynamic_ncols=True)
    return LineBar(total, initial, label)
