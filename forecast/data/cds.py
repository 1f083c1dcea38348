"""A Climate Data Store client over the real `cdsapi`: submit, wait with progress, download.

`cdsapi` 0.7 hands requests for the current CDS (a personal access token without `:`) to
`ecmwf.datastores.Client`, which speaks the OGC-processes API (`/retrieve/v1/processes/{dataset}/
execution`, `/jobs/{id}`, `/jobs/{id}/results`) with a `PRIVATE-TOKEN` header and retries every
HTTP call on 5xx/429/408 and dropped connections (`multiurl.robust`). This module configures it
the standard way (`CDSAPI_URL`/`CDSAPI_KEY`, `CDSAPI_RC` or `~/.cdsapirc`), gives it exponential
backoff and a finite budget, polls the job itself to report progress, downloads the result with
HTTP Range resumption, and turns every failure into a `ForecastError` carrying the CDS's message.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from forecast.data.requests import Era5Request
from forecast.errors import DataUnavailableError, ForecastError, InvalidInputError

LOGGER = logging.getLogger(__name__)

# HTTP statuses worth retrying (as multiurl's list): the CDS is busy or a proxy failed.
TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
# A stream cut short surfaces as ChunkedEncodingError (urllib3's IncompleteRead), not ConnectionError.
_INTERRUPTIONS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
)
# Small chunks: a cut connection loses the chunk being read, so this bounds the waste.
_CHUNK = 16 * 1024
# How the CDS (MARS) says a period is not published yet; ERA5T lags real time by ~5 days.
_NOT_YET_AVAILABLE = re.compile(
    r"not (yet )?available|no data available|latest date available|revise the period",
    re.IGNORECASE,
)


class CdsError(ForecastError):
    """The Climate Data Store refused or failed a request; the message is the CDS's."""


class CdsConfigurationError(CdsError):
    """No usable CDS URL/key (`CDSAPI_URL`/`CDSAPI_KEY`, `~/.cdsapirc`)."""


class CdsAuthenticationError(CdsError):
    """The CDS rejected the key (401) or the account lacks a licence (403)."""


class CdsRequestRejectedError(CdsError, InvalidInputError):
    """The CDS rejected the request itself (invalid, too large): retrying will not help."""


class CdsJobFailedError(CdsError):
    """A CDS job ran and failed."""


class CdsDataNotYetAvailableError(CdsJobFailedError, DataUnavailableError):
    """The job failed because (part of) the period is not published yet: retry later."""


class CdsUnavailableError(CdsError, DataUnavailableError):
    """The CDS stayed unreachable or busy for the whole retry budget."""


@dataclass(frozen=True)
class CdsProgress:
    """One progress report of a retrieval.

    Attributes:
        label: the request's short description.
        stage: `submitted`, `accepted` (queued), `running`, `successful`, `downloading`,
            `downloaded`.
        request_id: the CDS job id (None before submission).
        elapsed_s: seconds since submission.
        bytes_done: bytes on disk (downloading stages).
        bytes_total: expected size (downloading stages).
    """

    label: str
    stage: str
    request_id: str | None = None
    elapsed_s: float = 0.0
    bytes_done: int = 0
    bytes_total: int | None = None

    def describe(self) -> str:
        """One human line, e.g. `reanalysis-era5-... : running (12 s)`."""
        text = f"{self.label}: {self.stage}"
        if self.bytes_total:
            text += f" {self.bytes_done / 1e6:.1f}/{self.bytes_total / 1e6:.1f} MB"
        return text + f" ({self.elapsed_s:.0f} s)"


ProgressCallback = Callable[[CdsProgress], None]


@dataclass(frozen=True)
class RetryPolicy:
    """Retry budget and backoff for transient faults.

    Attributes:
        tries: attempts per HTTP call (and per download) before giving up.
        sleep_min: first wait in seconds; doubled after each failure.
        sleep_max: longest wait between tries, and between job polls.
        poll_min: first wait between job-status polls.
        timeout: seconds for connecting/reading one HTTP response.
        queue_timeout: give up (DataUnavailableError) when a job is not done after this long;
            None waits forever, like the CDS client.
    """

    tries: int = 8
    sleep_min: float = 1.0
    sleep_max: float = 60.0
    poll_min: float = 1.0
    timeout: float = 60.0
    queue_timeout: float | None = None


def resolve_configuration(url: str | None = None, key: str | None = None) -> tuple[str, str]:
    """The CDS URL and key, found the way `cdsapi` finds them.

    Arguments win, then `CDSAPI_URL`/`CDSAPI_KEY`, then the file named by `CDSAPI_RC` or
    `~/.cdsapirc` (`url: ...` and `key: ...` lines).

    Raises:
        CdsConfigurationError: if either is missing, or the key is an old-CDS `UID:KEY`.
    """
    import cdsapi.api

    try:
        url, key, _ = cdsapi.api.get_url_key_verify(url, key, None)
    except Exception as exc:  # cdsapi raises a bare Exception for a missing configuration
        raise CdsConfigurationError(
            f"CDS not configured: set CDSAPI_URL and CDSAPI_KEY or write ~/.cdsapirc ({exc})"
        ) from None
    if ":" in key:
        raise CdsConfigurationError(
            "CDS key has the old 'UID:KEY' form; the current CDS needs a personal access token"
        )
    return url.rstrip("/"), key


class CdsClient:
    """Retrieves `Era5Request`s from the CDS with the real `cdsapi` client.

    The underlying client is made on first use, so an instance that only meets cache hits never
    talks to the network.

    Args:
        url: API root (`https://cds.climate.copernicus.eu/api`); default from the configuration.
        key: personal access token; default from the configuration.
        retry: retry budget, backoff and timeouts.
        progress: called with a `CdsProgress` at every state change and while downloading.
    """

    def __init__(
        self,
        url: str | None = None,
        key: str | None = None,
        *,
        retry: RetryPolicy | None = None,
        progress: ProgressCallback | None = None,
    ) -> None:
        self.url, self._key = resolve_configuration(url, key)
        self.retry = retry or RetryPolicy()
        self.progress = progress
        self._cdsapi: Any = None
        self._download_session = requests.Session()

    def copy(self) -> CdsClient:
        """A new client with the same endpoint, key, policy and callback (for another thread)."""
        return CdsClient(self.url, self._key, retry=self.retry, progress=self.progress)

    @property
    def datastores(self) -> Any:
        """The `ecmwf.datastores.Client` that `cdsapi.Client` delegates to (made lazily)."""
        if self._cdsapi is None:
            import cdsapi

            with _translated("connecting to the CDS"):
                legacy = cdsapi.Client(
                    url=self.url,
                    key=self._key,
                    quiet=True,
                    progress=False,
                    timeout=self.retry.timeout,
                    retry_max=self.retry.tries,
                    # cdsapi uses this as the constant retry wait of its start-up call too:
                    # start short; the backoff below takes over for everything after.
                    sleep_max=self.retry.sleep_min,
                    info_callback=lambda *a, **k: _log(logging.INFO, *a, **k),
                    warning_callback=lambda *a, **k: _log(logging.WARNING, *a, **k),
                    error_callback=lambda *a, **k: _log(logging.ERROR, *a, **k),
                    debug_callback=lambda *a, **k: _log(logging.DEBUG, *a, **k),
                )
            # cdsapi passes a constant `retry_after`; multiurl also accepts (min, max, ratio),
            # which is exponential backoff. Set before the first retrieve call builds its API.
            legacy.client.sleep_max = self.retry.sleep_max
            if self.retry.sleep_min < self.retry.sleep_max:
                legacy.client.retry_after = (self.retry.sleep_min, self.retry.sleep_max, 2.0)
            else:
                legacy.client.retry_after = self.retry.sleep_max
            self._cdsapi = legacy
        return self._cdsapi.client

    def collection_end(self, dataset: str) -> Any:
        """The last valid time the CDS catalogue says `dataset` holds (aware datetime or None)."""
        with _translated(f"reading the catalogue entry of {dataset}"):
            return self.datastores.get_collection(dataset).end_datetime

    def retrieve(
        self, request: Era5Request, target: Path, *, progress: ProgressCallback | None = None
    ) -> Path:
        """Run `request` on the CDS and download its result to `target`.

        A partial `target` left by an interrupted call is resumed with an HTTP Range request
        when the CDS serves the same result file again (it does for an identical request) and
        the server supports ranges; otherwise it is restarted from the first byte.

        Args:
            request: what to retrieve.
            target: where the file goes (the cache passes its `.part` path).
            progress: overrides the client's progress callback for this call.

        Returns:
            `target`, complete (its size checked against the CDS's).

        Raises:
            CdsAuthenticationError, CdsRequestRejectedError, CdsJobFailedError,
            CdsDataNotYetAvailableError, CdsUnavailableError: as their names say.
        """
        report = progress or self.progress or (lambda event: None)
        label = request.label
        start = time.monotonic()
        with _translated(f"submitting {label}"):
            remote = self.datastores.submit(request.dataset, request.to_cds())
        job = remote.request_id
        LOGGER.info("CDS job %s: %s", job, label)
        report(CdsProgress(label, "submitted", job))
        results = self._wait(remote, label, start, report)
        with _translated(f"reading the result of job {job}"):
            href, size = results.location, results.content_length
        self._download(href, size, Path(target), label=label, job=job, start=start, report=report)
        report(CdsProgress(label, "downloaded", job, time.monotonic() - start, size, size))
        return Path(target)

    def _wait(self, remote: Any, label: str, start: float, report: ProgressCallback) -> Any:
        """Poll the job until it succeeds; return its `Results`."""
        job = remote.request_id
        sleep = self.retry.poll_min
        last = None
        while True:
            try:
                with _translated(f"polling job {job} ({label})"):
                    ready = remote.results_ready
            except (CdsAuthenticationError, CdsUnavailableError):
                raise
            except CdsError as exc:
                # The job ended badly; the CDS's reason came with the results request.
                raise _job_error(remote.last_status, job, label, str(exc)) from None
            status = remote.last_status
            elapsed = time.monotonic() - start
            if status != last:
                LOGGER.info("CDS job %s: %s after %.0f s", job, status, elapsed)
                last = status
            report(CdsProgress(label, status, job, elapsed))
            if ready:
                with _translated(f"reading the result of job {job}"):
                    return remote.get_results()
            limit = self.retry.queue_timeout
            if limit is not None and elapsed > limit:
                raise CdsUnavailableError(
                    f"CDS job {job} ({label}) still {status} after {elapsed:.0f} s "
                    f"(limit {limit:.0f} s)"
                )
            time.sleep(sleep)
            sleep = min(sleep * 1.5, self.retry.sleep_max)

    def _download(
        self,
        href: str,
        size: int,
        target: Path,
        *,
        label: str,
        job: str,
        start: float,
        report: ProgressCallback,
    ) -> None:
        """Stream `href` into `target`, resuming with Range; raise after the retry budget."""
        meta_path = target.with_name(target.name + ".json")
        meta = _read_json(meta_path)
        done = target.stat().st_size if target.exists() else 0
        if done and (meta.get("href") != href or meta.get("size") != size or done > size):
            LOGGER.warning("%s: partial file is from another result; restarting", target.name)
            done = 0
        if not done:
            target.write_bytes(b"")
        etag = meta.get("etag") if done else None
        sleep = self.retry.sleep_min
        for attempt in range(1, self.retry.tries + 1):
            headers = {}
            if done:
                headers["Range"] = f"bytes={done}-"
                if etag:
                    headers["If-Range"] = etag
                LOGGER.info("%s: resuming download at byte %d of %d", label, done, size)
            try:
                with self._download_session.get(
                    href, stream=True, headers=headers, timeout=self.retry.timeout
                ) as response:
                    if response.status_code == 416:  # our offset is beyond the file: restart
                        done, etag = 0, None
                        target.write_bytes(b"")
                        continue
                    if response.status_code in TRANSIENT_STATUSES:
                        raise requests.ConnectionError(f"HTTP {response.status_code}")
                    _raise_for_status(response, f"downloading job {job}'s result")
                    if done and not _resumes_at(response, done):
                        LOGGER.warning("%s: server ignored the Range request; restarting", label)
                        done = 0
                    etag = response.headers.get("ETag")
                    _write_json(meta_path, {"href": href, "size": size, "etag": etag})
                    with open(target, "r+b" if done else "wb") as out:
                        out.seek(done)
                        out.truncate()
                        for chunk in response.iter_content(chunk_size=_CHUNK):
                            out.write(chunk)
                            done += len(chunk)
                            report(
                                CdsProgress(
                                    label,
                                    "downloading",
                                    job,
                                    time.monotonic() - start,
                                    done,
                                    size,
                                )
                            )
            except _INTERRUPTIONS as exc:
                LOGGER.warning(
                    "%s: download interrupted at %d/%d bytes (attempt %d of %d): %s",
                    label,
                    done,
                    size,
                    attempt,
                    self.retry.tries,
                    exc,
                )
            else:
                if done == size:
                    meta_path.unlink(missing_ok=True)
                    return
                if done > size:
                    raise CdsJobFailedError(
                        f"CDS result of job {job} is {done} bytes, more than the {size} announced"
                    )
                LOGGER.warning("%s: download ended at %d of %d bytes", label, done, size)
            if attempt < self.retry.tries:
                time.sleep(sleep)
                sleep = min(sleep * 2, self.retry.sleep_max)
        raise CdsUnavailableError(
            f"download of CDS job {job} ({label}) stopped at {done} of {size} bytes after "
            f"{self.retry.tries} tries; the partial file is kept for resumption"
        )


def _resumes_at(response: requests.Response, offset: int) -> bool:
    """Whether a 206 response starts exactly at `offset`."""
    if response.status_code != 206:
        return False
    match = re.match(r"bytes (\d+)-", response.headers.get("Content-Range", ""))
    return bool(match) and int(match.group(1)) == offset


def _job_error(status: str | None, job: str, label: str, message: str) -> CdsError:
    """The error for a job that ended in `status` with the CDS's `message`."""
    text = f"CDS job {job} ({label}) {status or 'failed'}: {message.strip()}"
    if status == "rejected":
        return CdsRequestRejectedError(text)
    if _NOT_YET_AVAILABLE.search(message):
        return CdsDataNotYetAvailableError(text)
    return CdsJobFailedError(text)


class _translated:
    """Context manager turning `requests`/`ecmwf.datastores` failures into `CdsError`s."""

    def __init__(self, doing: str) -> None:
        self.doing = doing

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> bool:
        if exc is None or isinstance(exc, ForecastError):
            return False
        from ecmwf.datastores.processing import ProcessingFailedError

        if isinstance(exc, requests.HTTPError) and exc.response is not None:
            raise _http_error(exc.response.status_code, self.doing, str(exc)) from None
        if isinstance(exc, ProcessingFailedError):
            raise CdsJobFailedError(f"{self.doing}: {exc}") from None
        if isinstance(exc, requests.RequestException):
            raise CdsUnavailableError(
                f"CDS unreachable while {self.doing} (retry budget spent): {exc}"
            ) from None
        return False


def _http_error(status: int, doing: str, message: str) -> CdsError:
    """The `CdsError` for an HTTP error `status` met while `doing`."""
    # requests' message starts with "401 Client Error: ... for url: ..." then the CDS's detail.
    detail = message.strip().replace("\n", " — ")
    text = f"CDS answered HTTP {status} while {doing}: {detail}"
    if status in (401, 403):
        return CdsAuthenticationError(text)
    if status in TRANSIENT_STATUSES:
        return CdsUnavailableError(text + " (retry budget spent)")
    if 400 <= status < 500:
        return CdsRequestRejectedError(text)
    return CdsError(text)


def _raise_for_status(response: requests.Response, doing: str) -> None:
    if response.status_code >= 400:
        raise _http_error(response.status_code, doing, response.text[:500])


def _log(level: int, *args: Any, **kwargs: Any) -> None:
    """Route the CDS client's messages into this module's logger."""
    LOGGER.log(level, *args, **kwargs)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data))
    tmp.replace(path)
