"""ERA5 requests to the Climate Data Store: the frozen `Era5Request` and the request planner.

A request is what one CDS job retrieves: one dataset, one day, a list of hours, variables and
levels, on a grid. The planner splits what an init time needs the way the CDS prefers (per
dataset and day; hourly precipitation apart, since its hours differ) and asks for nothing
else.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from forecast import variables as V
from forecast.data import lexicon
from forecast.errors import InvalidInputError
from forecast.times import STEP_TIMEDELTA, to_utc

DATA_FORMATS = ("netcdf", "grib")
INPUT_STEP = STEP_TIMEDELTA
# Hours of hourly precipitation summed into one `total_precipitation_6hr` value.
PRECIPITATION_HOURS = 6
# Geopotential at surface and the land-sea mask are invariant in ERA5; fetching them for one
# fixed time makes them one cache entry per grid, shared by every init time.
STATICS_TIME = dt.datetime(2000, 1, 1, 0)

# Model variables an input frame needs (targets plus the external forcing) and a truth frame.
INPUT_VARIABLES = V.TARGET_SURFACE_VARS + V.TARGET_ATMOSPHERIC_VARS + V.EXTERNAL_FORCING_VARS
TRUTH_VARIABLES = V.TARGET_SURFACE_VARS + V.TARGET_ATMOSPHERIC_VARS


@dataclass(frozen=True)
class Era5Request:
    """One CDS retrieval: one dataset, one day.

    Lists are stored sorted, so equal requests have equal cache keys whatever order they were
    written in.

    Attributes:
        dataset: CDS dataset id (`reanalysis-era5-pressure-levels`, ...).
        variables: CDS request names (`2m_temperature`, ...).
        levels: pressure levels in hPa; empty for single-level datasets.
        date: the day, ISO `YYYY-MM-DD`.
        times: hours of that day, `HH:MM`.
        grid: grid spacing in degrees (the CDS interpolates to it).
        area: `(north, west, south, east)` in degrees, or None for the globe.
        data_format: `netcdf` or `grib`.
    """

    dataset: str
    variables: tuple[str, ...]
    levels: tuple[int, ...] = ()
    date: str = ""
    times: tuple[str, ...] = ()
    grid: float = 1.0
    area: tuple[float, float, float, float] | None = None
    data_format: str = "netcdf"
    _key: str = field(default="", init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # frozen: normalise once, here
        set_(self, "variables", tuple(sorted(set(self.variables))))
        set_(self, "levels", tuple(sorted({int(level) for level in self.levels})))
        set_(self, "times", tuple(sorted(set(self.times))))
        set_(self, "grid", float(self.grid))
        if self.area is not None:
            set_(self, "area", tuple(float(x) for x in self.area))
        self._validate()

    def _validate(self) -> None:
        if self.dataset not in (lexicon.PRESSURE_LEVELS_DATASET, lexicon.SINGLE_LEVELS_DATASET):
            raise InvalidInputError(f"unknown ERA5 dataset {self.dataset!r}")
        if not self.variables:
            raise InvalidInputError(f"request for {self.dataset} names no variables")
        for name in self.variables:
            lexicon.from_request_name(self.dataset, name)
        is_levels = self.dataset == lexicon.PRESSURE_LEVELS_DATASET
        if is_levels != bool(self.levels):
            raise InvalidInputError(
                f"{self.dataset} request {'needs' if is_levels else 'takes no'} pressure levels"
            )
        try:
            dt.date.fromisoformat(self.date)
            hours = [dt.time.fromisoformat(t) for t in self.times]
        except ValueError as exc:
            raise InvalidInputError(f"bad date/time in ERA5 request: {exc}") from None
        if not hours or any(h.minute or h.second for h in hours):
            raise InvalidInputError(f"ERA5 request times must be whole hours, got {self.times}")
        if not 0 < self.grid <= 90:
            raise InvalidInputError(f"grid spacing must be in (0, 90] degrees, got {self.grid}")
        if self.data_format not in DATA_FORMATS:
            raise InvalidInputError(f"data_format must be one of {DATA_FORMATS}")

    @property
    def datetimes(self) -> list[dt.datetime]:
        """The valid times requested (naive UTC)."""
        day = dt.date.fromisoformat(self.date)
        return [dt.datetime.combine(day, dt.time.fromisoformat(t)) for t in self.times]

    @property
    def cache_key(self) -> str:
        """Stable, file-name-safe key: dataset, day and a hash of the whole request."""
        if not self._key:
            digest = hashlib.sha256(self.to_json().encode()).hexdigest()[:16]
            short = "pl" if self.dataset == lexicon.PRESSURE_LEVELS_DATASET else "sl"
            object.__setattr__(self, "_key", f"{short}-{self.date}-{digest}")
        return self._key

    @property
    def label(self) -> str:
        """Short human description for logs and progress lines."""
        return (
            f"{self.dataset} {self.date} {','.join(t[:2] for t in self.times)}h "
            f"{len(self.variables)} var{'s' if len(self.variables) > 1 else ''}"
            + (f" x {len(self.levels)} levels" if self.levels else "")
            + f" @{self.grid:g}°"
        )

    def to_cds(self) -> dict[str, Any]:
        """The request body the current CDS expects (`inputs` of the process execution)."""
        day = dt.date.fromisoformat(self.date)
        body: dict[str, Any] = {
            "product_type": ["reanalysis"],
            "variable": list(self.variables),
            "year": [f"{day.year:04d}"],
            "month": [f"{day.month:02d}"],
            "day": [f"{day.day:02d}"],
            "time": list(self.times),
        }
        if self.levels:
            body["pressure_level"] = [str(level) for level in self.levels]
        body["data_format"] = self.data_format
        body["download_format"] = "unarchived"
        body["grid"] = [f"{self.grid:g}", f"{self.grid:g}"]
        if self.area is not None:
            body["area"] = [f"{x:g}" for x in self.area]
        return body

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form, stored on run records and beside cached files."""
        data = asdict(self)
        data.pop("_key")
        data["variables"] = list(self.variables)
        data["levels"] = list(self.levels)
        data["times"] = list(self.times)
        data["area"] = list(self.area) if self.area is not None else None
        return data

    def to_json(self) -> str:
        """Canonical JSON (sorted keys): the basis of `cache_key`."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Era5Request:
        """Inverse of `to_dict`."""
        area = data.get("area")
        return cls(
            dataset=data["dataset"],
            variables=tuple(data["variables"]),
            levels=tuple(data.get("levels", ())),
            date=data["date"],
            times=tuple(data["times"]),
            grid=data.get("grid", 1.0),
            area=tuple(area) if area is not None else None,
            data_format=data.get("data_format", "netcdf"),
        )


def input_frame_times(init_time: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """The two input frames GraphCast reads for `init_time`: T − 6 h and T."""
    init_time = to_utc(init_time)
    return (init_time - INPUT_STEP, init_time)


def precipitation_hours(frame_time: dt.datetime) -> list[dt.datetime]:
    """The hourly `tp` valid times whose sum is the 6 h accumulation ending at `frame_time`.

    ERA5's hourly `tp` at valid time h is the accumulation over the hour ending at h, so the 6 h
    ending at T are the fields valid at T − 5 h … T.
    """
    frame_time = to_utc(frame_time)
    return [frame_time - dt.timedelta(hours=k) for k in range(PRECIPITATION_HOURS - 1, -1, -1)]


def plan_frames(
    frame_times: Iterable[dt.datetime],
    *,
    levels: Sequence[int],
    grid_deg: float,
    variables: Sequence[str] = INPUT_VARIABLES,
    area: tuple[float, float, float, float] | None = None,
    data_format: str = "netcdf",
) -> list[Era5Request]:
    """The CDS requests that give `variables` at `frame_times` (model layout names).

    Per dataset and day: every field at the frame times in one request (the CDS answers a
    request mixing instantaneous fields and TISR, an accumulation, with a zip of one NetCDF per
    step type, which `convert` reads), and hourly `tp` at the hours of the 6 h windows ending at
    each frame in another, as its hours differ. Each field is requested once.

    Args:
        frame_times: valid times of the frames (naive or aware UTC, on the hour).
        levels: pressure levels in hPa.
        grid_deg: grid spacing in degrees.
        variables: model-layout names; statics are not planned here (see `plan_statics`).
        area: optional `(north, west, south, east)`.
        data_format: `netcdf` or `grib`.

    Returns:
        Requests sorted by dataset, day; none is empty.
    """
    frames = sorted({to_utc(t) for t in frame_times})
    if not frames:
        raise InvalidInputError("no frame times to plan requests for")
    # (dataset, is a precipitation window) -> day -> (hours, request names)
    groups: dict[tuple[str, bool], dict[dt.date, tuple[set[str], set[str]]]] = defaultdict(dict)

    def add(var: lexicon.CdsVariable, times: Iterable[dt.datetime], window: bool) -> None:
        by_day = groups[(var.dataset, window)]
        for time in times:
            hours, names = by_day.setdefault(time.date(), (set(), set()))
            hours.add(f"{time:%H:00}")
            names.add(var.request_name)

    for name in variables:
        if name in V.STATIC_VARS:
            raise InvalidInputError(f"{name} is static: plan it with plan_statics")
        var = lexicon.lookup(lexicon.source_variable(name))
        if name == "total_precipitation_6hr":
            add(var, [h for t in frames for h in precipitation_hours(t)], window=True)
        else:
            add(var, frames, window=False)
    requests = []
    for (dataset, _), by_day in sorted(groups.items()):
        for day, (hours, names) in sorted(by_day.items()):
            requests.append(
                Era5Request(
                    dataset=dataset,
                    variables=tuple(names),
                    levels=tuple(levels) if dataset == lexicon.PRESSURE_LEVELS_DATASET else (),
                    date=day.isoformat(),
                    times=tuple(hours),
                    grid=grid_deg,
                    area=area,
                    data_format=data_format,
                )
            )
    return requests


def plan_statics(
    *,
    grid_deg: float,
    area: tuple[float, float, float, float] | None = None,
    data_format: str = "netcdf",
) -> Era5Request:
    """The one request for the static fields (surface geopotential, land-sea mask)."""
    return Era5Request(
        dataset=lexicon.SINGLE_LEVELS_DATASET,
        variables=tuple(lexicon.lookup(name).request_name for name in V.STATIC_VARS),
        date=STATICS_TIME.date().isoformat(),
        times=(f"{STATICS_TIME:%H:00}",),
        grid=grid_deg,
        area=area,
        data_format=data_format,
    )


def plan_inputs(
    init_time: dt.datetime,
    *,
    levels: Sequence[int],
    grid_deg: float,
    area: tuple[float, float, float, float] | None = None,
    data_format: str = "netcdf",
) -> list[Era5Request]:
    """Every request the two input frames of `init_time` need, statics last."""
    return plan_frames(
        input_frame_times(init_time),
        levels=levels,
        grid_deg=grid_deg,
        area=area,
        data_format=data_format,
    ) + [plan_statics(grid_deg=grid_deg, area=area, data_format=data_format)]
