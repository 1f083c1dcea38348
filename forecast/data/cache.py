"""The local ERA5 store: one file per `Era5Request`, never fetched twice, never half-visible.

Layout under the root (`var/cache/era5/` by default):

    <dataset>/<YYYY>/<cache_key>.<ext>       the file the CDS returned (complete, renamed in)
    <dataset>/<YYYY>/<cache_key>.json        the request, for people and audits
    <dataset>/<YYYY>/<cache_key>.part        a download in progress or interrupted (resumable)
    <dataset>/<YYYY>/<cache_key>.lock        the per-key lock file

A fetch takes an exclusive `fcntl.flock` on the key's lock file, so two flows (threads or
processes) asking for the same request download it once: the second waits, then finds the file.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from forecast.data.requests import Era5Request

LOGGER = logging.getLogger(__name__)

# The CDS returns a zip when one request mixes step types; the cache keeps what came.
_MAGIC = {b"PK\x03\x04": ".zip", b"GRIB": ".grib", b"\x89HDF": ".nc", b"CDF\x01": ".nc"}

Downloader = Callable[[Era5Request, Path], object]


class Era5Cache:
    """A directory of CDS results keyed by request.

    Args:
        root: the cache directory (created on demand).
    """

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def _stem(self, request: Era5Request) -> Path:
        return self.root / request.dataset / request.date[:4] / request.cache_key

    def get(self, request: Era5Request) -> Path | None:
        """The cached file for `request`, or None; never touches the network."""
        stem = self._stem(request)
        for ext in (".nc", ".zip", ".grib"):
            path = stem.with_suffix(ext)
            if path.is_file():
                return path
        return None

    def __contains__(self, request: Era5Request) -> bool:
        return self.get(request) is not None

    def fetch(self, request: Era5Request, download: Downloader) -> Path:
        """The file for `request`, calling `download(request, part_path)` only on a miss.

        `download` writes the whole file to `part_path` (resuming what is there if it can).
        On success the part is renamed into place atomically; on failure it is kept so the next
        attempt can resume it, and the error propagates.

        Args:
            request: what is wanted.
            download: e.g. `CdsClient(...).retrieve`.

        Returns:
            Path of the complete cached file.
        """
        hit = self.get(request)
        if hit is not None:
            LOGGER.debug("cache hit %s", hit.name)
            return hit
        stem = self._stem(request)
        stem.parent.mkdir(parents=True, exist_ok=True)
        with self._locked(stem.with_suffix(".lock")):
            hit = self.get(request)  # another flow may have fetched it while we waited
            if hit is not None:
                LOGGER.info("cache: %s arrived while waiting for the lock", hit.name)
                return hit
            part = stem.with_suffix(".part")
            LOGGER.info("cache miss: fetching %s", request.label)
            download(request, part)
            final = stem.with_suffix(_extension(part))
            _write_atomic(stem.with_suffix(".json"), json.dumps(request.to_dict(), indent=1))
            _fsync(part)
            os.replace(part, final)
            LOGGER.info("cached %s (%d bytes)", final.name, final.stat().st_size)
            return final

    def evict(self, request: Era5Request) -> None:
        """Forget `request` (e.g. its file proved corrupt): the next fetch downloads it again."""
        stem = self._stem(request)
        with self._locked(stem.with_suffix(".lock")):
            for ext in (".nc", ".zip", ".grib", ".json", ".part", ".part.json"):
                stem.with_suffix(ext).unlink(missing_ok=True)

    @staticmethod
    @contextlib.contextmanager
    def _locked(path: Path) -> Iterator[None]:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _extension(path: Path) -> str:
    with open(path, "rb") as handle:
        head = handle.read(4)
    return _MAGIC.get(head, ".nc")


def _fsync(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
