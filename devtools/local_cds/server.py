"""A local Climate Data Store speaking the current CDS API, serving the synthetic world.

Endpoints (under `/api`, as `ecmwf-datastores-client` calls them):

* `GET  /catalogue/v1/messages`, `GET /catalogue/v1/collections/{dataset}` (temporal extent
  ends at the availability horizon);
* `GET  /retrieve/v1/processes/{dataset}`, `POST /retrieve/v1/processes/{dataset}/execution`
  (`{"inputs": ...}` → 201 with a `monitor` link);
* `GET  /retrieve/v1/jobs/{id}` (status `accepted` → `running` → `successful`/`failed`/
  `rejected`, with a log), `GET /retrieve/v1/jobs/{id}/results` (asset with `href`,
  `file:size`, `type`), `DELETE /retrieve/v1/jobs/{id}`;
* `POST /profiles/v1/account/verification/pat`, `GET|PUT /profiles/v1/account/licences[/{id}]`;
* `GET|HEAD /download/{id}/{file}` (no token, like the CDS's object store), with `ETag`,
  `Accept-Ranges: bytes` and `Range`/`If-Range`. Identical requests share one result file (the
  CDS caches results), so a resubmitted request's download can resume a partial file.

Everything but the catalogue and downloads needs the `PRIVATE-TOKEN` header (401 otherwise).
`Faults` makes it misbehave on demand. It binds 127.0.0.1 only.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import re
import shutil
import socket
import tempfile
import threading
import time
import uuid
import weakref
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from devtools.local_cds import cds_format
from forecast.data import lexicon
from forecast.errors import InvalidInputError

LOGGER = logging.getLogger(__name__)

DEFAULT_KEY = "00000000-0000-4000-8000-00000000c0de"
DATASETS = (lexicon.PRESSURE_LEVELS_DATASET, lexicon.SINGLE_LEVELS_DATASET)
LICENCE = {"id": "licence-to-use-copernicus-products", "revision": 12}
NOT_YET_AVAILABLE = (
    "None of the data you have requested is available yet, please revise the period requested. "
    "The latest date available for this dataset is: {latest}"
)
# ERA5 (final) trails ERA5T by about three months: newer fields carry expver "0005".
ERA5T_SPAN = dt.timedelta(days=90)


@dataclass
class Faults:
    """Misbehaviour switches; counters are consumed one request/job/download at a time.

    Attributes:
        unavailable: answer the next N requests (any endpoint) with 503.
        drop: close the connection of the next N requests without a reply.
        reject: the next N jobs end `rejected` (as a request over the cost limit does).
        fail: the next N jobs end `failed`.
        truncate: the next N downloads stop half-way (Content-Length still announces all).
        queue_seconds: how long each job stays `accepted` (a slow queue).
        run_seconds: how long each job stays `running` at least.
        ranges: honour `Range` requests (False: always send the whole file with 200).
        licence_accepted: False makes submissions fail with 403 (licence not accepted).
    """

    unavailable: int = 0
    drop: int = 0
    reject: int = 0
    fail: int = 0
    truncate: int = 0
    queue_seconds: float = 0.0
    run_seconds: float = 0.0
    ranges: bool = True
    licence_accepted: bool = True
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def take(self, name: str) -> bool:
        """Consume one unit of counter `name`; True if there was one."""
        with self._lock:
            left = getattr(self, name)
            if left > 0:
                setattr(self, name, left - 1)
                return True
            return False


@dataclass(frozen=True)
class _Result:
    """A result file; identical requests share one, as the CDS's result cache does."""

    id: str
    path: Path
    name: str
    mime: str
    etag: str


@dataclass
class _Job:
    id: str
    dataset: str
    inputs: dict[str, Any]
    created: dt.datetime
    status: str = "accepted"
    started: dt.datetime | None = None
    finished: dt.datetime | None = None
    message: str = ""
    log: list[tuple[str, str]] = field(default_factory=list)
    result: _Result | None = None

    def note(self, message: str) -> None:
        self.log.append((_iso(_now()), message))


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _iso(time: dt.datetime) -> str:
    return time.isoformat(timespec="microseconds") + "Z"


class LocalCds:
    """The server: start it in a thread (tests) or run it in the foreground (demo).

    Args:
        port: TCP port on 127.0.0.1; 0 picks a free one.
        key: the one personal access token accepted.
        available_until: newest valid time served (naive UTC); default now − `latency`.
        latency: how far behind real time the data ends (ERA5T: about 5 days).
        seed: synthetic world seed.
        faults: misbehaviour switches (shared object: change it while running).
    """

    def __init__(
        self,
        *,
        port: int = 0,
        key: str = DEFAULT_KEY,
        available_until: dt.datetime | None = None,
        latency: dt.timedelta = dt.timedelta(days=5),
        seed: int = 0,
        faults: Faults | None = None,
    ) -> None:
        self.key = key
        self.seed = seed
        self.latency = latency
        self._available_until = available_until
        self.faults = faults or Faults()
        self.jobs: dict[str, _Job] = {}
        self.counts: Counter[str] = Counter()
        self.submitted: list[dict[str, Any]] = []
        self.results: dict[str, _Result] = {}
        self._active = 0
        self._lock = threading.Lock()
        self._files = Path(tempfile.mkdtemp(prefix="local-cds-"))
        # Removed by stop(); also when a server is dropped unstopped (a failed test) or at exit.
        weakref.finalize(self, shutil.rmtree, self._files, True)
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def root(self) -> str:
        """Server root, e.g. `http://127.0.0.1:8765`."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The API URL to give `cdsapi` (`CDSAPI_URL`)."""
        return f"{self.root}/api"

    @property
    def available_until(self) -> dt.datetime:
        """Newest valid time with data (naive UTC, on the hour)."""
        if self._available_until is not None:
            return self._available_until
        return (_now() - self.latency).replace(minute=0, second=0, microsecond=0)

    @available_until.setter
    def available_until(self, value: dt.datetime | None) -> None:
        self._available_until = value

    def start(self) -> LocalCds:
        """Serve in a daemon thread; returns self."""
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until interrupted."""
        self._httpd.serve_forever()

    def stop(self) -> None:
        """Stop serving and delete the result files."""
        self._httpd.shutdown()
        self._httpd.server_close()
        shutil.rmtree(self._files, ignore_errors=True)

    def __enter__(self) -> LocalCds:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def reset_counts(self) -> None:
        with self._lock:
            self.counts.clear()
            self.submitted.clear()

    # ------------------------------------------------------------------ jobs

    def submit(self, dataset: str, inputs: dict[str, Any]) -> _Job:
        parsed = cds_format.parse_request(dataset, inputs)  # invalid → 400 at submission
        job = _Job(uuid.uuid4().hex, dataset, inputs, _now())
        job.note("Request is queued")
        with self._lock:
            self.jobs[job.id] = job
            self.submitted.append({"dataset": dataset, "inputs": inputs})
        threading.Thread(target=self._run, args=(job, parsed), daemon=True).start()
        return job

    def _run(self, job: _Job, parsed: dict[str, Any]) -> None:
        with self._lock:
            self._active += 1
            self.counts["peak_active"] = max(self.counts["peak_active"], self._active)
        try:
            self._process(job, parsed)
        finally:
            with self._lock:
                self._active -= 1

    def _process(self, job: _Job, parsed: dict[str, Any]) -> None:
        time.sleep(self.faults.queue_seconds)
        if self.faults.take("reject"):
            job.message = "Your request is too large, please reduce your selection (cost limits)."
            job.note(f"ERROR: {job.message}")
            job.status, job.finished = "rejected", _now()
            return
        job.status, job.started = "running", _now()
        job.note("Processing request")
        start = time.monotonic()
        latest = self.available_until
        try:
            if self.faults.take("fail"):
                raise RuntimeError("MARS server error (simulated failure); please try again later")
            if max(parsed["times"]) > latest:
                raise RuntimeError(NOT_YET_AVAILABLE.format(latest=f"{latest:%Y-%m-%d %H:%M}"))
            key = hashlib.sha256(
                json.dumps([job.dataset, job.inputs], sort_keys=True).encode()
            ).hexdigest()[:32]
            result = self.results.get(key)
            if result is None:
                content, name, mime = cds_format.build_result(
                    job.dataset, parsed, seed=self.seed, era5t_after=latest - ERA5T_SPAN
                )
                path = self._files / f"{key}-{name}"
                path.write_bytes(content)
                etag = '"' + hashlib.md5(content).hexdigest() + '"'
                result = _Result(key, path, name, mime, etag)
                with self._lock:
                    self.results[key] = result
            else:
                job.note("Result served from the cache")
        except (RuntimeError, InvalidInputError) as exc:
            job.message = str(exc)
            job.note(f"ERROR: {job.message}")
            job.status, job.finished = "failed", _now()
            return
        time.sleep(max(0.0, self.faults.run_seconds - (time.monotonic() - start)))
        job.result = result
        job.note("Request is completed")
        job.status, job.finished = "successful", _now()


def _handler_for(server: LocalCds) -> type[BaseHTTPRequestHandler]:
    class Handler(_Handler):
        cds = server

    return Handler


class _Handler(BaseHTTPRequestHandler):
    cds: LocalCds
    server_version = "local-cds/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        LOGGER.debug("%s " + format, self.address_string(), *args)

    # --------------------------------------------------------------- dispatch

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        path = urlparse(self.path).path
        cds = self.cds
        kind = _kind(method, path)
        with cds._lock:
            cds.counts["total"] += 1
            cds.counts[kind] += 1
        if cds.faults.take("drop"):
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if cds.faults.take("unavailable"):
            return self._error(503, "Service Unavailable", "The service is temporarily busy")
        body = self._body()
        if path.startswith("/download/"):
            return self._download(method, path)
        if not path.startswith("/api/"):
            return self._error(404, "Not Found", f"no such path {path}")
        api = path[len("/api") :]
        if api == "/catalogue/v1/messages":
            return self._json({"messages": []})
        if m := re.fullmatch(r"/catalogue/v1/collections/([\w.-]+)", api):
            return self._collection(m.group(1))
        if self.headers.get("PRIVATE-TOKEN") != cds.key:
            return self._error(
                401,
                "Authentication failed",
                "The personal access token is missing or not valid; check your API key.",
            )
        if api == "/profiles/v1/account/verification/pat" and method == "POST":
            return self._json({"id": "local-user", "sub": "local-user"})
        if api == "/profiles/v1/account/licences":
            return self._json({"licences": [dict(LICENCE)] if cds.faults.licence_accepted else []})
        if m := re.fullmatch(r"/profiles/v1/account/licences/([\w.-]+)", api):
            cds.faults.licence_accepted = True
            return self._json({"id": m.group(1), "revision": LICENCE["revision"]})
        if m := re.fullmatch(r"/retrieve/v1/processes/([\w.-]+)", api):
            return self._process(m.group(1))
        if m := re.fullmatch(r"/retrieve/v1/processes/([\w.-]+)/execution", api):
            if method != "POST":
                return self._error(405, "Method Not Allowed", "POST a request")
            return self._execute(m.group(1), body)
        if m := re.fullmatch(r"/retrieve/v1/jobs/(\w+)", api):
            return self._job(m.group(1), method)
        if m := re.fullmatch(r"/retrieve/v1/jobs/(\w+)/results", api):
            return self._results(m.group(1))
        return self._error(404, "Not Found", f"no such endpoint {api}")

    # -------------------------------------------------------------- endpoints

    def _collection(self, dataset: str) -> None:
        if dataset not in DATASETS:
            return self._error(404, "Collection not found", f"collection {dataset} not found")
        end = self.cds.available_until
        self._json(
            {
                "id": dataset,
                "title": dataset.replace("-", " "),
                "description": "Synthetic ERA5 served by the local CDS",
                "published": "2018-06-14T00:00:00Z",
                "updated": _iso(_now()),
                "extent": {
                    "spatial": {"bbox": [[-180.0, -90.0, 180.0, 90.0]]},
                    "temporal": {"interval": [["1940-01-01T00:00:00Z", _iso(end)]]},
                },
                "links": [
                    {"rel": "retrieve", "href": f"{self.cds.url}/retrieve/v1/processes/{dataset}"}
                ],
            }
        )

    def _process(self, dataset: str) -> None:
        if dataset not in DATASETS:
            return self._error(404, "Process not found", f"process {dataset} not found")
        self._json(
            {
                "id": dataset,
                "title": dataset,
                "version": "1.0.0",
                "jobControlOptions": ["async-execute"],
                "outputTransmission": ["reference"],
                "links": [
                    {"rel": "self", "href": f"{self.cds.url}/retrieve/v1/processes/{dataset}"}
                ],
            }
        )

    def _execute(self, dataset: str, body: dict[str, Any]) -> None:
        if dataset not in DATASETS:
            return self._error(404, "Process not found", f"process {dataset} not found")
        if not self.cds.faults.licence_accepted:
            return self._error(
                403,
                "required licences not accepted",
                f"Not all the required licences have been accepted; please accept "
                f"{LICENCE['id']} on the dataset page.",
            )
        try:
            job = self.cds.submit(dataset, body.get("inputs", {}))
        except InvalidInputError as exc:
            return self._error(400, "invalid request", str(exc))
        self._json(self._job_json(job), status=201)

    def _job_json(self, job: _Job) -> dict[str, Any]:
        url = f"{self.cds.url}/retrieve/v1/jobs/{job.id}"
        data = {
            "processID": job.dataset,
            "type": "process",
            "jobID": job.id,
            "status": job.status,
            "created": _iso(job.created),
            "updated": _iso(_now()),
            "links": [
                {"href": url, "rel": "monitor", "type": "application/json"},
                {"href": url, "rel": "self", "type": "application/json"},
            ],
            "metadata": {"request": {"ids": job.inputs}, "log": list(job.log)},
        }
        if job.started:
            data["started"] = _iso(job.started)
        if job.finished:
            data["finished"] = _iso(job.finished)
        if job.status in ("successful", "failed", "rejected"):
            data["links"].append({"href": f"{url}/results", "rel": "results"})
        return data

    def _job(self, job_id: str, method: str) -> None:
        job = self.cds.jobs.get(job_id)
        if job is None:
            return self._error(404, "job not found", f"job {job_id} not found")
        if method == "DELETE":
            job.status = "dismissed"
        data = self._job_json(job)
        start = self._query().get("logStartTime")
        if start:  # the client asks only for log lines newer than the last one it saw
            data["metadata"]["log"] = [entry for entry in job.log if entry[0] > start]
        self._json(data)

    def _results(self, job_id: str) -> None:
        job = self.cds.jobs.get(job_id)
        if job is None:
            return self._error(404, "job not found", f"job {job_id} not found")
        if job.status in ("failed", "rejected"):
            return self._error(400, f"The job has {job.status}", job.message, traceback=job.message)
        result = job.result
        if job.status != "successful" or result is None:
            return self._error(404, "results not ready", f"job {job_id} is {job.status}")
        self._json(
            {
                "asset": {
                    "value": {
                        "type": result.mime,
                        "href": f"{self.cds.root}/download/{result.id}/{result.name}",
                        "file:size": result.path.stat().st_size,
                        "file:checksum": result.etag.strip('"'),
                    }
                }
            }
        )

    def _download(self, method: str, path: str) -> None:
        m = re.fullmatch(r"/download/(\w+)/([\w.-]+)", path)
        result = self.cds.results.get(m.group(1)) if m else None
        if result is None or result.name != m.group(2):
            return self._error(404, "Not Found", "no such file")
        content = result.path.read_bytes()
        size = len(content)
        start, status = 0, 200
        wanted = self.headers.get("Range")
        if_range = self.headers.get("If-Range")
        if wanted and self.cds.faults.ranges and (not if_range or if_range == result.etag):
            r = re.fullmatch(r"bytes=(\d+)-", wanted.strip())
            if not r or int(r.group(1)) >= size:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            start, status = int(r.group(1)), 206
            with self.cds._lock:
                self.cds.counts["download_resumed"] += 1
        self.send_response(status)
        self.send_header("Content-Type", result.mime)
        self.send_header("Content-Length", str(size - start))
        self.send_header("ETag", result.etag)
        if self.cds.faults.ranges:
            self.send_header("Accept-Ranges", "bytes")
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
        self.end_headers()
        if method == "HEAD":
            return
        if self.cds.faults.take("truncate"):
            cut = start + (size - start) // 2
            self.wfile.write(content[start:cut])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(content[start:])

    # ---------------------------------------------------------------- helpers

    def _query(self) -> dict[str, str]:
        from urllib.parse import parse_qs

        return {k: v[-1] for k, v in parse_qs(urlparse(self.path).query).items()}

    def _body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        if not length:
            return {}
        try:
            return json.loads(self.rfile.read(length))
        except ValueError:
            return {}

    def _json(self, data: Any, status: int = 200) -> None:
        payload = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def _error(self, status: int, title: str, detail: str, **extra: Any) -> None:
        self._json(
            {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra},
            status=status,
        )


def _kind(method: str, path: str) -> str:
    """A short name for the endpoint, for request counting."""
    if path.startswith("/download/"):
        return "download" if method == "GET" else "download_head"
    if path.endswith("/execution"):
        return "submit"
    if path.endswith("/results"):
        return "results"
    if "/jobs/" in path:
        return "status"
    if "/processes/" in path:
        return "process"
    if "/collections/" in path:
        return "collection"
    if path.endswith("/messages"):
        return "messages"
    return "other"
