"""What the site's map viewer, meteograms, compare view, downloads and home page read.

Selectors in the HackSoft sense (keyword-only, typed, `<entity>_<action>`), plus the on-demand
map and meteogram renderers the views call. Maps are cached on disk under the run's media
directory with the names `forecast.plots.products.product_filename` gives, the same names the
`cpu` worker renders the default set under ahead of time, so each product is drawn once:
ahead (forecast maps of the main fields, global, every lead) or on first request (other
levels, regions, truth, error and difference maps), then served as a static file.

Files are only ever read from the run's own store (`paths.run_dir`): a download names a
file kind, never a path, so nothing outside the store can be reached.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import re
import threading
from collections import OrderedDict
from pathlib import Path

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from webapp.runs import paths
from webapp.runs.models import ForecastRun

logger = logging.getLogger(__name__)

# Files a run offers for download: name → (file in the run's store, description).
DOWNLOADS = {
    "forecast.nc": ("forecast.nc", "Forecast, NetCDF (CF names, SI units)"),
    "forecast.grib2": ("forecast.grib2", "Forecast, GRIB2 (ECMWF parameters; when requested)"),
    "truth.nc": ("truth.nc", "Truth at the verified valid times, NetCDF"),
}
# Named places of the meteogram menu: name → (lat °N, lon °E).
CITIES: dict[str, tuple[float, float]] = {
    "London": (51.51, -0.13),
    "Paris": (48.86, 2.35),
    "Berlin": (52.52, 13.40),
    "Madrid": (40.42, -3.70),
    "Rome": (41.90, 12.50),
    "Reading": (51.45, -0.97),
    "Oslo": (59.91, 10.75),
    "Reykjavík": (64.15, -21.94),
    "New York": (40.71, -74.01),
    "Chicago": (41.88, -87.63),
    "Denver": (39.74, -104.99),
    "Los Angeles": (34.05, -118.24),
    "Mexico City": (19.43, -99.13),
    "São Paulo": (-23.55, -46.63),
    "Buenos Aires": (-34.60, -58.38),
    "Cape Town": (-33.92, 18.42),
    "Nairobi": (-1.29, 36.82),
    "Cairo": (30.04, 31.24),
    "Mumbai": (19.08, 72.88),
    "Beijing": (39.90, 116.41),
    "Tokyo": (35.68, 139.69),
    "Singapore": (1.35, 103.82),
    "Sydney": (-33.87, 151.21),
    "Auckland": (-36.85, 174.76),
}
# Leads the home page offers for its key maps.
HOME_LEADS = (24, 72, 120, 240)
HOME_FIELDS = (
    ("2m_temperature", None),
    ("mean_sea_level_pressure", None),
    ("geopotential", 500),
    ("total_precipitation_6hr", None),
)

# One lock per process: matplotlib/cartopy set-up is not thread-safe, and two requests for
# the same map should draw it once.
_RENDER_LOCK = threading.Lock()
_RUN_MAPS: OrderedDict[tuple, object] = OrderedDict()
_RUN_MAPS_KEEP = 4


_PLAIN_NAME = re.compile(r"[a-z0-9_]{1,64}")


class ProductUnavailable(Exception):
    """The requested map, file or series does not exist (yet) for this run."""


def run_forecast_file(*, run: ForecastRun) -> Path | None:
    """The run's forecast file, only once the run has succeeded and only if it exists."""
    if run.status != ForecastRun.Status.SUCCEEDED:
        return None
    path = paths.forecast_path(run.pk)
    return path if path.is_file() else None


def run_truth_file(*, run: ForecastRun) -> Path | None:
    """The truth the verification gathered for the run (`truth.nc` in its store), if any."""
    path = paths.run_dir(run.pk) / "truth.nc"
    return path if path.is_file() else None


def run_download_path(*, run: ForecastRun, name: str) -> Path:
    """The file `name` (a key of DOWNLOADS) in the run's own store.

    Raises:
        ProductUnavailable: unknown name, run not succeeded, or the file is missing.
    """
    if name not in DOWNLOADS:
        raise ProductUnavailable(f"run {run.pk} offers no file {name!r}")
    if run.status != ForecastRun.Status.SUCCEEDED:
        raise ProductUnavailable(f"run {run.pk} has not succeeded: no files yet")
    store = paths.run_dir(run.pk).resolve()
    path = (store / DOWNLOADS[name][0]).resolve()
    if store not in path.parents or not path.is_file():
        raise ProductUnavailable(f"run {run.pk} has no {name}")
    return path


def run_downloads(*, run: ForecastRun) -> list[dict]:
    """The run's downloadable files: `[{name, description, size_mb}]`."""
    found = []
    for name, (_, description) in DOWNLOADS.items():
        try:
            path = run_download_path(run=run, name=name)
        except ProductUnavailable:
            continue
        found.append(
            {"name": name, "description": description, "size_mb": path.stat().st_size / 1e6}
        )
    return found


def _truth_stamp(path: Path | None) -> str:
    return "" if path is None else f"{path.stat().st_mtime_ns:x}"


def _open(path: Path):
    """A forecast file of any format, in the forecast layout (lazily)."""
    from forecast.io import open_forecast

    return open_forecast(path)


def _open_truth(path: Path):
    """A truth file (the model layout: ERA5 or analysis frames), lazily."""
    import xarray as xr

    return xr.open_dataset(path)


def _run_maps(run: ForecastRun, other: ForecastRun | None = None):
    """A `RunMaps` of the run (with its truth, and `other` for differences), kept per process
    so each field's colour scale is computed once."""
    from forecast.plots.products import RunMaps

    forecast_file = run_forecast_file(run=run)
    if forecast_file is None:
        raise ProductUnavailable(f"run {run.pk} has no forecast yet")
    truth_file = run_truth_file(run=run)
    other_file = run_forecast_file(run=other) if other is not None else None
    if other is not None and other_file is None:
        raise ProductUnavailable(f"run {other.pk} has no forecast to compare with")
    key = (
        run.pk,
        forecast_file.stat().st_mtime_ns,
        _truth_stamp(truth_file),
        other.pk if other else None,
    )
    if key in _RUN_MAPS:
        _RUN_MAPS.move_to_end(key)
        return _RUN_MAPS[key]
    maps = RunMaps(
        _open(forecast_file),
        truth=_open_truth(truth_file) if truth_file else None,
        other=_open(other_file) if other_file else None,
        label=f"run #{run.pk}",
        other_label=f"run #{other.pk}" if other else "other run",
    )
    _RUN_MAPS[key] = maps
    while len(_RUN_MAPS) > _RUN_MAPS_KEEP:
        _RUN_MAPS.popitem(last=False)
    return maps


def map_cache_dir(*, run: ForecastRun, kind: str, other: ForecastRun | None = None) -> Path:
    """Where maps of `kind` are cached: the run's media dir (the ahead-rendered set lives there
    too); truth-based maps under the truth file's stamp (new truth → new maps), differences
    per other run."""
    base = paths.media_dir(run.pk)
    if kind in ("truth", "error"):
        return base / f"truth-{_truth_stamp(run_truth_file(run=run))}"
    if kind == "difference":
        if other is None:
            raise ProductUnavailable("a difference map needs another run")
        return base / f"diff-{other.pk}"
    return base


def map_image(
    *,
    run: ForecastRun,
    kind: str,
    variable: str,
    level: int | None,
    region: str,
    lead: int,
    other: ForecastRun | None = None,
) -> Path:
    """The PNG of one map, rendered on first request and cached on disk (atomically).

    Raises:
        ProductUnavailable: no forecast yet, no truth/other run at that valid time, unknown
            field, kind, region or lead.
    """
    from forecast.errors import InvalidInputError
    from forecast.plots.products import KINDS, product_filename, render_job
    from forecast.plots.regions import MAP_REGIONS

    # Names become file names: only known kinds/regions and plain variable names get that far.
    if kind not in KINDS or region not in MAP_REGIONS or not _PLAIN_NAME.fullmatch(variable):
        raise ProductUnavailable(f"no map {kind!r} of {variable!r} for region {region!r}")
    if lead < 0 or (level is not None and level <= 0):
        raise ProductUnavailable(f"no map at lead {lead} h, level {level}")
    cache = map_cache_dir(run=run, kind=kind, other=other)
    path = cache / product_filename(kind, variable, level, lead, region)
    if path.resolve().parent != cache.resolve():
        raise ProductUnavailable(f"no map named {path.name!r}")
    if path.is_file():
        return path
    _configure_cartopy()
    with _RENDER_LOCK:
        if path.is_file():  # drawn by another request meanwhile
            return path
        try:
            maps = _run_maps(run, other)
            jobs = maps.jobs(
                path.parent,
                kinds=(kind,),
                fields=[(variable, level)],
                regions=(region,),
                leads=[lead],
            )
        except InvalidInputError as exc:
            raise ProductUnavailable(str(exc)) from exc
        if not jobs:
            raise ProductUnavailable(
                f"run {run.pk} has no {kind} map of {variable}"
                + (f" at {level} hPa" if level else "")
                + f" at +{lead} h"
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        render_job(jobs[0])
    return path


@functools.cache
def _configure_cartopy() -> None:
    import os

    from forecast.plots.natural_earth import configure_cartopy

    data_dir = os.environ.get("CARTOPY_DATA_DIR") or Path(settings.GCF_VAR_DIR) / "cartopy"
    configure_cartopy(Path(data_dir))


def run_viewer(*, run: ForecastRun) -> dict:
    """What the viewer's selectors offer for `run`.

    Returns:
        `{"ready", "fields": [{variable, label, units, levels}], "leads": [h...],
        "truth_leads": [h...], "regions": [{name, label}], "compare": [{id, label}]}`;
        `ready` False (and empty lists) until the forecast exists.
    """
    from forecast.plots.maps import map_layout
    from forecast.plots.products import lead_hours_of, viewer_fields
    from forecast.plots.regions import MAP_REGIONS

    regions = [
        {"name": r.name, "label": r.label, "layout": map_layout(r)} for r in MAP_REGIONS.values()
    ]
    empty = {"ready": False, "fields": [], "leads": [], "truth_leads": [], "regions": regions}
    forecast_file = run_forecast_file(run=run)
    if forecast_file is None:
        return empty | {"compare": []}
    with _open(forecast_file) as forecast:
        fields = viewer_fields(forecast)
        leads = lead_hours_of(forecast)
        valid = {int(lead): t for lead, t in zip(leads, forecast["time"].values, strict=True)}
    truth_leads: list[int] = []
    truth_file = run_truth_file(run=run)
    if truth_file is not None:
        import pandas as pd

        with _open_truth(truth_file) as truth:
            times = set(pd.DatetimeIndex(truth["time"].values))
        truth_leads = [lead for lead, t in valid.items() if pd.Timestamp(t) in times]
    return {
        "ready": True,
        "init_time": run.init_time.isoformat(),
        "fields": fields,
        "leads": leads,
        "truth_leads": truth_leads,
        "regions": regions,
        "compare": run_compare_candidates(run=run),
    }


def run_compare_candidates(*, run: ForecastRun, limit: int = 12) -> list[dict]:
    """Succeeded runs worth comparing with `run`: its reruns and original, other runs of the
    same init (another checkpoint), and earlier/later inits overlapping in valid time."""
    horizon = dt.timedelta(hours=6 * max(run.steps, 1))
    candidates = (
        ForecastRun.objects.filter(status=ForecastRun.Status.SUCCEEDED, grid_deg=run.grid_deg)
        .exclude(pk=run.pk)
        .filter(
            Q(pk=run.rerun_of_id)
            | Q(rerun_of=run)
            | Q(init_time__gt=run.init_time - horizon, init_time__lt=run.init_time + horizon)
        )
        .order_by("-init_time", "-id")[:limit]
    )
    found = []
    for other in candidates:
        if other.pk == run.rerun_of_id:
            why = "original of this rerun"
        elif other.rerun_of_id == run.pk:
            why = "rerun of this run"
        elif other.init_time == run.init_time:
            why = f"same init, {other.predictor_name or other.predictor_spec}"
        else:
            hours = int((other.init_time - run.init_time).total_seconds() // 3600)
            why = f"init {hours:+d} h"
        label = f"Run #{other.pk} · {other.init_time:%Y-%m-%d %H} UTC · {why}"
        found.append({"id": other.pk, "label": label})
    return found


def run_lead_for_valid_time(*, run: ForecastRun, other: ForecastRun, lead: int) -> int | None:
    """The lead of `other` valid at the same time as `run` at `lead` (None if it has none)."""
    valid = run.init_time + dt.timedelta(hours=lead)
    other_lead = int((valid - other.init_time).total_seconds() // 3600)
    if other_lead <= 0 or other_lead > 6 * other.steps or other_lead % 6:
        return None
    return other_lead


def run_meteogram(
    *, run: ForecastRun, lat: float, lon: float, place: str = ""
) -> tuple[Path, list[dict]]:
    """A meteogram PNG at (`lat`, `lon`) and its table rows (display units), cached on disk.

    Returns:
        (PNG path, `[{"lead", "valid", "values": {variable: value}, "truth": {...}}]`).
    """
    from forecast.errors import InvalidInputError
    from forecast.plots.meteogram import render_meteogram
    from forecast.point import point_series, point_series_to_display

    forecast_file = run_forecast_file(run=run)
    if forecast_file is None:
        raise ProductUnavailable(f"run {run.pk} has no forecast yet")
    truth_file = run_truth_file(run=run)
    try:
        series = point_series_to_display(point_series(forecast_file, lat=lat, lon=lon))
        truth = None
        if truth_file is not None:
            truth = point_series_to_display(point_series(truth_file, lat=lat, lon=lon))
    except InvalidInputError as exc:
        raise ProductUnavailable(str(exc)) from exc
    name = f"meteogram_{lat:+.2f}_{lon % 360:.2f}_{_truth_stamp(truth_file) or 'none'}.png"
    path = paths.media_dir(run.pk) / "meteograms" / name
    if not path.is_file():
        with _RENDER_LOCK:
            render_meteogram(
                series,
                truth=truth,
                path=path,
                place=place or f"{abs(lat):.2f}°{'N' if lat >= 0 else 'S'} {_lon_text(lon)}",
                synthetic=bool(run.synthetic),
            )
    return path, _meteogram_rows(series, truth)


def _lon_text(lon: float) -> str:
    lon = (lon + 180.0) % 360.0 - 180.0
    return f"{abs(lon):.2f}°{'E' if lon >= 0 else 'W'}"


def _meteogram_rows(series, truth) -> list[dict]:
    import numpy as np
    import pandas as pd

    truth_at = {}
    if truth is not None:
        for k, t in enumerate(pd.DatetimeIndex(truth["time"].values)):
            truth_at[t] = {name: float(truth[name].values[k]) for name in truth.data_vars}
    rows = []
    valid = pd.DatetimeIndex(series["time"].values)
    leads = (
        pd.to_timedelta(series["lead_time"].values) / pd.Timedelta(hours=1)
        if "lead_time" in series.coords
        else [None] * len(valid)
    )
    for k, t in enumerate(valid):
        values = {
            name: (None if not np.isfinite(v) else float(v))
            for name in series.data_vars
            for v in [series[name].values[k]]
        }
        rows.append(
            {
                "lead": None if leads[k] is None else int(leads[k]),
                "valid": t.to_pydatetime(),
                "values": values,
                "truth": truth_at.get(t, {}),
            }
        )
    return rows


def home_latest_run() -> ForecastRun | None:
    """The latest succeeded run (by init time)."""
    return (
        ForecastRun.objects.filter(status=ForecastRun.Status.SUCCEEDED)
        .order_by("-init_time", "-id")
        .first()
    )


def home_latest_verified() -> ForecastRun | None:
    """The latest run (by init time) that has been scored at all."""
    return (
        ForecastRun.objects.filter(verification__isnull=False)
        .exclude(verification__leads_scored=[])
        .order_by("-init_time", "-id")
        .first()
    )


def home_key_maps(*, run: ForecastRun, lead: int) -> list[dict]:
    """The home page's key maps of `run` at `lead`: `[{variable, level, label, url}]`."""
    from forecast.plots.styles import style_for

    maps = []
    for variable, level in HOME_FIELDS:
        style = style_for(variable, level)
        query = f"?kind=forecast&variable={variable}&region=global&lead={lead}"
        if level is not None:
            query += f"&level={level}"
        maps.append({"variable": variable, "level": level, "label": style.label, "query": query})
    return maps


def pipeline_active_runs() -> list[dict]:
    """Queued and running runs with progress k/N and an ETA from the rollout's pace so far."""
    now = timezone.now()
    active = []
    for run in ForecastRun.objects.filter(
        status__in=[ForecastRun.Status.QUEUED, ForecastRun.Status.RUNNING]
    ).order_by("queued_at", "id"):
        eta = None
        if run.progress_step and run.progress_total and run.running_at:
            elapsed = (now - run.running_at).total_seconds()
            per_step = elapsed / run.progress_step
            eta = now + dt.timedelta(seconds=per_step * (run.progress_total - run.progress_step))
        active.append(
            {
                "id": run.pk,
                "init_time": run.init_time,
                "status": run.get_status_display(),
                "stage": run.stage,
                "step": run.progress_step,
                "total": run.progress_total or run.steps,
                "percent": run.progress_percent,
                "eta": eta,
            }
        )
    return active


def pipeline_recent_failures(*, days: int = 7, limit: int = 5) -> list[ForecastRun]:
    """Failed or quarantined runs of the last `days` days, newest first."""
    since = timezone.now() - dt.timedelta(days=days)
    return list(
        ForecastRun.objects.filter(
            status__in=[ForecastRun.Status.FAILED, ForecastRun.Status.QUARANTINED],
            updated_at__gte=since,
        ).order_by("-updated_at")[:limit]
    )


def pipeline_next_cycle(*, now: dt.datetime | None = None) -> dict:
    """The next scheduled daily cycle from `settings.GCF_DAILY_CRON` (daily "M H * * *" form),
    the cron flows/deployments.py serves the daily cycle with."""
    cron = settings.GCF_DAILY_CRON
    now = now or timezone.now()
    minute, hour, *rest = cron.split()
    if not (minute.isdigit() and hour.isdigit() and all(part == "*" for part in rest)):
        return {"cron": cron, "next": None}
    candidate = now.astimezone(dt.UTC).replace(
        hour=int(hour), minute=int(minute), second=0, microsecond=0
    )
    if candidate <= now:
        candidate += dt.timedelta(days=1)
    return {"cron": cron, "next": candidate}


def pipeline_queues(*, timeout: float = 0.5) -> dict:
    """Messages waiting in the Celery queues and the workers that answered a ping.

    Returns:
        `{"queues": {"gpu": n, "cpu": n}, "workers": [name...], "error": ""}`; `error` says why
        the broker could not be asked (the page shows it rather than a wrong zero).
    """
    from webapp.celery import app

    state: dict = {"queues": {}, "workers": [], "error": ""}
    try:
        with app.connection_for_read() as connection:
            client = connection.channel().client
            for queue in ("gpu", "cpu"):
                state["queues"][queue] = int(client.llen(queue))
        replies = app.control.inspect(timeout=timeout).ping() or {}
        state["workers"] = sorted(replies)
    except Exception as exc:  # noqa: BLE001 - any broker failure is shown, not raised
        state["error"] = f"broker unreachable: {type(exc).__name__}: {exc}"
    return state


# Meteogram table columns, in order (see forecast.point.POINT_VARIABLES).
POINT_COLUMNS = (
    "2m_temperature",
    "mean_sea_level_pressure",
    "10m_wind_speed",
    "10m_wind_direction",
    "total_precipitation_6hr",
)


def point_labels() -> dict[str, tuple[str, str]]:
    """(human name, display units) of each meteogram column."""
    from forecast.point import point_labels as labels

    return dict(labels())


# Scored fields the compare view lists: (variable, level in the scores, map style key).
_DELTA_FIELDS = (
    ("geopotential", 500, ("geopotential", 500)),
    ("temperature", 850, ("temperature", 850)),
    ("2m_temperature", 0, ("2m_temperature", None)),
    ("mean_sea_level_pressure", 0, ("mean_sea_level_pressure", None)),
    ("10m_wind_vector", 0, ("10m_wind", None)),
)


def compare_score_deltas(*, a: ForecastRun, b: ForecastRun) -> list[dict]:
    """RMSE of both runs (global, display units) at the leads both have been scored at.

    Scores are stored in SI units; they are shown through the map styles' scale (a 1 K
    error is a 1 °C error). Δ = B − A: negative means B verifies better.

    Returns:
        `[{"label", "units", "cells": [{"lead", "a", "b", "delta"}]}]`, fields with no common
        scored lead left out.
    """
    from forecast.plots.styles import style_for
    from webapp.verification.selectors import window_scores

    table = []
    for variable, level, style_key in _DELTA_FIELDS:
        style = style_for(*style_key)
        scores_a = window_scores(variable=variable, level=level, region="global", runs=[a.pk])
        scores_b = window_scores(variable=variable, level=level, region="global", runs=[b.pk])
        model_a, model_b = scores_a.get("model", {}), scores_b.get("model", {})
        cells = []
        for lead in sorted(set(model_a) & set(model_b)):
            rmse_a, rmse_b = model_a[lead].get("rmse"), model_b[lead].get("rmse")
            if rmse_a is None or rmse_b is None:
                continue
            ra = float(style.difference_to_display(rmse_a))
            rb = float(style.difference_to_display(rmse_b))
            cells.append({"lead": lead, "a": ra, "b": rb, "delta": rb - ra})
        if cells:
            table.append({"label": style.label, "units": style.units, "cells": cells})
    return table
