"""The calls the pipeline makes to get model inputs and verification truth onto disk.

`acquire_inputs` plans the CDS requests an init time needs, fetches what the cache lacks,
converts and writes the two input frames in DeepMind's example-batch layout. `acquire_truth`
fetches analyses at valid times through the same cache. `source="synthetic"` takes the same
path's output shape from the offline synthetic world instead (no network); `source="opendata"`
takes the frames from ECMWF's real-time IFS open data (`forecast.data.opendata`).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import xarray as xr

from forecast import variables as V
from forecast.data import convert
from forecast.data.availability import (
    INIT_HOURS,
    current_hour,
    floor_to_init_hour,
    latest_init_time,
)
from forecast.data.cache import Era5Cache
from forecast.data.cds import CdsClient, ProgressCallback
from forecast.data.layout import to_example_batch
from forecast.data.requests import (
    INPUT_VARIABLES,
    TRUTH_VARIABLES,
    Era5Request,
    input_frame_times,
    plan_frames,
    plan_statics,
    to_utc,
)
from forecast.errors import InvalidInputError

if TYPE_CHECKING:
    from forecast.data.opendata import OpenDataClient

LOGGER = logging.getLogger(__name__)

Source = Literal["cds", "synthetic", "opendata"]
SOURCES = ("cds", "synthetic", "opendata")
# Stand-in for ERA5T's publication delay when running on the synthetic world.
SYNTHETIC_LATENCY = dt.timedelta(days=5)
# CDS requests in flight at once: queue waits overlap; the CDS limits each user's active jobs.
PARALLEL_REQUESTS = 4


def resolve_levels(levels: int | Sequence[int]) -> tuple[int, ...]:
    """`13`/`25`/`37` → that level set; a sequence of hPa values is kept as given.

    Raises:
        InvalidInputError: for an unknown level count or an empty/invalid list.
    """
    if isinstance(levels, int | np.integer):
        try:
            return V.PRESSURE_LEVELS[int(levels)]
        except KeyError:
            raise InvalidInputError(
                f"no level set of {levels} levels; choose one of {sorted(V.PRESSURE_LEVELS)}"
            ) from None
    out = tuple(int(x) for x in levels)
    if not out or len(set(out)) != len(out) or any(x <= 0 or x > 1000 for x in out):
        raise InvalidInputError(f"invalid pressure levels {list(levels)}")
    return out


def resolve_init_time(
    source: Source,
    *,
    now: dt.datetime | None = None,
    client: CdsClient | None = None,
    cache_dir: Path | str | None = None,
    init_hours: Sequence[int] = INIT_HOURS,
    opendata_client: OpenDataClient | None = None,
) -> dt.datetime:
    """The newest init time whose inputs exist.

    For the CDS this probes (see `forecast.data.availability.latest_init_time`); for open data
    it reads the indexes of recent cycles (`forecast.data.opendata.latest_cycle`). For the
    synthetic world every time exists; it returns now − 5 days floored to 00/12 UTC, a stand-in
    for ERA5T's publication delay so both sources behave alike.

    Args:
        source: `cds`, `synthetic` or `opendata`.
        now: the current time (naive UTC); default the clock.
        client: the CDS client to probe with (default: configured the standard way).
        cache_dir: cache for probe results (optional).
        init_hours: the hours (UTC) an init time may have.
        opendata_client: the open-data client (`opendata` only; required).

    Returns:
        Naive UTC datetime.
    """
    now = current_hour() if now is None else to_utc(now.replace(minute=0, second=0, microsecond=0))
    if source == "synthetic":
        init = floor_to_init_hour(now - SYNTHETIC_LATENCY, init_hours)
        LOGGER.info("synthetic source: init time %s (now − 5 days, ERA5T stand-in)", init)
        return init
    if source == "opendata":
        from forecast.data.opendata import latest_cycle

        if opendata_client is None:
            raise InvalidInputError("source opendata needs an open-data client (its URL)")
        return latest_cycle(opendata_client, now=now)
    if source != "cds":
        raise InvalidInputError(f"unknown source {source!r}; choose one of {SOURCES}")
    return latest_init_time(
        client or CdsClient(),
        now=now,
        init_hours=init_hours,
        cache=Era5Cache(cache_dir) if cache_dir is not None else None,
    )


def acquire_inputs(
    init_time: dt.datetime | str,
    *,
    levels: int | Sequence[int] = 13,
    grid_deg: float = 1.0,
    cache_dir: Path | str,
    output: Path | str | None = None,
    source: Source = "cds",
    client: CdsClient | None = None,
    progress: ProgressCallback | None = None,
    seed: int = 0,
    data_format: str = "netcdf",
    opendata_client: OpenDataClient | None = None,
    statics_cache_dir: Path | str | None = None,
) -> Path:
    """Write the model inputs for `init_time`: the frames T − 6 h and T, plus statics.

    Args:
        init_time: the init time T (naive UTC or aware; ISO string accepted).
        levels: level count (13/25/37) or hPa list, in the checkpoint's order.
        grid_deg: the checkpoint's grid spacing.
        cache_dir: the ERA5 request cache (`var/cache/era5`); for `opendata` the open-data
            cache (`var/cache/opendata`).
        output: where to write; default `<cache_dir>/inputs/<source>-<T>-<grid>deg-<n>l.nc`.
        source: `cds` (fetch, cached), `synthetic` (offline world, no network) or `opendata`
            (IFS open data, cached; the operational task's inputs, without precipitation).
        client: CDS client; default one configured the standard way, made only on a cache miss.
        progress: called with each `CdsProgress` of a CDS retrieval.
        seed: synthetic world seed.
        data_format: what to ask the CDS for (`netcdf` or `grib`).
        opendata_client: the open-data client (`opendata` only; required).
        statics_cache_dir: the ERA5 cache the statics come from when an open-data cycle lacks
            them (through `client`); None: such a cycle is an error.

    Returns:
        The written example-batch NetCDF (attrs `source`, `synthetic`, `init_time`).

    Raises:
        DataUnavailableError: the CDS lacks the data yet or stayed unreachable (retry later).
        InvalidInputError: bad arguments or unusable files (quarantine).
    """
    init = to_utc(init_time)
    level_set = resolve_levels(levels)
    frames = list(input_frame_times(init))
    if source == "synthetic":
        ds = _synthetic(frames, level_set, grid_deg, seed, INPUT_VARIABLES + V.STATIC_VARS)
    elif source == "cds":
        requests = plan_frames(
            frames, levels=level_set, grid_deg=grid_deg, data_format=data_format
        ) + [plan_statics(grid_deg=grid_deg, data_format=data_format)]
        fields = fetch_fields(requests, cache_dir=cache_dir, client=client, progress=progress)
        ds = convert.assemble_frames(fields, frames, levels=level_set, variables=INPUT_VARIABLES)
        ds.attrs["era5_requests"] = json.dumps([r.cache_key for r in requests])
    elif source == "opendata":
        from forecast.data.opendata import acquire_opendata_inputs

        if opendata_client is None:
            raise InvalidInputError("source opendata needs an open-data client (its URL)")
        ds = acquire_opendata_inputs(
            init,
            levels=level_set,
            grid_deg=grid_deg,
            cache_dir=cache_dir,
            client=opendata_client,
            era5_statics=_era5_statics(statics_cache_dir, client, progress, data_format),
        )
    else:
        raise InvalidInputError(f"unknown source {source!r}; choose one of {SOURCES}")
    ds.attrs["init_time"] = init.isoformat()
    if output is None:
        name = f"{source}-{init:%Y%m%dT%H}-{grid_deg:g}deg-{len(level_set)}l.nc"
        output = Path(cache_dir) / "inputs" / name
    return write_atomic(to_example_batch(ds), Path(output))


def acquire_truth(
    valid_times: Sequence[dt.datetime],
    *,
    levels: int | Sequence[int] = 13,
    grid_deg: float = 1.0,
    cache_dir: Path | str,
    output: Path | str,
    source: Source = "cds",
    client: CdsClient | None = None,
    progress: ProgressCallback | None = None,
    seed: int = 0,
    opendata_client: OpenDataClient | None = None,
) -> Path:
    """Write analyses ("truth") at `valid_times` in the model layout, through the same cache.

    Holds the target variables (surface incl. `total_precipitation_6hr`, atmospheric) at every
    valid time; no forcings, no statics. `source="opendata"` gives the IFS analysis (step 0 of
    each cycle, tier-1 truth; no precipitation) through the open-data cache in `cache_dir`.

    Returns:
        The written model-layout NetCDF.
    """
    times = sorted({to_utc(t) for t in valid_times})
    level_set = resolve_levels(levels)
    if source == "synthetic":
        ds = _synthetic(times, level_set, grid_deg, seed, TRUTH_VARIABLES)
    elif source == "cds":
        requests = plan_frames(
            times, levels=level_set, grid_deg=grid_deg, variables=TRUTH_VARIABLES
        )
        fields = fetch_fields(requests, cache_dir=cache_dir, client=client, progress=progress)
        ds = convert.assemble_frames(
            fields, times, levels=level_set, variables=TRUTH_VARIABLES, statics=False
        )
    elif source == "opendata":
        from forecast.data.opendata import acquire_opendata_analysis

        if opendata_client is None:
            raise InvalidInputError("source opendata needs an open-data client (its URL)")
        ds = acquire_opendata_analysis(
            times, levels=level_set, grid_deg=grid_deg, cache_dir=cache_dir, client=opendata_client
        )
    else:
        raise InvalidInputError(f"unknown source {source!r}; choose one of {SOURCES}")
    return write_atomic(ds, Path(output))


def fetch_fields(
    requests: Sequence[Era5Request],
    *,
    cache_dir: Path | str,
    client: CdsClient | None = None,
    progress: ProgressCallback | None = None,
    parallel: int = PARALLEL_REQUESTS,
) -> dict[str, xr.DataArray]:
    """Fetch `requests` through the cache and load every variable they hold.

    Misses are submitted together (up to `parallel` at a time, each with its own client) so
    their CDS queue waits overlap. A cached file that cannot be read (damaged on disk) is
    evicted and fetched once more.
    """
    cache = Era5Cache(cache_dir)
    clients = _ThreadClients(client, progress)

    def fetch(request: Era5Request) -> Path:
        return cache.fetch(request, clients.retrieve)

    workers = max(1, min(parallel, sum(request not in cache for request in requests)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="era5-fetch") as pool:
        paths = list(pool.map(fetch, requests))
    datasets = []
    for request, path in zip(requests, paths, strict=True):  # HDF5 reads stay on one thread
        try:
            datasets.append(convert.open_cds_file(path))
        except InvalidInputError as exc:
            LOGGER.warning("cached %s unreadable (%s); fetching it again", path.name, exc)
            cache.evict(request)
            datasets.append(convert.open_cds_file(fetch(request)))
    return convert.combine(datasets)


def _era5_statics(
    cache_dir: Path | str | None,
    client: CdsClient | None,
    progress: ProgressCallback | None,
    data_format: str,
) -> Callable[[float], xr.Dataset] | None:
    """The ERA5 statics fetcher an open-data fetch falls back on (None without a cache)."""
    if cache_dir is None:
        return None

    def statics(grid_deg: float) -> xr.Dataset:
        request = plan_statics(grid_deg=grid_deg, data_format=data_format)
        fields = fetch_fields([request], cache_dir=cache_dir, client=client, progress=progress)
        return xr.Dataset({name: fields[name] for name in V.STATIC_VARS})

    return statics


class _ThreadClients:
    """One CDS client per thread, made on that thread's first cache miss (hits stay offline)."""

    def __init__(self, client: CdsClient | None, progress: ProgressCallback | None) -> None:
        self._template = client
        self._progress = progress
        self._local = threading.local()

    def retrieve(self, request: Era5Request, target: Path) -> Any:
        client = getattr(self._local, "client", None)
        if client is None:
            template = self._template
            if template is None:
                client = CdsClient(progress=self._progress)
            else:  # same endpoint, key and policy; a session of its own
                client = template.copy()
            self._local.client = client
        return client.retrieve(request, target, progress=self._progress)


def _synthetic(
    times: list[dt.datetime],
    levels: tuple[int, ...],
    grid_deg: float,
    seed: int,
    variables: Sequence[str],
) -> xr.Dataset:
    from forecast.data.synthetic import synthetic_era5

    return synthetic_era5(
        np.array(times, dtype="datetime64[ns]"),
        grid_deg=grid_deg,
        levels=levels,
        seed=seed,
        variables=list(variables),
    )


def write_atomic(ds: xr.Dataset, path: Path) -> Path:
    """Write `ds` as NetCDF to `path` via a temporary file and a rename (no half files)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with convert.IO_LOCK:
            ds.to_netcdf(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
