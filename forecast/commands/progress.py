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
