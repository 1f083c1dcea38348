"""Where a run's code and data came from: file hashes, git commit, library versions."""

from __future__ import annotations

import importlib.metadata
import subprocess
from functools import lru_cache

from webapp.config.env import REPO_ROOT

LIBRARIES = ("jax", "jaxlib", "dm-haiku", "numpy", "xarray", "django", "celery", "prefect")


@lru_cache(maxsize=1)
def code_version() -> str:
    """The git commit of the checkout (with `+dirty` when it has uncommitted changes)."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return commit + ("+dirty" if dirty else "")


@lru_cache(maxsize=1)
def library_versions() -> dict[str, str]:
    """Installed versions of the libraries that shape a forecast."""
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions
