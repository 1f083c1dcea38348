"""Fixtures shared by the whole suite: where the shared reference material lives."""

from __future__ import annotations

import os
from pathlib import Path

import pyproj  # noqa: F401  - must load before any NetCDF file is opened, see below
import pytest

# pyproj (cartopy) initialises its bundled PROJ/libcurl at import; if netCDF4 has opened a file
# first, that corrupts the heap and the process aborts at exit ("double free or corruption").
# Importing pyproj first avoids it. Workers do the same in webapp/verification/tasks.py.

REPO_ROOT = Path(__file__).resolve().parents[1]
# ../shared beside the checkout (CI clones main with shared/ beside it).
SHARED_DIR = Path(os.environ.get("GCF_SHARED_DIR", REPO_ROOT.parent / "shared"))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED_DIR.is_dir():
        pytest.skip(f"shared reference material not found at {SHARED_DIR}")
    return SHARED_DIR


@pytest.fixture(scope="session")
def vectors_dir(shared_dir: Path) -> Path:
    return shared_dir / "graphcast" / "vectors"
