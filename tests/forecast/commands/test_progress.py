"""Progress output: bars on a terminal, one plain line per step (with ETA) in logs."""

from __future__ import annotations

import io

from forecast.commands.progress import LineBar, StepProgress, step_bar


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_step_progress_prints_lines_with_eta_when_not_a_terminal():
    stream = io.StringIO()
    progress = StepProgress("forecast run: rollout", stream=stream)
    for k in range(1, 4):
        progress(k, 3)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("forecast run: rollout: step 1/3 (") and "ETA" in lines[0]
    assert "ETA 0 s" in lines[-1]


def test_step_progress_draws_a_tqdm_bar_on_a_terminal_and_nothing_when_quiet():
    terminal = _Terminal()
    progress = StepProgress("rollout", stream=terminal)
    progress(1, 2)
    progress(2, 2)
    assert "2/2" in terminal.getvalue() and "\r" in terminal.getvalue()  # redrawn in place
    quiet = io.StringIO()
    StepProgress("rollout", stream=quiet, enabled=False)(1, 2)
    assert quiet.getvalue() == ""


def test_line_bar_speaks_tqdms_interface_for_the_trainer(capsys):
    bar = LineBar(total=20, initial=5, label="phase 1", every=5)
    for _ in range(15):
        bar.update(1)
        bar.set_postfix(loss="0.1234", val=None)
    bar.close()
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(" (")[0] for line in lines] == [
        "phase 1: step 10/20",
        "phase 1: step 15/20",
        "phase 1: step 20/20",
    ]
    assert lines[-1].endswith("loss=0.1234)")
    assert isinstance(step_bar(3, 0, "x"), LineBar)  # pytest's stderr is not a terminal
