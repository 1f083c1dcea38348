"""Which ERA5 init times exist on the CDS: probing for the newest, and finding backfill gaps.

ERA5T reaches the CDS about five days after real time, a day at a time. The catalogue states
each dataset's temporal extent (`extent.temporal.interval`), which gives a first guess; the
answer comes from probing: one tiny request per (dataset, step type) for the newest hour an init
time needs. A probe that fails with the CDS's "not available yet" means "not yet"; anything
else is an error. Successful probes are cached like any request, so repeats are free.
"""

from __future__ import annotations

import datetime as dt
import logging
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from forecast.data import lexicon
from forecast.data.cache import Era5Cache
from forecast.data.cds import CdsClient, CdsDataNotYetAvailableError, CdsError
from forecast.data.requests import Era5Request, plan_inputs, to_utc
from forecast.errors import DataUnavailableError, InvalidInputError

LOGGER = logging.getLogger(__name__)

INIT_HOURS = (0, 12)
# Probes ask for one field on a 10° grid: a few kilobytes.
PROBE_GRID = 10.0
DEFAULT_LOOKBACK = dt.timedelta(days=30)


def floor_to_init_hour(time: dt.datetime, init_hours: Sequence[int] = INIT_HOURS) -> dt.datetime:
    """The latest init time (an hour in `init_hours`) at or before `time`."""
    if not init_hours or any(not 0 <= h < 24 for h in init_hours):
        raise InvalidInputError(f"init hours must be within 0–23, got {list(init_hours)}")
    time = time.replace(minute=0, second=0, microsecond=0)
    while time.hour not in init_hours:
        time -= dt.timedelta(hours=1)
    return time


def previous_init_time(time: dt.datetime, init_hours: Sequence[int] = INIT_HOURS) -> dt.datetime:
    """The init time just before `time`."""
    return floor_to_init_hour(time - dt.timedelta(hours=1), init_hours)


def probe_requests(init_time: dt.datetime) -> list[Era5Request]:
    """The smallest requests that succeed only if every input of `init_time` is published.

    One field at T for each (dataset, step type): data arrive in time order, so T's presence
    implies T − 6 h's and the preceding precipitation hours'.
    """
    init = to_utc(init_time)
    day, hour = init.date().isoformat(), f"{init:%H:00}"

    def probe(dataset: str, variable: str, levels: tuple[int, ...] = ()) -> Era5Request:
        return Era5Request(dataset, (variable,), levels, day, (hour,), PROBE_GRID)

    return [
        probe(lexicon.PRESSURE_LEVELS_DATASET, "temperature", (1000,)),
        probe(lexicon.SINGLE_LEVELS_DATASET, "2m_temperature"),
        probe(lexicon.SINGLE_LEVELS_DATASET, "total_precipitation"),
    ]


def init_time_available(
    client: CdsClient, init_time: dt.datetime, *, cache: Era5Cache | None = None
) -> bool:
    """Whether the CDS holds every input of `init_time` (by probing).

    Raises:
        CdsError: for any failure other than "not available yet" (auth, rejected, outage).
    """
    for request in probe_requests(init_time):
        try:
            if cache is not None:
                cache.fetch(request, client.retrieve)
            else:
                with tempfile.TemporaryDirectory() as tmp:
                    client.retrieve(request, Path(tmp) / "probe")
        except CdsDataNotYetAvailableError as exc:
            LOGGER.info("%s not available yet: %s", request.label, exc)
            return False
    return True


def catalogue_end(client: CdsClient) -> dt.datetime | None:
    """The earliest end of the two ERA5 datasets' temporal extents, per the CDS catalogue.

    None when the catalogue does not say (the probe then starts from the current time).
    """
    ends = []
    for dataset in (lexicon.PRESSURE_LEVELS_DATASET, lexicon.SINGLE_LEVELS_DATASET):
        try:
            end = client.collection_end(dataset)
        except CdsError as exc:
            LOGGER.warning("catalogue extent of %s unknown (%s); probing from now", dataset, exc)
            return None
        if end is None:
            return None
        ends.append(to_utc(end.replace(minute=0, second=0, microsecond=0)))
    return min(ends)


def latest_init_time(
    client: CdsClient,
    *,
    now: dt.datetime | None = None,
    init_hours: Sequence[int] = INIT_HOURS,
    lookback: dt.timedelta = DEFAULT_LOOKBACK,
    cache: Era5Cache | None = None,
) -> dt.datetime:
    """The newest init time whose inputs all exist on the CDS.

    Starts at the catalogue's stated end (or `now`), floored to an init hour, and walks back
    one init time at a time until every probe succeeds.

    Args:
        client: the CDS client.
        now: the current time (naive UTC); default the clock.
        init_hours: hours an init time may have.
        lookback: how far back from `now` to search.
        cache: where successful probes are kept (optional).

    Returns:
        Naive UTC init time.

    Raises:
        DataUnavailableError: nothing available within `lookback`.
    """
    now = to_utc(now) if now is not None else current_hour()
    end = catalogue_end(client)
    start = min(now, end) if end is not None else now
    candidate = floor_to_init_hour(start, init_hours)
    LOGGER.info("probing ERA5 availability from %s (catalogue end %s)", candidate, end or "unknown")
    probed = 0
    while candidate >= now - lookback:
        probed += 1
        if init_time_available(client, candidate, cache=cache):
            LOGGER.info("newest available init time %s (%d probed)", candidate, probed)
            return candidate
        candidate = previous_init_time(candidate, init_hours)
    raise DataUnavailableError(
        f"no ERA5 init time with all inputs on the CDS between {now - lookback:%Y-%m-%dT%H} "
        f"and {now:%Y-%m-%dT%H} ({probed} probed)"
    )


def init_times(
    start: dt.datetime, end: dt.datetime, init_hours: Sequence[int] = INIT_HOURS
) -> list[dt.datetime]:
    """Every init time in [start, end], oldest first."""
    start, end = to_utc(start), to_utc(end)
    if end < start:
        raise InvalidInputError(f"backfill range ends ({end}) before it starts ({start})")
    out = []
    time = floor_to_init_hour(end, init_hours)
    while time >= start:
        out.append(time)
        time = previous_init_time(time, init_hours)
    return out[::-1]


def backfill_gaps(
    start: dt.datetime,
    end: dt.datetime,
    *,
    cache_dir: Path | str,
    levels: Sequence[int],
    grid_deg: float,
    init_hours: Sequence[int] = INIT_HOURS,
) -> list[dt.datetime]:
    """Init times in [start, end] whose inputs are not all in the cache (no network)."""
    cache = Era5Cache(cache_dir)
    return [
        time
        for time in init_times(start, end, init_hours)
        if not all(r in cache for r in plan_inputs(time, levels=levels, grid_deg=grid_deg))
    ]


def backfill(
    start: dt.datetime,
    end: dt.datetime,
    *,
    cache_dir: Path | str,
    levels: Sequence[int],
    grid_deg: float,
    client: CdsClient | None = None,
    init_hours: Sequence[int] = INIT_HOURS,
    output_dir: Path | str | None = None,
) -> dict[dt.datetime, Any]:
    """Fill the gaps of [start, end]: acquire the inputs of every init time the cache lacks.

    Init times the CDS does not have yet are recorded, not raised, so one missing day does not
    stop the walk; other errors (auth, rejected) propagate.

    Returns:
        init time → written inputs path, or the `DataUnavailableError` that stopped it.
    """
    from forecast.data.acquire import acquire_inputs

    results: dict[dt.datetime, Any] = {}
    for time in backfill_gaps(
        start, end, cache_dir=cache_dir, levels=levels, grid_deg=grid_deg, init_hours=init_hours
    ):
        output = None
        if output_dir is not None:
            output = Path(output_dir) / f"era5-{time:%Y%m%dT%H}.nc"
        try:
            results[time] = acquire_inputs(
                time,
                levels=tuple(levels),
                grid_deg=grid_deg,
                cache_dir=cache_dir,
                client=client,
                output=output,
            )
        except DataUnavailableError as exc:
            LOGGER.warning("backfill %s: %s", time, exc)
            results[time] = exc
    return results


def current_hour() -> dt.datetime:
    """The current hour, naive UTC."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, minute=0, second=0, microsecond=0)
