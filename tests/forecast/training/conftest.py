"""Fixtures of the training tests: a small synthetic archive and its statistics."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from forecast.data.synthetic import write_synthetic_archive
from forecast.training.statistics import statistics_from_archive


@pytest.fixture(scope="session")
def small_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three days of the synthetic world on a 10° grid (13 levels, every variable)."""
    path = tmp_path_factory.mktemp("archive") / "world-10deg.nc"
    times = pd.date_range("2026-01-01", "2026-01-03T18", freq="6h")
    return write_synthetic_archive(path, times, grid_deg=10.0, chunk_times=4)


@pytest.fixture(scope="session")
def small_stats(small_archive: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """DeepMind-layout statistics of `small_archive`."""
    return statistics_from_archive(small_archive, tmp_path_factory.mktemp("stats"))
