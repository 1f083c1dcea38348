"""ECMWF's real-time IFS open data as a source of GraphCast inputs and of tier-1 truth.

ERA5T reaches the CDS about five days late, so forecasts of the coming days start from the
operational IFS HRES analysis that ECMWF publishes four times a day as open data
(https://www.ecmwf.int/en/forecasts/datasets/open-data), fetched with the real
`ecmwf-opendata` client. Its conventions, which this module follows:

* files `{base}/{yyyymmdd}/{HH}z/ifs/0p25/{stream}/{yyyymmddHHMMSS}-{step}h-{stream}-fc.grib2`,
  `stream` being `oper` (06/18 UTC cycles before IFS 50r1, 2026-05-12: `scda`; the client
  decides), with a `.index` beside each: one JSON line per GRIB2 message with its MARS keys,
  `_offset` and `_length`; the client reads the index and fetches the fields by byte range;
* GRIB2 on a 0.25° grid, latitudes 90 → −90, longitudes −180 → 179.75;
* on 13 pressure levels (GraphCast's 13) `gh` (geopotential height; `z` on some cycles), `t`,
  `u`, `v`, `w`, `q`; at the surface `2t`, `msl`, `10u`, `10v`; at step 0 of recent cycles the
  constant fields `z` (surface geopotential) and `lsm`;
* a cycle appears some 6–8 h after its nominal time, file by file.

The two input frames of init time T are the step-0 fields (the analysis) of cycles T − 6 h and
T. TOA incident solar radiation is not published; it is derived exactly as for the synthetic
world (`forecast.model.solar_radiation`, ERA5's definition: the hour ending at each time).
Static fields come from the cycle where it publishes them, else once from ERA5 through the CDS
cache; the output's `statics_source` attribute says which.

Each (cycle, level type) retrieval is one entry of the same cache as ERA5 (`Era5Cache`, atomic,
locked): a second identical fetch makes no request. A download cut short is retried (the
client's transfer of several byte ranges cannot resume mid-entry, so the entry is fetched
again); a cycle not published yet is `DataUnavailableError` (retry later); a published cycle
lacking a field, or a corrupt GRIB, is `InvalidInputError` naming the cycle and field.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from forecast import variables as V
from forecast.data import lexicon
from forecast.data.cache import Era5Cache
from forecast.data.cds import RetryPolicy
from forecast.errors import DataUnavailableError, InvalidInputError
from forecast.times import STEP_TIMEDELTA, SYNOPTIC_HOURS, to_utc

LOGGER = logging.getLogger(__name__)

# ECMWF's own open-data server (the client's `source="ecmwf"`); mirrors work the same way.
DEFAULT_URL = "https://data.ecmwf.int/forecasts"
DATASET = "ifs-opendata"
# Newest-cycle search: the real server keeps a few days; two are plenty to find the newest.
DEFAULT_LOOKBACK = dt.timedelta(days=2)
# GRIB2 code table 1.3: 1 = operational test products (the local server's synthetic fields).
TEST_PRODUCTS = 1
# Model variables the open data give per input frame (no precipitation: HRES has no analysis
# of it, which is why GraphCast_operational does not read it).
SURFACE_VARIABLES = V.TARGET_SURFACE_NO_PRECIP_VARS
ATMOSPHERIC_VARIABLES = V.TARGET_ATMOSPHERIC_VARS
INPUT_VARIABLES = SURFACE_VARIABLES + ATMOSPHERIC_VARIABLES + V.EXTERNAL_FORCING_VARS
TRUTH_VARIABLES = SURFACE_VARIABLES + ATMOSPHERIC_VARIABLES


# ---------------------------------------------------------------------------------- requests


@dataclass(frozen=True)
class OpenDataRequest:
    """One retrieval: the fields of one level type from one cycle's file at one step.

    Duck-types the parts of `Era5Request` the cache uses (`dataset`, `date`, `cache_key`,
    `label`, `to_dict`).

    Attributes:
        cycle: the cycle, ISO `YYYY-MM-DDTHH` (UTC).
        levtype: `pl` or `sfc`.
        params: open-data parameters (sorted).
        levels: hPa for `pl`; empty for `sfc`.
        step: forecast step in hours (0: the analysis).
    """

    cycle: str
    levtype: str
    params: tuple[str, ...]
    levels: tuple[int, ...] = ()
    step: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", tuple(sorted(set(self.params))))
        object.__setattr__(self, "levels", tuple(sorted({int(x) for x in self.levels})))
        if self.levtype not in ("pl", "sfc") or (self.levtype == "pl") != bool(self.levels):
            raise InvalidInputError(f"open-data request: bad levtype/levels {self.levtype}")

    dataset = DATASET

    @property
    def time(self) -> dt.datetime:
        """The cycle as a naive UTC datetime."""
        return dt.datetime.fromisoformat(self.cycle)

    @property
    def date(self) -> str:
        return self.cycle[:10]

    @property
    def cache_key(self) -> str:
        digest = hashlib.sha256(self.to_json().encode()).hexdigest()[:16]
        return f"{self.levtype}-{self.cycle.replace(':', '')}-{self.step}h-{digest}"

    @property
    def label(self) -> str:
        levels = f" x {len(self.levels)} levels" if self.levels else ""
        return f"IFS open data {self.cycle}Z +{self.step}h {'/'.join(self.params)}{levels}"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(dataset=DATASET, params=list(self.params), levels=list(self.levels))
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    def to_client(self) -> dict[str, Any]:
        """The request as `ecmwf.opendata.Client.retrieve` takes it (HRES forecast file)."""
        request: dict[str, Any] = {
            "date": self.time.strftime("%Y-%m-%d"),
            "time": self.time.hour,
            "step": self.step,
            "stream": "oper",
            "type": "fc",
            "levtype": self.levtype,
            "param": list(self.params),
        }
        if self.levels:
            request["levelist"] = list(self.levels)
        return request


def _cycle_text(cycle: dt.datetime) -> str:
    return f"{cycle:%Y-%m-%dT%H}"


# ------------------------------------------------------------------------------------ client


class OpenDataClient:
    """Fetches open-data files and indexes with the real `ecmwf-opendata` client.

    Args:
        url: the server's base URL (ECMWF's `https://data.ecmwf.int/forecasts` or a mirror;
            the caller reads `GCF_OPENDATA_URL`, this library reads no environment).
        retry: tries, backoff and the per-response timeout.
    """

    def __init__(self, url: str = DEFAULT_URL, *, retry: RetryPolicy | None = None) -> None:
        from ecmwf.opendata import Client

        self.url = url.rstrip("/")
        self.retry = retry or RetryPolicy(tries=5, sleep_min=2.0, sleep_max=60.0)
        # `maximum_retries`/`retry_after`: the client's own retries of 5xx/429 and dropped
        # connections (multiurl); ours (below) cover transfers that break mid-body.
        self._client = Client(
            source=self.url,
            maximum_retries=self.retry.tries,
            retry_after=self.retry.sleep_min,
        )
        self._client.session = _TimeoutSession(self.retry.timeout)
        self.requests = 0  # index and data requests made, for logs and tests

    def file_url(self, cycle: dt.datetime, step: int = 0) -> str:
        """The GRIB2 URL of `cycle`'s HRES file at `step`, as the client builds it."""
        # The client's own URL builder (what `Client.latest` uses): stream and directory
        # conventions (`scda` before IFS 50r1, `0p25`) stay the client's.
        result = self._client._get_urls(
            None, use_index=False, date=cycle, time=cycle.hour, step=step, stream="oper", type="fc"
        )
        return result.urls[0]

    def index(self, cycle: dt.datetime, step: int = 0) -> list[dict[str, Any]] | None:
        """The `.index` entries of `cycle`'s file at `step`, or None if it is not published.

        Raises:
            DataUnavailableError: the server kept failing.
            InvalidInputError: the index is not JSON lines.
        """
        import requests

        url = os.path.splitext(self.file_url(cycle, step))[0] + ".index"
        self.requests += 1
        try:
            response = self._client._robust(self._client.session.get)(url)
        except requests.RequestException as exc:
            raise DataUnavailableError(f"open data: {url} unreachable: {exc}") from None
        if response.status_code == 404:
            return None
        if response.status_code >= 400:
            raise DataUnavailableError(f"open data: {url} answered HTTP {response.status_code}")
        try:
            return [json.loads(line) for line in response.text.splitlines() if line.strip()]
        except json.JSONDecodeError as exc:
            raise InvalidInputError(f"open data: {url} is not a JSON-lines index: {exc}") from None

    def retrieve(self, request: OpenDataRequest, target: Path) -> None:
        """Download `request`'s fields into `target` (byte ranges read from the index).

        Raises:
            DataUnavailableError: the cycle is not published (404), or the server or the
                transfer kept failing.
            InvalidInputError: the cycle's index lists none of the fields.
        """
        import requests

        sleep = self.retry.sleep_min
        for attempt in range(1, self.retry.tries + 1):
            self.requests += 1
            try:
                self._client.retrieve(request.to_client(), target=str(target))
                return
            except requests.HTTPError as exc:
                status = exc.response.status_code if exc.response is not None else None
                url = exc.response.url if exc.response is not None else "?"
                if status == 404:
                    raise DataUnavailableError(
                        f"open data: cycle {request.cycle}Z +{request.step}h is not published "
                        f"(yet) at {self.url}: HTTP 404 for {url}"
                    ) from None
                if status is not None and 400 <= status < 500:
                    raise InvalidInputError(
                        f"open data: {url} refused {request.label}: HTTP {status}"
                    ) from None
                problem = f"HTTP {status} for {url}"
            except ValueError as exc:  # the client: "Cannot find index entries matching ..."
                raise InvalidInputError(
                    f"open data: cycle {request.cycle}Z publishes none of "
                    f"{', '.join(request.params)} ({request.levtype}): {exc}"
                ) from None
            except (requests.RequestException, AssertionError) as exc:
                # A transfer cut short: requests' ChunkedEncodingError/ConnectionError (single
                # and multi-range transfers alike), or multiurl's size/part assertions.
                problem = f"{type(exc).__name__}: {exc}"
            if attempt == self.retry.tries:
                raise DataUnavailableError(
                    f"open data: {request.label} failed {attempt} times at {self.url}; "
                    f"last: {problem}"
                )
            LOGGER.warning(
                "open data: %s attempt %d failed (%s); retrying", request.label, attempt, problem
            )
            Path(target).unlink(missing_ok=True)
            time.sleep(sleep)
            sleep = min(sleep * 2, self.retry.sleep_max)


class _TimeoutSession:
    """A `requests.Session` whose calls time out (the client passes none of its own)."""

    def __init__(self, timeout: float) -> None:
        import requests

        self._session = requests.Session()
        self._timeout = timeout

    def get(self, url: str, **kwargs: Any) -> Any:
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self._timeout
        return self._session.get(url, **kwargs)

    def head(self, url: str, **kwargs: Any) -> Any:
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self._timeout
        return self._session.head(url, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)


# ------------------------------------------------------------------------------ availability


def _index_fields(entries: Sequence[dict[str, Any]]) -> set[tuple[str, str, int | None]]:
    """`(param, levtype, level)` of every index entry."""
    fields = set()
    for entry in entries:
        level = entry.get("levelist")
        fields.add(
            (str(entry.get("param")), str(entry.get("levtype")), int(level) if level else None)
        )
    return fields


def missing_fields(
    entries: Sequence[dict[str, Any]],
    *,
    variables: Sequence[str],
    levels: Sequence[int],
) -> list[str]:
    """What the indexed file lacks of `variables` on `levels` (empty: complete).

    Geopotential counts as present with `z` or `gh` on every level.
    """
    have = _index_fields(entries)
    missing = []
    for name in variables:
        options = lexicon.opendata_params(name)
        wanted_levels = list(levels) if options[0].levtype == "pl" else [None]
        found = False
        for option in options:
            if all((option.param, option.levtype, lv) in have for lv in wanted_levels):
                found = True
                break
        if not found:
            absent = [
                lv for lv in wanted_levels if (options[0].param, options[0].levtype, lv) not in have
            ]
            where = f" at {', '.join(str(x) for x in absent)} hPa" if absent != [None] else ""
            missing.append(f"{'/'.join(o.param for o in options)} ({name}){where}")
    return missing


def floor_to_cycle(time_: dt.datetime) -> dt.datetime:
    """The latest nominal cycle (00/06/12/18 UTC) at or before `time_`."""
    time_ = time_.replace(minute=0, second=0, microsecond=0)
    return time_ - dt.timedelta(hours=time_.hour % (24 // len(SYNOPTIC_HOURS)))


class _Completeness:
    """Whether cycles are complete, each cycle's index read at most once."""

    def __init__(
        self, client: OpenDataClient, *, variables: Sequence[str], levels: Sequence[int]
    ) -> None:
        self._client, self._variables, self._levels = client, variables, levels
        self._known: dict[dt.datetime, bool] = {}

    def __call__(self, cycle: dt.datetime) -> bool:
        if cycle not in self._known:
            entries = self._client.index(cycle)
            gaps = (
                ["the whole cycle (not published)"]
                if entries is None
                else missing_fields(entries, variables=self._variables, levels=self._levels)
            )
            if gaps:
                LOGGER.info("open data: cycle %sZ incomplete: %s", _cycle_text(cycle), gaps)
            self._known[cycle] = not gaps
        return self._known[cycle]


def _now_hour(now: dt.datetime | None) -> dt.datetime:
    if now is None:
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    elif now.tzinfo is not None:
        now = now.astimezone(dt.UTC).replace(tzinfo=None)
    return now.replace(minute=0, second=0, microsecond=0)


def latest_cycle(
    client: OpenDataClient,
    *,
    now: dt.datetime | None = None,
    levels: Sequence[int] = V.PRESSURE_LEVELS_13,
    variables: Sequence[str] = SURFACE_VARIABLES + ATMOSPHERIC_VARIABLES,
    lookback: dt.timedelta = DEFAULT_LOOKBACK,
) -> dt.datetime:
    """The newest init time T whose two input cycles (T − 6 h and T) are complete.

    Reads the step-0 `.index` of each candidate cycle (newest first; a few kB each), like the
    client's `latest()` but requiring every field rather than the file's mere existence: a
    cycle still being written, or one lacking a field, is passed over.

    Raises:
        DataUnavailableError: nothing complete within `lookback`.
    """
    now = _now_hour(now)
    is_complete = _Completeness(client, variables=variables, levels=levels)
    cycle = floor_to_cycle(now)
    while cycle > now - lookback:
        if is_complete(cycle) and is_complete(cycle - STEP_TIMEDELTA):
            return cycle
        cycle -= STEP_TIMEDELTA
    raise DataUnavailableError(
        f"open data: no complete pair of cycles at {client.url} in the {lookback} before "
        f"{now:%Y-%m-%dT%H:%M} UTC"
    )


def analysis_available_until(
    client: OpenDataClient,
    *,
    now: dt.datetime | None = None,
    levels: Sequence[int] = V.PRESSURE_LEVELS_13,
    lookback: dt.timedelta = DEFAULT_LOOKBACK,
) -> dt.datetime:
    """The newest valid time whose IFS analysis (step 0) is published complete: tier-1 truth.

    Raises:
        DataUnavailableError: nothing complete within `lookback`.
    """
    now = _now_hour(now)
    is_complete = _Completeness(client, variables=TRUTH_VARIABLES, levels=levels)
    cycle = floor_to_cycle(now)
    while cycle > now - lookback:
        if is_complete(cycle):
            return cycle
        cycle -= STEP_TIMEDELTA
    raise DataUnavailableError(
        f"open data: no complete analysis at {client.url} in the {lookback} before "
        f"{now:%Y-%m-%dT%H:%M} UTC"
    )


def is_operational_task(task: Any) -> bool:
    """Whether a checkpoint's task runs on operational analyses: it reads no precipitation.

    DeepMind's `GraphCast_operational` (fine-tuned on HRES analyses, which have no
    precipitation) is the model of such a task; ERA5-trained tasks read
    `total_precipitation_6hr`, which only ERA5 provides.
    """
    return "total_precipitation_6hr" not in tuple(task.input_variables)


def default_source_for_task(task: Any) -> str:
    """The data source a cycle runs a checkpoint on by default: `opendata` for an
    operational-style task, `cds` (ERA5) otherwise."""
    return "opendata" if is_operational_task(task) else "cds"


# --------------------------------------------------------------------------------- fetching


def _frame_requests(
    cycle: dt.datetime, *, levels: Sequence[int], variables: Sequence[str], statics: bool
) -> list[list[OpenDataRequest]]:
    """Per level type, the candidate requests for one cycle's fields, preferred first.

    Pressure levels: with `z` where the cycle publishes it, else `gh`. Surface: with the
    statics (`z`, `lsm`) when wanted, else without. Listing every candidate lets a cache hit
    be found without asking the server which one the cycle can satisfy.
    """
    cycle_text = _cycle_text(cycle)
    pl = [n for n in variables if lexicon.opendata_params(n)[0].levtype == "pl"]
    sfc = [lexicon.opendata_params(n)[0].param for n in variables if n not in pl]
    groups: list[list[OpenDataRequest]] = []
    if pl:
        fixed = [lexicon.opendata_params(n)[0].param for n in pl if n != "geopotential"]
        geo = lexicon.opendata_params("geopotential") if "geopotential" in pl else ()
        groups.append(
            [
                OpenDataRequest(cycle_text, "pl", tuple(fixed + [g.param]), tuple(levels))
                for g in geo
            ]
            or [OpenDataRequest(cycle_text, "pl", tuple(fixed), tuple(levels))]
        )
    static_params = [lexicon.opendata_params(n)[0].param for n in V.STATIC_VARS]
    groups.append(
        ([OpenDataRequest(cycle_text, "sfc", tuple(sfc + static_params))] if statics else [])
        + [OpenDataRequest(cycle_text, "sfc", tuple(sfc))]
    )
    return groups


def _satisfies(entries: Sequence[dict[str, Any]], request: OpenDataRequest) -> bool:
    """Whether the indexed file holds every field of `request`."""
    have = _index_fields(entries)
    levels = request.levels or (None,)
    return all((p, request.levtype, lv) in have for p in request.params for lv in levels)


def fetch_cycle(
    cycle: dt.datetime,
    *,
    levels: Sequence[int],
    variables: Sequence[str],
    statics: bool,
    cache: Era5Cache,
    client_factory: Any,
) -> tuple[xr.Dataset, dict[str, Any]]:
    """The step-0 fields of `cycle` on the published grid, fetched through `cache`.

    A cycle whose entries are all cached costs no request; otherwise its index is read once
    to check it is published and complete and to pick the candidates it satisfies.

    Returns:
        `(dataset, facts)`: dataset with dims `level`, `lat`, `lon` as published (ERA5 long
        names, SI units, no time axis); facts: `requests` (cache keys), `pressure_geopotential`
        (`z` or `gh`), `statics` (whether the cycle gave them), `test_products`.

    Raises:
        DataUnavailableError: cycle not published / transfer kept failing.
        InvalidInputError: a field missing from the cycle, or a corrupt file.
    """
    entries: list[dict[str, Any]] | None = None
    chosen: list[OpenDataRequest] = []
    for group in _frame_requests(cycle, levels=levels, variables=variables, statics=statics):
        hit = next((request for request in group if request in cache), None)
        if hit is None:
            if entries is None:
                client = client_factory()
                entries = client.index(cycle)
                if entries is None:
                    raise DataUnavailableError(
                        f"open data: cycle {_cycle_text(cycle)}Z is not published (yet) at "
                        f"{client.url}"
                    )
                gaps = missing_fields(entries, variables=variables, levels=levels)
                if gaps:
                    raise InvalidInputError(
                        f"open data: cycle {_cycle_text(cycle)}Z lacks {'; '.join(gaps)}"
                    )
            hit = next((request for request in group if _satisfies(entries, request)), None)
            if hit is None:  # unreachable after the completeness check; kept as a guard
                raise InvalidInputError(f"open data: cycle {_cycle_text(cycle)}Z is incomplete")
        chosen.append(hit)
    datasets: list[xr.Dataset] = []
    facts: dict[str, Any] = {"requests": [], "test_products": True}
    for request in chosen:
        path = cache.fetch(request, _validated_download(client_factory))
        try:
            ds, test_products = decode(path, request)
        except InvalidInputError:
            cache.evict(request)  # a damaged cache entry: the next attempt downloads it again
            raise
        datasets.append(ds)
        facts["requests"].append(request.cache_key)
        facts["test_products"] &= test_products
        if request.levtype == "pl":
            facts["pressure_geopotential"] = "z" if "z" in request.params else "gh"
        else:
            facts["statics"] = "lsm" in request.params
    try:
        merged = xr.merge(datasets, join="exact")
    except ValueError as exc:
        raise InvalidInputError(
            f"open data: cycle {_cycle_text(cycle)}Z fields are on different grids: {exc}"
        ) from None
    return merged, facts


def _validated_download(client_factory: Any) -> Any:
    """A cache downloader that refuses (and removes) a file that does not decode."""

    def download(request: OpenDataRequest, part: Path) -> None:
        client_factory().retrieve(request, part)
        try:
            decode(part, request)
        except InvalidInputError:
            part.unlink(missing_ok=True)
            raise

    return download


def decode(path: Path | str, request: OpenDataRequest) -> tuple[xr.Dataset, bool]:
    """One downloaded file → its fields in ERA5 names and units, on the published grid.

    Every message is decoded with ecCodes and checked against the request: the cycle's date,
    time and step, and every requested parameter and level present.

    Returns:
        `(dataset, test_products)`: dims `level`, `lat`, `lon` with latitudes and longitudes
        as published; whether every message is marked as a test product (synthetic).

    Raises:
        InvalidInputError: corrupt/truncated GRIB, a field of another cycle, a missing field.
    """
    import eccodes

    from forecast.data.convert import IO_LOCK
    from forecast.data.grib import check_grib

    path = Path(path)
    cycle = request.time
    by_param = {(p.param, p.levtype): p for p in lexicon.OPENDATA_PARAMS}
    planes: dict[str, dict[int | None, np.ndarray]] = {}
    axes: tuple[np.ndarray, np.ndarray] | None = None
    test_products = True
    with IO_LOCK:
        check_grib(path)  # corrupt or truncated messages: a clear error, not silence
        with open(path, "rb") as handle:
            while (message := eccodes.codes_grib_new_from_file(handle)) is not None:
                try:
                    param = eccodes.codes_get_string(message, "shortName")
                    levtype = eccodes.codes_get_string(message, "levtype")
                    level = eccodes.codes_get_long(message, "level") if levtype == "pl" else None
                    when = (
                        eccodes.codes_get_long(message, "dataDate"),
                        eccodes.codes_get_long(message, "dataTime"),
                        eccodes.codes_get_long(message, "endStep"),
                    )
                    if when != (int(f"{cycle:%Y%m%d}"), cycle.hour * 100, request.step):
                        raise InvalidInputError(
                            f"{path}: {param} is from {when[0]} {when[1]:04d} +{when[2]}h, "
                            f"not cycle {request.cycle}Z +{request.step}h"
                        )
                    entry = by_param.get((param, levtype))
                    if entry is None or param not in request.params:
                        continue  # a field we did not ask for (the server sent more)
                    grid = _message_axes(message, path, param)
                    if axes is None:
                        axes = grid
                    elif not (
                        np.array_equal(axes[0], grid[0]) and np.array_equal(axes[1], grid[1])
                    ):
                        raise InvalidInputError(f"{path}: {param} is on another grid")
                    values = eccodes.codes_get_values(message).astype(np.float64)
                    if eccodes.codes_get_long(message, "bitmapPresent"):
                        values[values == eccodes.codes_get_double(message, "missingValue")] = np.nan
                    plane = (values * entry.scale).astype(np.float32)
                    planes.setdefault(param, {})[level] = plane.reshape(grid[0].size, grid[1].size)
                    test_products &= (
                        eccodes.codes_get_long(message, "productionStatusOfProcessedData")
                        == TEST_PRODUCTS
                    )
                finally:
                    eccodes.codes_release(message)
    absent = []
    for param in request.params:
        got = planes.get(param, {})
        wanted = request.levels if request.levtype == "pl" else (None,)
        lacking = [lv for lv in wanted if lv not in got]
        if lacking:
            absent.append(param + (f" at {lacking} hPa" if request.levtype == "pl" else ""))
    if absent or axes is None:
        raise InvalidInputError(
            f"open data: cycle {request.cycle}Z +{request.step}h file {path.name} lacks "
            f"{', '.join(absent) or 'every field'}"
        )
    lat, lon = axes
    data = {}
    for param, by_level in planes.items():
        entry = by_param[(param, request.levtype)]
        if request.levtype == "pl":
            stack = np.stack([by_level[lv] for lv in request.levels])
            data[entry.name] = xr.DataArray(stack, dims=("level", "lat", "lon"))
        else:
            data[entry.name] = xr.DataArray(by_level[None], dims=("lat", "lon"))
        data[entry.name].attrs["units"] = V.UNITS[entry.name]
    coords: dict[str, Any] = {"lat": lat, "lon": lon}
    if request.levtype == "pl":
        coords["level"] = np.asarray(request.levels, dtype=np.int32)
    return xr.Dataset(data, coords=coords), test_products


def _message_axes(message: Any, path: Path, param: str) -> tuple[np.ndarray, np.ndarray]:
    """Latitudes and longitudes of a regular lat/lon GRIB message, as stored (scan order)."""
    import eccodes

    grid_type = eccodes.codes_get_string(message, "gridType")
    if grid_type != "regular_ll":
        raise InvalidInputError(f"{path}: {param} is on a {grid_type} grid, not regular_ll")
    ni, nj = eccodes.codes_get_long(message, "Ni"), eccodes.codes_get_long(message, "Nj")
    lat1 = eccodes.codes_get_double(message, "latitudeOfFirstGridPointInDegrees")
    lat2 = eccodes.codes_get_double(message, "latitudeOfLastGridPointInDegrees")
    lon1 = eccodes.codes_get_double(message, "longitudeOfFirstGridPointInDegrees")
    di = eccodes.codes_get_double(message, "iDirectionIncrementInDegrees")
    if eccodes.codes_get_long(message, "iScansNegatively"):
        raise InvalidInputError(f"{path}: {param} scans longitudes westward (unsupported)")
    lat = np.linspace(lat1, lat2, nj)
    lon = lon1 + di * np.arange(ni)
    return lat, lon


# ------------------------------------------------------------------------------ model layout


def to_model_grid(ds: xr.Dataset, grid_deg: float) -> tuple[xr.Dataset, str]:
    """Fields on the published grid → the checkpoint's grid in the model layout.

    Latitudes ascending, longitudes 0…360 − Δ (the open data: 90 → −90, −180 → 180 − Δ). When
    the checkpoint grid is a subset of the published one (0.25° → 0.5°/1°/…: the grids nest),
    the points are taken exactly; otherwise fields are interpolated bilinearly with xarray
    (scipy), longitudes wrapped.

    Returns:
        `(dataset, method)`: `method` is `none`, `subsample` or `linear`.

    Raises:
        InvalidInputError: if the published grid is not global or `grid_deg` does not divide 180.
    """
    from forecast.data.synthetic import global_grid

    lon = np.mod(ds["lon"].values, 360.0)
    ds = ds.assign_coords(lon=lon).sortby("lon").sortby("lat")
    lat_src, lon_src = ds["lat"].values, ds["lon"].values
    if lat_src[0] > -90 + 1e-6 or lat_src[-1] < 90 - 1e-6:
        raise InvalidInputError(
            f"open data: published grid spans latitudes {lat_src[0]}…{lat_src[-1]}, not the globe"
        )
    lat_t, lon_t = global_grid(grid_deg)
    lat_i = np.searchsorted(lat_src, lat_t - 1e-6)
    lon_i = np.searchsorted(lon_src, lon_t - 1e-6)
    nests = (
        np.all(lat_i < lat_src.size)
        and np.all(lon_i < lon_src.size)
        and np.allclose(lat_src[np.minimum(lat_i, lat_src.size - 1)], lat_t, atol=1e-6)
        and np.allclose(lon_src[np.minimum(lon_i, lon_src.size - 1)], lon_t, atol=1e-6)
    )
    if nests:
        out = ds.isel(lat=lat_i, lon=lon_i)
        method = (
            "none" if lat_i.size == lat_src.size and lon_i.size == lon_src.size else "subsample"
        )
    else:
        wrap = ds.isel(lon=slice(0, 1)).assign_coords(lon=lon_src[:1] + 360.0)
        padded = xr.concat([ds, wrap], dim="lon")
        out = padded.interp(lat=lat_t, lon=lon_t, method="linear")
        method = "linear"
    out = out.assign_coords(lat=lat_t.astype(np.float32), lon=lon_t.astype(np.float32))
    for name in out.data_vars:
        out[name] = out[name].astype(np.float32)
    return out, method


# ---------------------------------------------------------------------------- entry points


def _frames(
    cycles: Sequence[dt.datetime],
    *,
    levels: Sequence[int],
    grid_deg: float,
    variables: Sequence[str],
    statics_from: dt.datetime | None,
    cache_dir: Path | str,
    client: OpenDataClient | None,
    url: str,
) -> tuple[xr.Dataset, xr.Dataset | None, dict[str, Any]]:
    """The step-0 fields of `cycles` on the model grid, stacked along `time`."""
    cache = Era5Cache(Path(cache_dir))
    made: list[OpenDataClient] = []

    def client_factory() -> OpenDataClient:  # made on the first cache miss only
        if client is not None:
            return client
        if not made:
            made.append(OpenDataClient(url))
        return made[0]

    frames, statics, facts = [], None, {"requests": [], "test_products": True}
    methods = set()
    for cycle in cycles:
        ds, got = fetch_cycle(
            cycle,
            levels=levels,
            variables=variables,
            statics=cycle == statics_from,
            cache=cache,
            client_factory=client_factory,
        )
        ds, method = to_model_grid(ds, grid_deg)
        methods.add(method)
        facts["requests"] += got["requests"]
        facts["test_products"] &= got["test_products"]
        facts.setdefault("pressure_geopotential", set()).add(got.get("pressure_geopotential", ""))
        static_names = [n for n in V.STATIC_VARS if n in ds]
        if cycle == statics_from and got.get("statics"):
            statics = ds[static_names]
        frames.append(ds.drop_vars(static_names).expand_dims(time=[np.datetime64(cycle, "ns")]))
    facts["regrid"] = "/".join(sorted(methods))
    facts["pressure_geopotential"] = "/".join(sorted(facts["pressure_geopotential"] - {""}))
    with_time = xr.concat(frames, dim="time", join="exact")
    return with_time, statics, facts


def acquire_opendata_inputs(
    init_time: dt.datetime | str,
    *,
    levels: Sequence[int] = V.PRESSURE_LEVELS_13,
    grid_deg: float = 0.25,
    cache_dir: Path | str,
    client: OpenDataClient | None = None,
    url: str = DEFAULT_URL,
    era5_statics: Any = None,
) -> xr.Dataset:
    """The two input frames of `init_time` from IFS open data, in the model layout.

    Args:
        init_time: T; the frames are the step-0 fields of cycles T − 6 h and T.
        levels: pressure levels (hPa) in the checkpoint's order; the open data have 13.
        grid_deg: the checkpoint's grid spacing.
        cache_dir: the open-data entries' cache (`var/cache/opendata`).
        client: the open-data client (default: one for `url`, made on the first cache miss).
        url: the server's base URL when `client` is None.
        era5_statics: called with `grid_deg` to give `geopotential_at_surface` and
            `land_sea_mask` (an `xr.Dataset` in the model layout) when cycle T lacks them;
            None makes that case an error.

    Returns:
        Dataset with dims `time` (2), `level`, `lat`, `lon`; the forecast inputs of an
        operational-style task (no precipitation) plus TOA radiation and statics; attrs
        `source="ifs-opendata"`, `synthetic` (1 for test products), `init_time`,
        `opendata_cycles`, `opendata_url`, `statics_source`, `pressure_geopotential`, `regrid`.

    Raises:
        DataUnavailableError: a cycle is not published yet or the server kept failing.
        InvalidInputError: a field missing or corrupt, levels the open data lack, no statics.
    """
    from forecast.model.solar_radiation import toa_incident_solar_radiation_dataarray

    init = to_utc(init_time)
    if init.hour not in SYNOPTIC_HOURS:
        raise InvalidInputError(f"open data: {init:%Y-%m-%dT%H}Z is not a 00/06/12/18 UTC cycle")
    cycles = [init - STEP_TIMEDELTA, init]
    _check_levels(levels)
    ds, statics, facts = _frames(
        cycles,
        levels=levels,
        grid_deg=grid_deg,
        variables=SURFACE_VARIABLES + ATMOSPHERIC_VARIABLES,
        statics_from=init,
        cache_dir=cache_dir,
        client=client,
        url=client.url if client is not None else url,
    )
    if statics is not None:
        statics_source = "opendata"
    elif era5_statics is not None:
        LOGGER.info("open data: cycle %sZ has no z/lsm; statics from ERA5", _cycle_text(init))
        statics = era5_statics(grid_deg)[list(V.STATIC_VARS)]
        statics = statics.assign_coords(lat=ds["lat"].values, lon=ds["lon"].values)
        statics_source = "era5"
    else:
        raise InvalidInputError(
            f"open data: cycle {_cycle_text(init)}Z publishes no surface geopotential/land-sea "
            "mask and no ERA5 fallback was given"
        )
    tisr = toa_incident_solar_radiation_dataarray(
        ds["time"].values, ds["lat"].values, ds["lon"].values
    ).assign_coords(lat=ds["lat"].values, lon=ds["lon"].values)
    tisr.attrs = {"units": V.UNITS["toa_incident_solar_radiation"]}
    ds = xr.merge([ds, tisr.rename("toa_incident_solar_radiation"), statics], join="exact")
    ds = ds.transpose(*[d for d in ("time", "level", "lat", "lon") if d in ds.dims])
    ds = ds[list(INPUT_VARIABLES) + list(V.STATIC_VARS)]
    ds.attrs.update(
        source=DATASET,
        synthetic=int(facts["test_products"]),
        init_time=init.isoformat(),
        opendata_cycles=json.dumps([_cycle_text(c) for c in cycles]),
        opendata_url=client.url if client is not None else url,
        opendata_requests=json.dumps(facts["requests"]),
        statics_source=statics_source,
        pressure_geopotential=facts["pressure_geopotential"],
        regrid=facts["regrid"],
    )
    return ds


def acquire_opendata_analysis(
    valid_times: Sequence[dt.datetime],
    *,
    levels: Sequence[int] = V.PRESSURE_LEVELS_13,
    grid_deg: float = 0.25,
    cache_dir: Path | str,
    client: OpenDataClient | None = None,
    url: str = DEFAULT_URL,
) -> xr.Dataset:
    """The IFS analysis (step 0 of each cycle) at `valid_times`: tier-1 verification truth.

    Operational models are verified against their own analysis (as WeatherBench 2 does for
    HRES); ERA5 is the independent second tier.

    Returns:
        Model-layout dataset of the target variables without precipitation (the analysis has
        none); attrs `source="ifs-opendata-analysis"`, `synthetic`.

    Raises:
        DataUnavailableError: a valid time's cycle is not published yet.
    """
    times = sorted({to_utc(t) for t in valid_times})
    bad = [t for t in times if t.hour not in SYNOPTIC_HOURS]
    if bad:
        raise InvalidInputError(
            f"open data: no analysis at {bad[0]:%Y-%m-%dT%H}Z (not 00/06/12/18)"
        )
    _check_levels(levels)
    ds, _, facts = _frames(
        times,
        levels=levels,
        grid_deg=grid_deg,
        variables=TRUTH_VARIABLES,
        statics_from=None,
        cache_dir=cache_dir,
        client=client,
        url=client.url if client is not None else url,
    )
    ds = ds.transpose("time", "level", "lat", "lon")[list(TRUTH_VARIABLES)]
    ds.attrs.update(
        source=f"{DATASET}-analysis",
        synthetic=int(facts["test_products"]),
        opendata_url=client.url if client is not None else url,
        regrid=facts["regrid"],
    )
    return ds


def _check_levels(levels: Sequence[int]) -> None:
    extra = sorted(set(int(x) for x in levels) - set(V.PRESSURE_LEVELS_13))
    if extra:
        raise InvalidInputError(
            f"open data publish 13 pressure levels {list(V.PRESSURE_LEVELS_13)} hPa; "
            f"{extra} hPa are not among them (use ERA5 for 37-level checkpoints)"
        )
