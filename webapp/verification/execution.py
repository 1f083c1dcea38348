"""The scoring step as a Celery worker executes it: sums for every lead with truth, plots, maps.

Files of a run (docs/design.md): `var/runs/<id>/forecast.nc` (the rollout), `truth.nc` (the
analyses at the init and valid times, written by the verify flow through the ERA5 cache) and,
when a climatology is available, `climatology.nc` (its days of year for this run).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
from django.conf import settings

from webapp.runs import execution as run_files
from webapp.runs.models import ForecastRun
from webapp.verification import selectors, services
from webapp.verification.models import DEFAULT_TRUTH, TruthSource

logger = logging.getLogger(__name__)

# Error maps are drawn for these fields (as the run's products) at every verified lead.
ERROR_MAP_FIELDS = (
    ("2m_temperature", None),
    ("mean_sea_level_pressure", None),
    ("geopotential", 500),
    ("temperature", 850),
)


def truth_path(run_id: int, truth_source: str = DEFAULT_TRUTH) -> Path:
    """Where the verify flow writes the run's truth of one tier (model layout): `truth.nc`
    for ERA5, `truth_<source>.nc` for the others (the IFS analysis)."""
    name = "truth.nc" if truth_source == DEFAULT_TRUTH else f"truth_{truth_source}.nc"
    return run_files.run_dir(run_id) / name


def climatology_path(run_id: int) -> Path:
    """Where the verify flow writes the run's climatology (its days of year only)."""
    return run_files.run_dir(run_id) / "climatology.nc"


def plots_dir(run_id: int) -> Path:
    """`var/media/runs/<id>/verification/`: the run's score plots."""
    return run_files.media_dir(run_id) / "verification"


def sums_to_rows(sums) -> list[dict]:
    """Flattens `forecast.verify.evaluation.score_run` output into `ScoreSum` rows."""
    from forecast.verify.metrics import SUM_NAMES

    hours = (sums["lead_time"].values / np.timedelta64(1, "h")).astype(int)
    valid = pd.DatetimeIndex(sums["valid_time"].values).tz_localize("UTC")
    arrays = {
        name: sums[name].transpose("predictor", "field", "lead_time", "region").values
        for name in SUM_NAMES
    }
    rows = []
    for p, predictor in enumerate(sums["predictor"].values):
        for j in range(sums.sizes["field"]):
            variable = str(sums["variable"].values[j])
            level = int(sums["level"].values[j])
            for k, hour in enumerate(hours):
                for r, region in enumerate(sums["region"].values):
                    row = {name: float(arrays[name][p, j, k, r]) for name in SUM_NAMES}
                    row.update(
                        predictor=str(predictor),
                        variable=variable,
                        level=level,
                        lead_hours=int(hour),
                        region=str(region),
                        valid_time=valid[k].to_pydatetime(),
                    )
                    rows.append(row)
    return rows


def execute_scoring(*, run_id: int, task_id: str = "", truth_source: str = DEFAULT_TRUTH) -> dict:
    """Scores every lead of the run whose valid time the truth file holds; stores the sums.

    Idempotent: re-scoring upserts the same rows. Also renders the run's score plots and the
    error maps of the newly verified leads.

    Returns:
      `{"run_id", "leads": [hours scored], "rows": n, "notes": str}`.
    """
    import xarray as xr

    from forecast.errors import InvalidInputError
    from forecast.io import open_forecast
    from forecast.verify import evaluation
    from forecast.verify.climatology import load_climatology

    started = time.perf_counter()
    run = ForecastRun.objects.get(pk=run_id)
    for path, what in (
        (run_files.forecast_path(run_id), "forecast"),
        (truth_path(run_id, truth_source), f"{truth_source} truth"),
    ):
        if not path.is_file():
            raise InvalidInputError(f"run {run_id}: its {what} file {path} does not exist")
    # Loaded whole and closed at once: the run's files are replaced atomically by later steps.
    forecast = open_forecast(run_files.forecast_path(run_id)).load()
    truth = xr.load_dataset(truth_path(run_id, truth_source))
    clim_file = climatology_path(run_id)
    climatology = None
    if clim_file.exists():
        with load_climatology(clim_file) as lazy:
            climatology = lazy.load()
    # The IFS analysis has no precipitation: score what the truth holds, and say what it lacks.
    names = [n for n in forecast.data_vars if "time" in forecast[n].dims]
    unscored = [n for n in names if n not in truth.data_vars]
    sums = evaluation.score_run(
        forecast, truth, climatology=climatology, variables=[n for n in names if n in truth]
    )
    notes = [sums.attrs["notes"]] if sums.attrs.get("notes") else []
    if unscored:
        notes.append(f"not in the {truth_source} truth: {', '.join(unscored)}")
    rows = sums_to_rows(sums)
    truth_until = pd.Timestamp(truth["time"].values.max()).tz_localize("UTC").to_pydatetime()
    clim_text = "none (ACC and the climatology baseline not computed)"
    if climatology is not None:
        clim_text = climatology.attrs.get("climatology_description", clim_file.name)
    services.verification_store_sums(
        run_id=run_id,
        rows=rows,
        leads_total=int(forecast.sizes["time"]),
        truth_until=truth_until,
        climatology=clim_text,
        notes="; ".join(notes),
        task_id=task_id,
        truth_source=truth_source,
    )
    leads = sorted({row["lead_hours"] for row in rows})
    # Error maps against the reference truth only (one map per field and lead on the site).
    error_maps = (
        _render_error_maps(run_id, forecast, truth, leads) if truth_source == DEFAULT_TRUTH else 0
    )
    plots = render_run_plots(run_id=run_id, synthetic=bool(run.synthetic))
    logger.info(
        "run %s: scored %d leads (%d rows), %d plots, %d error maps in %.1f s",
        run_id, len(leads), len(rows), len(plots), error_maps, time.perf_counter() - started,
    )  # fmt: skip
    return {"run_id": run_id, "leads": leads, "rows": len(rows), "notes": "; ".join(notes)}


def _render_error_maps(run_id: int, forecast, truth, leads: list[int]) -> int:
    from forecast.plots.scores import render_error_maps

    out_dir = run_files.media_dir(run_id)
    maps = render_error_maps(forecast, truth, out_dir, fields=ERROR_MAP_FIELDS, lead_hours=leads)
    prefix = out_dir.relative_to(settings.MEDIA_ROOT)
    products = [
        {
            "variable": m.variable,
            "level": m.level,
            "lead_hours": m.lead_hours,
            "file": str(prefix / m.path),
        }
        for m in maps
    ]
    return services.verification_publish_error_maps(run_id=run_id, products=products)


def render_run_plots(*, run_id: int, synthetic: bool) -> dict[str, str]:
    """Score curves (RMSE, ACC, bias vs lead, with baselines) of z500, t850 and t2m.

    Every other field's scores are tables on the run's score page.
    """
    from forecast.plots.scores import render_score_curves
    from forecast.variables import UNITS

    run = ForecastRun.objects.get(pk=run_id)
    media_root = Path(settings.MEDIA_ROOT)
    plots = {}
    for (variable, level, label), (truth, truth_label) in (
        (field, truth) for truth in TruthSource.choices for field in selectors.HEADLINE_FIELDS[:3]
    ):
        curves = selectors.run_score_curves(
            run=run, variable=variable, level=level, truth_source=truth
        )
        if not any(curves["rmse"].values()):
            continue
        reference = truth == DEFAULT_TRUTH
        name = f"{variable}@{level}" + ("" if reference else f" vs {truth}")
        level_text = f" {level} hPa" if level else ""
        path = render_score_curves(
            curves,
            title=f"{variable.replace('_', ' ')}{level_text} ({label}), global, vs {truth_label} "
            f"— run {run_id}, init {run.init_time:%Y-%m-%d %H}Z",
            path=plots_dir(run_id)
            / (
                f"scores_{variable}_{level}.png"
                if reference
                else f"scores_{variable}_{level}_{truth}.png"
            ),
            units=UNITS.get(variable, "m s-1" if "wind" in variable else ""),
            synthetic=synthetic,
        )
        plots[name] = str(path.relative_to(media_root))
    services.verification_record_plots(run_id=run_id, plots=plots)
    return plots


def summary_dir() -> Path:
    """`var/media/verification/`: history and scorecard plots across runs."""
    return Path(settings.MEDIA_ROOT) / "verification"


def render_summary_plots() -> list[str]:
    """Verification history (headline fields, 24/72/120 h) and scorecards vs both baselines.

    Returns:
      The written files, relative to MEDIA_ROOT.
    """
    from forecast.plots.scores import render_history, render_scorecard
    from forecast.variables import UNITS

    media_root = Path(settings.MEDIA_ROOT)
    synthetic = ForecastRun.objects.filter(synthetic=True, verification__isnull=False).exists()
    written = []
    for variable, level, label in selectors.HEADLINE_FIELDS:
        for metric in ("rmse", "acc"):
            series = selectors.verification_history(variable=variable, level=level, metric=metric)
            if not series:
                continue
            path = render_history(
                series,
                metric=metric,
                title=f"{label}: {metric.upper()} at fixed leads, global",
                path=summary_dir() / f"history_{variable}_{level}_{metric}.png",
                units=UNITS.get(variable, ""),
                synthetic=synthetic,
            )
            written.append(str(path.relative_to(media_root)))
    for baseline in ("persistence", "climatology"):
        card = selectors.scorecard(baseline=baseline)
        if card:
            path = render_scorecard(
                card,
                title=f"RMSE of the model vs {baseline} (% change), global, all verified runs",
                path=summary_dir() / f"scorecard_{baseline}.png",
                synthetic=synthetic,
            )
            written.append(str(path.relative_to(media_root)))
    return written


def run_valid_times(run: ForecastRun) -> list[pd.Timestamp]:
    """The run's valid times (init + 6 h·k, k = 1…steps), aware UTC."""
    init = pd.Timestamp(run.init_time)
    init = init.tz_localize("UTC") if init.tzinfo is None else init.tz_convert("UTC")
    return [init + pd.Timedelta(hours=6 * k) for k in range(1, run.steps + 1)]


def era5_source(run: ForecastRun) -> str | None:
    """Where a run's ERA5-tier truth comes from: its own source for ERA5 and synthetic runs;
    for open-data runs the CDS when configured, else the synthetic world when the run's
    inputs were synthetic (the local open-data server), else nowhere yet (None)."""
    if run.data_source != "opendata":
        return run.data_source
    from forecast.data.cds import CdsConfigurationError, resolve_configuration

    try:
        resolve_configuration()
    except CdsConfigurationError:
        return "synthetic" if run.synthetic else None
    return "cds"


def opendata_client(run: ForecastRun):
    """The open-data client of an open-data run (its frozen server URL)."""
    from forecast.data.opendata import OpenDataClient

    url = (run.config or {}).get("opendata_url") or settings.GCF_OPENDATA_URL
    return OpenDataClient(url)


def analysis_available_until(run: ForecastRun, *, now: dt.datetime) -> dt.datetime:
    """The newest valid time whose IFS analysis is published complete (tier-1 truth), aware UTC."""
    from forecast.data.opendata import analysis_available_until as until

    naive_now = pd.Timestamp(now).tz_convert("UTC").tz_localize(None).to_pydatetime()
    latest = until(opendata_client(run), now=naive_now, levels=_levels(run))
    return pd.Timestamp(latest).tz_localize("UTC").to_pydatetime()


def _levels(run: ForecastRun) -> tuple[int, ...]:
    from forecast.data.acquire import resolve_levels

    return resolve_levels(run.levels)


def truth_available_until(source: str, *, now: dt.datetime) -> dt.datetime:
    """The newest valid time whose truth can be had now, aware UTC.

    CDS: the newest time ERA5(T) holds every field of (probed through the ERA5 cache, see
    `forecast.data.acquire.resolve_init_time`). Synthetic: now − the ERA5T stand-in latency
    (`forecast.data.acquire.SYNTHETIC_LATENCY`, 5 days), so both sources fill in alike.
    """
    from forecast.data import acquire

    naive_now = pd.Timestamp(now).tz_convert("UTC").tz_localize(None).to_pydatetime()
    if source == "synthetic":
        until = naive_now - acquire.SYNTHETIC_LATENCY
    else:
        until = acquire.resolve_init_time(
            "cds", now=naive_now, cache_dir=Path(settings.GCF_CACHE_DIR) / "era5"
        )
    return pd.Timestamp(until).tz_localize("UTC").to_pydatetime()


def prepare_truth(
    *, run_id: int, valid_times: list[str], truth_source: str = DEFAULT_TRUTH
) -> Path:
    """Writes the truth of one tier at the init time and `valid_times`, through its cache.

    ERA5 (`truth.nc`): the ERA5 cache (for open-data runs, see `era5_source`). IFS analysis
    (`truth_ifs_analysis.nc`): step 0 of the cycles at those times, through the open-data
    cache. The init-time analysis is the persistence baseline's forecast.
    """
    from forecast.data.acquire import acquire_truth
    from forecast.errors import DataUnavailableError

    run = ForecastRun.objects.get(pk=run_id)
    times = [pd.Timestamp(run.init_time)] + [pd.Timestamp(t) for t in valid_times]
    naive = sorted({(t.tz_convert("UTC") if t.tzinfo else t).tz_localize(None) for t in times})
    cache = Path(settings.GCF_CACHE_DIR)
    if truth_source == TruthSource.IFS_ANALYSIS:
        return acquire_truth(
            [t.to_pydatetime() for t in naive],
            levels=run.levels,
            grid_deg=run.grid_deg,
            cache_dir=cache / "opendata",
            output=truth_path(run_id, truth_source),
            source="opendata",
            opendata_client=opendata_client(run),
        )
    source = era5_source(run)
    if source is None:
        raise DataUnavailableError(f"run {run_id}: no ERA5 source configured (set up the CDS)")
    return acquire_truth(
        [t.to_pydatetime() for t in naive],
        levels=run.levels,
        grid_deg=run.grid_deg,
        cache_dir=cache / "era5",
        output=truth_path(run_id),
        source=source,
    )


def climatology_cache_dir() -> Path:
    """`var/cache/climatology/`: computed climatologies, one file per day of year."""
    return Path(settings.GCF_CACHE_DIR) / "climatology"


def prepare_climatology(*, run_id: int, valid_times: list[str]) -> str:
    """Writes the climatology for the run's valid days to `climatology.nc`; says where it came from.

    Sources, in order: the file named by `GCF_CLIMATOLOGY` (e.g. WeatherBench2's ERA5
    climatology on the run's grid); for synthetic runs, the synthetic world's own climatology
    computed with `forecast.verify.climatology.synthetic_climatology` (three previous years,
    every 3rd day, cached per day of year). Otherwise none: the run is scored without ACC and
    the climatology baseline, and the returned text says so.
    """
    import xarray as xr

    from forecast.data.acquire import write_atomic
    from forecast.verify.climatology import as_climatology, synthetic_climatology

    run = ForecastRun.objects.get(pk=run_id)
    target = climatology_path(run_id)
    valid = pd.DatetimeIndex([pd.Timestamp(t) for t in valid_times])
    days = sorted({int(d) for d in valid.day_of_year})
    user_file = os.environ.get("GCF_CLIMATOLOGY", "")
    if user_file:
        with xr.open_dataset(user_file) as ds:
            clim = as_climatology(ds, name=user_file).sel(dayofyear=days).load()
        description = f"user file {user_file}"
    elif run.synthetic:  # the synthetic world (also behind the local open-data server)
        from forecast.data.acquire import resolve_levels

        levels = resolve_levels(run.levels)
        year = pd.Timestamp(run.init_time).year
        years = (year - 3, year - 2, year - 1)
        folder = climatology_cache_dir() / f"synthetic-g{run.grid_deg:g}-l{len(levels)}-y{years[0]}"
        missing = [d for d in days if not (folder / f"doy{d:03d}.nc").exists()]
        if missing:
            computed = synthetic_climatology(
                missing, grid_deg=run.grid_deg, levels=levels, years=years
            )
            for d in missing:
                write_atomic(computed.sel(dayofyear=[d]), folder / f"doy{d:03d}.nc")
        clim = xr.concat(
            [xr.load_dataset(folder / f"doy{d:03d}.nc") for d in days], dim="dayofyear"
        )
        description = f"synthetic world {years[0]}–{years[-1]}, 61-day triangular window"
    else:
        target.unlink(missing_ok=True)
        logger.warning("run %s: no climatology (set GCF_CLIMATOLOGY): ACC not computed", run_id)
        return "none: GCF_CLIMATOLOGY not set (ACC and the climatology baseline not computed)"
    clim.attrs["climatology_description"] = description
    write_atomic(clim, target)
    return description
