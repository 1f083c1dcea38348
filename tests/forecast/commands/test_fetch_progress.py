"""`forecast fetch` progress: lines in a log, a download bar with ETA on a terminal."""

from __future__ import annotations

import io

from forecast.commands.fetch import _ProgressPrinter
from forecast.data.cds import CdsProgress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _download(printer: _ProgressPrinter) -> None:
    printer(CdsProgress("era5 t850", "running", "job-1", 3.0))
    for done in (0, 5_000_000, 10_000_000):
        printer(CdsProgress("era5 t850", "downloading", "job-1", 4.0, done, 10_000_000))
    printer(CdsProgress("era5 t850", "downloaded", "job-1", 5.0, 10_000_000, 10_000_000))


def test_a_terminal_gets_a_download_bar_with_its_rate_and_eta() -> None:
    stream = _Terminal()
    _download(_ProgressPrinter(stream))
    text = stream.getvalue()
    assert "era5 t850: running" in text and "era5 t850: downloaded" in text
    assert "100%" in text and "10.0M/10.0M" in text and "\r" in text


def test_a_log_gets_lines_only() -> None:
    stream = io.StringIO()
    _download(_ProgressPrinter(stream))
    lines = stream.getvalue().splitlines()
    assert "\r" not in stream.getvalue() and "%" not in stream.getvalue()
    assert lines[0] == "  era5 t850: running (3 s)"
    assert lines[-1] == "  era5 t850: downloaded 10.0/10.0 MB (5 s)"
