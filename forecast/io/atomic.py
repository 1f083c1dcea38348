"""Atomic file writes: readers see the old file or the whole new one, never a part.

Every writer of a file that another process may read (forecasts, maps, caches, checkpoints)
goes through `atomic_output`: it hands out a temporary path in the target's own directory
(so the final rename stays on one filesystem), renames it into place on success and removes
it on any failure, so a killed or failing writer leaves no `.tmp` file behind for good.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

# Published files are read by other users (a front web server); the process umask may be 077.
FILE_MODE = 0o644
# Temporary names start with this prefix so a sweep can find what a killed writer left.
TEMP_PREFIX = ".tmp-"


def temp_path_for(path: Path) -> Path:
    """A fresh temporary path beside `path` (created empty, mode FILE_MODE)."""
    handle, name = tempfile.mkstemp(
        dir=path.parent, prefix=f"{TEMP_PREFIX}{path.name}.", suffix=".part"
    )
    os.close(handle)
    os.chmod(name, FILE_MODE)
    return Path(name)


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str], *, directory: bool = False) -> Iterator[Path]:
    """Yields a temporary path to write; on success it replaces `path` atomically.

    Args:
      path: the final file (or directory, see `directory`); its parent is created.
      directory: the output is a directory tree (a Zarr store); the temporary path is a
        fresh directory and an existing `path` is replaced as a whole.

    On any exception (including KeyboardInterrupt) the temporary output is removed and the
    exception propagates; an existing `path` is left untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if directory:
        tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f"{TEMP_PREFIX}{path.name}."))
        os.chmod(tmp, 0o755)
    else:
        tmp = temp_path_for(path)
    try:
        yield tmp
        if directory:
            if not directory_tree_readable(tmp):
                _make_tree_readable(tmp)
            if path.exists():
                old = path.with_name(f"{TEMP_PREFIX}{path.name}.old")
                shutil.rmtree(old, ignore_errors=True)
                os.replace(path, old)
                os.replace(tmp, path)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(tmp, path)
        else:
            os.chmod(tmp, FILE_MODE)
            os.replace(tmp, path)
    except BaseException:
        if directory:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Writes `data` to `path` atomically; returns the path."""
    with atomic_output(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Writes `text` (UTF-8) to `path` atomically; returns the path."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def leftover_temporaries(root: str | os.PathLike[str]) -> list[Path]:
    """Temporary outputs under `root` that a killed writer left behind (for sweeps and tests)."""
    return sorted(Path(root).rglob(f"{TEMP_PREFIX}*"))


def directory_tree_readable(root: Path) -> bool:
    """Whether every file under `root` is world-readable."""
    return all(p.stat().st_mode & 0o004 for p in root.rglob("*") if p.is_file())


def _make_tree_readable(root: Path) -> None:
    for p in root.rglob("*"):
        os.chmod(p, 0o755 if p.is_dir() else FILE_MODE)
