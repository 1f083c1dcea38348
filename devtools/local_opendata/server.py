"""A local ECMWF open-data server: the real directory layout, `.index` files and byte ranges.

Paths (under `/forecasts`, as `https://data.ecmwf.int/forecasts`):

    /{yyyymmdd}/{HH}z/ifs/0p25/{stream}/{yyyymmddHHMMSS}-{step}h-{stream}-fc.grib2
    /{yyyymmdd}/{HH}z/ifs/0p25/{stream}/{yyyymmddHHMMSS}-{step}h-{stream}-fc.index

`stream` is `oper`, or `scda` for 06/18 UTC cycles before IFS 50r1 (2026-05-12), as on the
real server; any other path is 404. GET and HEAD are served with `Accept-Ranges: bytes`; a
`Range` with one range gets a 206 with `Content-Range`, several ranges a
`multipart/byteranges` 206 (what `multiurl` asks for and decodes).

A cycle appears only `publication_delay` after its nominal time (404 before, as the real one
does), and disappears after `retention`. `Faults` makes it misbehave on demand: 503s, downloads
cut short (the announced length is kept), corrupt GRIB bytes, and parameters withheld from a
cycle's files. It binds 127.0.0.1 only.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
import uuid
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlparse

from devtools.local_opendata import opendata_format

LOGGER = logging.getLogger(__name__)

PREFIX = "/forecasts"
_PATH = re.compile(
    r"^/(?P<date>\d{8})/(?P<hour>\d{2})z/ifs/0p25/(?P<stream>[a-z]+)/"
    r"(?P<stamp>\d{14})-(?P<step>\d+)h-(?P<stream2>[a-z]+)-fc\.(?P<ext>grib2|index)$"
)
# Files kept encoded in memory (a 0.25° file is ~100 MB; tests use coarse grids).
_CACHE_FILES = 8


@dataclass
class Faults:
    """Misbehaviour switches; counters are consumed one request at a time.

    Attributes:
        unavailable: answer the next N requests (any path) with 503.
        truncate: the next N GRIB downloads stop half-way (the announced length is kept).
        corrupt: the next N GRIB downloads have their messages' end markers damaged.
        withheld: parameters missing from the files of given cycles: `{cycle: {"q", ...}}`.
        unpublished: cycles answered with 404 whatever the clock says.
    """

    unavailable: int = 0
    truncate: int = 0
    corrupt: int = 0
    withheld: dict[dt.datetime, set[str]] = field(default_factory=dict)
    unpublished: set[dt.datetime] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def take(self, name: str) -> bool:
        """Consume one unit of counter `name`; True if there was one."""
        with self._lock:
            left = getattr(self, name)
            if left > 0:
                setattr(self, name, left - 1)
                return True
            return False


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class LocalOpenData:
    """The server: start it in a thread (tests) or run it in the foreground (demo).

    Args:
        port: TCP port on 127.0.0.1; 0 picks a free one.
        grid_deg: spacing of the published grid (the real files: 0.25; tests use coarser).
        now: the server's clock (naive UTC); default the real clock. Settable while running.
        publication_delay: how long after its nominal time a cycle appears (real: ~6–8 h).
        retention: how long a cycle stays published (the real server keeps a few days).
        seed: synthetic world seed.
        pressure_geopotential: `gh` (the real files) or `z` on pressure levels.
        statics: publish surface `z` and `lsm` at step 0 (recent cycles do; older did not).
        faults: misbehaviour switches (shared object: change it while running).
    """

    def __init__(
        self,
        *,
        port: int = 0,
        grid_deg: float = 0.25,
        now: dt.datetime | None = None,
        publication_delay: dt.timedelta = dt.timedelta(hours=7),
        retention: dt.timedelta = dt.timedelta(days=4),
        seed: int = 0,
        pressure_geopotential: str = "gh",
        statics: bool = True,
        faults: Faults | None = None,
    ) -> None:
        opendata_format.grid(grid_deg)  # fail early on a grid that does not divide 180°
        self.grid_deg = grid_deg
        self.now = now
        self.publication_delay = publication_delay
        self.retention = retention
        self.seed = seed
        self.pressure_geopotential = pressure_geopotential
        self.statics = statics
        self.faults = faults or Faults()
        self.counts: Counter[str] = Counter()
        self._files: OrderedDict[tuple, tuple[bytes, bytes]] = OrderedDict()
        self._lock = threading.Lock()
        self._encode_lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """The base URL to give the client (`GCF_OPENDATA_URL`), like ECMWF's `.../forecasts`."""
        return f"http://127.0.0.1:{self.port}{PREFIX}"

    def clock(self) -> dt.datetime:
        """The server's current time (naive UTC)."""
        return self.now if self.now is not None else _now()

    def is_published(self, cycle: dt.datetime) -> bool:
        """Whether `cycle`'s files can be downloaded now."""
        if cycle.hour % 6 or cycle in self.faults.unpublished:
            return False
        now = self.clock()
        return cycle + self.publication_delay <= now < cycle + self.retention

    def latest_published(self) -> dt.datetime:
        """The newest published cycle by the clock (whatever the faults say)."""
        cycle = (self.clock() - self.publication_delay).replace(minute=0, second=0, microsecond=0)
        return cycle - dt.timedelta(hours=cycle.hour % 6)

    def start(self) -> LocalOpenData:
        """Serve in a daemon thread; returns self."""
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until interrupted."""
        self._httpd.serve_forever()

    def stop(self) -> None:
        """Stop serving."""
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> LocalOpenData:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def reset_counts(self) -> None:
        with self._lock:
            self.counts.clear()

    def count(self, kind: str) -> None:
        with self._lock:
            self.counts[kind] += 1

    def file(self, cycle: dt.datetime, step: int) -> tuple[bytes, bytes]:
        """`(grib, index)` of one cycle and step, encoded on first use."""
        withheld = frozenset(self.faults.withheld.get(cycle, ()))
        key = (cycle, step, self.grid_deg, self.seed, self.pressure_geopotential, self.statics,
               withheld)  # fmt: skip
        with self._encode_lock:
            if key in self._files:
                self._files.move_to_end(key)
                return self._files[key]
            content = opendata_format.encode_file(
                cycle,
                step,
                grid_deg=self.grid_deg,
                seed=self.seed,
                pressure_geopotential=self.pressure_geopotential,
                statics=self.statics,
                withheld=withheld,
            )
            self._files[key] = content
            while len(self._files) > _CACHE_FILES:
                self._files.popitem(last=False)
            return content

    def resolve(self, path: str) -> tuple[dt.datetime, int, str] | None:
        """`(cycle, step, ext)` of a published file's path, or None (→ 404)."""
        if not path.startswith(PREFIX + "/"):
            return None
        match = _PATH.match(path[len(PREFIX) :])
        if match is None or match["stream"] != match["stream2"]:
            return None
        try:
            cycle = dt.datetime.strptime(match["date"] + match["hour"], "%Y%m%d%H")
        except ValueError:
            return None
        step = int(match["step"])
        if (
            match["stamp"] != f"{cycle:%Y%m%d%H}0000"
            or match["stream"] != opendata_format.stream_for(cycle)
            or step not in opendata_format.valid_steps(cycle)
            or not self.is_published(cycle)
        ):
            return None
        return cycle, step, match["ext"]


def _handler_for(server: LocalOpenData) -> type[BaseHTTPRequestHandler]:
    class Handler(_Handler):
        opendata = server

    return Handler


class _Handler(BaseHTTPRequestHandler):
    opendata: LocalOpenData
    server_version = "local-opendata/1.0"
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        LOGGER.debug("%s " + format, self.address_string(), *args)

    def do_GET(self) -> None:
        self._serve(head=False)

    def do_HEAD(self) -> None:
        self._serve(head=True)

    def _serve(self, *, head: bool) -> None:
        server = self.opendata
        path = urlparse(self.path).path
        server.count("total")
        if server.faults.take("unavailable"):
            return self._status(503, "Service Unavailable")
        resolved = server.resolve(path)
        if resolved is None:
            server.count("not_found")
            return self._status(404, "Not Found")
        cycle, step, ext = resolved
        grib, index = server.file(cycle, step)
        if ext == "index":
            server.count("head_index" if head else "index")
            return self._send_whole(index, "application/json", head=head)
        server.count("head_data" if head else "data")
        if not head and server.faults.take("corrupt"):
            grib = _corrupt(grib, index)
        ranges = _parse_ranges(self.headers.get("Range"), len(grib))
        if head or ranges is None:
            return self._send_whole(grib, "application/octet-stream", head=head)
        truncate = server.faults.take("truncate")
        with server._lock:
            server.counts["ranges"] += len(ranges)
        if len(ranges) == 1:
            start, end = ranges[0]
            body = grib[start : end + 1]
            headers = {"Content-Range": f"bytes {start}-{end}/{len(grib)}"}
            return self._send(206, body, "application/octet-stream", headers, truncate=truncate)
        boundary = uuid.uuid4().hex
        parts = []
        for start, end in ranges:
            parts.append(
                f"--{boundary}\r\nContent-Type: application/octet-stream\r\n"
                f"Content-Range: bytes {start}-{end}/{len(grib)}\r\n\r\n".encode()
                + grib[start : end + 1]
                + b"\r\n"
            )
        body = b"".join(parts) + f"--{boundary}--\r\n".encode()
        self._send(206, body, f"multipart/byteranges; boundary={boundary}", {}, truncate=truncate)

    def _send_whole(self, body: bytes, mime: str, *, head: bool) -> None:
        truncate = not head and mime != "application/json" and self.opendata.faults.take("truncate")
        self._send(200, b"" if head else body, mime, {}, length=len(body), truncate=truncate)

    def _send(
        self,
        status: int,
        body: bytes,
        mime: str,
        headers: dict[str, str],
        *,
        length: int | None = None,
        truncate: bool = False,
    ) -> None:
        with self.opendata._lock:
            self.opendata.counts["bytes"] += len(body) // (2 if truncate else 1)
        self.send_response(status)
        self.send_header("Content-Type", mime)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.send_header("Accept-Ranges", "bytes")
        for key, value in headers.items():
            self.send_header(key, value)
        if truncate:
            self.send_header("Connection", "close")
        self.end_headers()
        if truncate:
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)

    def _status(self, status: int, reason: str) -> None:
        body = f"{status} {reason}\n".encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


def _parse_ranges(header: str | None, size: int) -> list[tuple[int, int]] | None:
    """The byte ranges of a `Range: bytes=a-b,c-d,e-` header, clipped to the file; None: all."""
    if not header or not header.startswith("bytes="):
        return None
    ranges = []
    for spec in header[len("bytes=") :].split(","):
        first, _, last = spec.strip().partition("-")
        if first == "":  # suffix range: the last N bytes
            start, end = max(0, size - int(last)), size - 1
        else:
            start = int(first)
            end = min(int(last), size - 1) if last else size - 1
        if start <= end:
            ranges.append((start, end))
    return ranges or None


def _corrupt(grib: bytes, index: bytes) -> bytes:
    """`grib` with every message's `7777` end marker overwritten (the lengths stay right)."""
    import json

    damaged = bytearray(grib)
    for line in index.splitlines():
        entry = json.loads(line)
        end = entry["_offset"] + entry["_length"]
        damaged[end - 4 : end] = b"XXXX"
    return bytes(damaged)
