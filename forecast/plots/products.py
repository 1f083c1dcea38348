"""A run's map products: every main variable at every lead time, and error maps where truth exists.

`render_forecast_products` is the one call the service makes. Work is split by (variable, kind):
each job reuses one `MapCanvas` (figure, projection, coastlines, colour bar) across all lead
times, and jobs run in a small process pool (matplotlib is single-threaded).
"""

from __future__ import annotations

import dataclasses
import logging
import multiprocessing
import os
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import xarray as xr

from forecast.errors import InvalidInputError
from forecast.plots.maps import MapCanvas, error_title, time_caption, weighted_rmse
from forecast.plots.styles import style_for

logger = logging.getLogger(__name__)

# Below this many PNGs a render pool's start-up outweighs its gain (~100 ms of CPU per PNG).
_MIN_FRAMES_FOR_POOL = 60
WIND = "10m_wind"  # product drawn from the two 10 m wind components
_WIND_COMPONENTS = ("10m_u_component_of_wind", "10m_v_component_of_wind")

# (variable, level) of the products every run gets; level None for surface variables.
MAIN_PRODUCTS: tuple[tuple[str, int | None], ...] = (
    ("2m_temperature", None),
    ("mean_sea_level_pressure", None),
    (WIND, None),
    ("geopotential", 500),
    ("temperature", 850),
    ("total_precipitation_6hr", None),
)


@dataclasses.dataclass(frozen=True)
class Product:
    """One rendered PNG.

    Attributes:
        kind: "map" (the forecast field) or "error_map" (forecast − truth).
        variable: ERA5 long name, or "10m_wind" for the wind product.
        level: pressure level in hPa, None for surface variables.
        lead_hours: hours from the init time to the valid time.
        path: the PNG, relative to the output directory.
    """

    kind: Literal["map", "error_map"]
    variable: str
    level: int | None
    lead_hours: int
    path: Path


@dataclasses.dataclass(frozen=True)
class _Frame:
    values: np.ndarray  # (lat, lon), display units
    title: str
    caption: str
    product: Product
    u: np.ndarray | None = None
    v: np.ndarray | None = None


@dataclasses.dataclass(frozen=True)
class _Job:
    """Everything one worker needs to draw one variable's frames on one canvas."""

    variable: str
    level: int | None
    error: bool
    lat: np.ndarray
    lon: np.ndarray
    synthetic: bool
    footer: str
    out_dir: Path
    frames: tuple[_Frame, ...]


def product_filename(kind: str, variable: str, level: int | None, lead_hours: int) -> str:
    """e.g. `map_geopotential_500hPa_024h.png`, `error_map_2m_temperature_006h.png`."""
    level_part = f"_{level}hPa" if level is not None else ""
    return f"{kind}_{variable}{level_part}_{lead_hours:03d}h.png"


def _lead_hours(forecast: xr.Dataset) -> list[int]:
    if "lead_time" in forecast.coords:
        leads = pd.to_timedelta(forecast["lead_time"].values)
    else:
        leads = pd.DatetimeIndex(forecast["time"].values) - pd.Timestamp(
            forecast.attrs["init_time"]
        )
    hours = leads / pd.Timedelta(hours=1)
    if np.any(hours != np.round(hours)):
        raise InvalidInputError(f"lead times are not whole hours: {list(hours)}")
    return [int(h) for h in hours]


def _validate(forecast: xr.Dataset, variables: Sequence[tuple[str, int | None]]) -> None:
    missing_dims = [d for d in ("time", "lat", "lon") if d not in forecast.dims]
    if missing_dims:
        raise InvalidInputError(f"forecast lacks dimension(s) {missing_dims}")
    if "init_time" not in forecast.attrs:
        raise InvalidInputError("forecast lacks the 'init_time' attribute")
    missing = []
    for variable, level in variables:
        names = _WIND_COMPONENTS if variable == WIND else (variable,)
        for name in names:
            if name not in forecast:
                missing.append(name)
                continue
            extra = set(forecast[name].dims) - {"time", "level", "lat", "lon"}
            if extra:
                raise InvalidInputError(
                    f"{name} has dimension(s) {sorted(extra)} beyond the forecast layout "
                    "(time, [level,] lat, lon)"
                )
            if level is not None:
                levels = forecast[name]["level"].values if "level" in forecast[name].dims else []
                if level not in set(int(x) for x in levels):
                    missing.append(f"{name} at {level} hPa")
    if missing:
        raise InvalidInputError(f"forecast lacks variable(s) needed for its products: {missing}")


def _select(dataset: xr.Dataset, variable: str, level: int | None) -> xr.DataArray | tuple:
    """The (time, lat, lon) field of a product, or the (u, v) pair for wind."""
    if variable == WIND:
        return tuple(dataset[name].transpose("time", "lat", "lon") for name in _WIND_COMPONENTS)
    field = dataset[variable]
    if level is not None:
        field = field.sel(level=level)
    return field.transpose("time", "lat", "lon")


def _has(dataset: xr.Dataset, variable: str, level: int | None) -> bool:
    names = _WIND_COMPONENTS if variable == WIND else (variable,)
    for name in names:
        if name not in dataset:
            return False
        if level is not None and (
            "level" not in dataset[name].dims or level not in set(dataset["level"].values.tolist())
        ):
            return False
    return True


def _footer(forecast: xr.Dataset) -> str:
    attrs = forecast.attrs
    parts = [f"predictor: {attrs.get('predictor', '?')}"]
    if attrs.get("checkpoint"):
        parts.append(f"checkpoint: {attrs['checkpoint']}")
    parts.append(f"inputs: {attrs.get('source', '?')}")
    return "   ".join(parts)


def _build_jobs(
    forecast: xr.Dataset,
    truth: xr.Dataset | None,
    out_dir: Path,
    variables: Sequence[tuple[str, int | None]],
    leads: list[int],
) -> list[_Job]:
    all_leads = _lead_hours(forecast)
    index_of = {lead: i for i, lead in enumerate(all_leads)}
    init_time = str(forecast.attrs["init_time"])
    synthetic = int(forecast.attrs.get("synthetic", 0)) == 1
    footer = _footer(forecast)
    lat, lon = forecast["lat"].values, forecast["lon"].values
    valid_times = pd.DatetimeIndex(forecast["time"].values)
    truth_index: dict[pd.Timestamp, int] = {}
    if truth is not None:
        if not (
            truth.sizes.get("lat") == lat.size
            and truth.sizes.get("lon") == lon.size
            and np.allclose(truth["lat"].values, lat)
            and np.allclose(truth["lon"].values, lon)
        ):
            raise InvalidInputError("truth is not on the forecast's lat/lon grid")
        truth_index = {pd.Timestamp(t): i for i, t in enumerate(truth["time"].values)}

    jobs = []
    for variable, level in variables:
        style = style_for(variable, level)
        selected = _select(forecast, variable, level)
        if variable == WIND:
            u_all, v_all = (np.asarray(c.values, dtype=np.float32) for c in selected)
            values_all = np.hypot(u_all, v_all)
        else:
            values_all = np.asarray(selected.values, dtype=np.float32)
        truth_all = None
        if truth is not None and _has(truth, variable, level):
            picked = _select(truth, variable, level)
            if variable == WIND:
                truth_all = (np.hypot(picked[0].values, picked[1].values), picked[0]["time"].values)
            else:
                truth_all = (picked.values, picked["time"].values)
        elif truth is not None:
            logger.info(
                "truth lacks %s%s: no error maps for it", variable, f" {level} hPa" if level else ""
            )

        frames, error_frames = [], []
        for lead in leads:
            i = index_of[lead]
            caption = time_caption(init_time=init_time, valid_time=valid_times[i], lead_hours=lead)
            name = product_filename("map", variable, level, lead)
            frames.append(
                _Frame(
                    values=style.to_display(values_all[i]).astype(np.float32),
                    title=f"{style.label} ({style.units})",
                    caption=caption,
                    product=Product("map", variable, level, lead, Path(name)),
                    u=u_all[i] if variable == WIND else None,
                    v=v_all[i] if variable == WIND else None,
                )
            )
            t = truth_index.get(valid_times[i])
            if truth_all is None or t is None:
                continue
            difference = style.difference_to_display(values_all[i] - truth_all[0][t])
            if not np.isfinite(difference).any():
                logger.info("truth for %s at %s is all NaN: no error map", variable, valid_times[i])
                continue
            name = product_filename("error_map", variable, level, lead)
            error_frames.append(
                _Frame(
                    values=difference.astype(np.float32),
                    title=error_title(style, weighted_rmse(difference, lat)),
                    caption=caption,
                    product=Product("error_map", variable, level, lead, Path(name)),
                )
            )
        for error, group in ((False, frames), (True, error_frames)):
            if group:
                jobs.append(
                    _Job(variable, level, error, lat, lon, synthetic, footer, out_dir, tuple(group))
                )
    return jobs


def _render_job(job: _Job) -> list[Product]:
    """Draw every frame of one job on one canvas (runs in a worker process)."""
    canvas = MapCanvas(
        job.lat,
        job.lon,
        style=style_for(job.variable, job.level),
        error=job.error,
        synthetic=job.synthetic,
        footer=job.footer,
    )
    done = []
    for frame in job.frames:
        canvas.draw(frame.values, title=frame.title, caption=frame.caption, u=frame.u, v=frame.v)
        canvas.save(job.out_dir / frame.product.path)
        done.append(frame.product)
    return done


def default_workers(frames: int | None = None) -> int:
    """Processes for rendering `frames` PNGs: up to 2, else 1.

    1 inside a daemonic process (a Celery prefork child may not start children), and for small
    jobs, where starting a spawned worker (~2 s of imports) costs more than it saves.
    """
    if multiprocessing.current_process().daemon:
        return 1
    if frames is not None and frames < _MIN_FRAMES_FOR_POOL:
        return 1
    return max(1, min(2, os.cpu_count() or 1))


def render_forecast_products(
    forecast: xr.Dataset,
    out_dir: Path,
    *,
    truth: xr.Dataset | None = None,
    variables: Sequence[tuple[str, int | None]] = MAIN_PRODUCTS,
    leads: Iterable[int] | None = None,
    workers: int | None = None,
) -> list[Product]:
    """Render the map products of one forecast run as PNGs under `out_dir`.

    Args:
        forecast: the forecast layout of docs/design.md (dims `(time, [level,] lat, lon)`,
            valid times, `lead_time` coord, attrs `init_time`, `synthetic`, ...).
        out_dir: directory for the PNGs (created); each is written atomically.
        truth: model-layout dataset on the same grid; an error map is drawn for each product and
            lead whose valid time (and variable) truth holds.
        variables: (variable, level) pairs; "10m_wind" draws speed with arrows from u/v.
        leads: lead times in hours to draw (default: all of them).
        workers: processes to render with (default `default_workers(#PNGs)`); 1 renders
            in-process, as does any call from a daemonic process.

    Returns:
        The products, maps first then error maps, each group by variable then lead time.

    Raises:
        InvalidInputError: the forecast lacks a dimension, attribute, variable or lead time, or
            truth is on another grid.
    """
    out_dir = Path(out_dir)
    _validate(forecast, variables)
    all_leads = _lead_hours(forecast)
    if leads is None:
        wanted = all_leads
    else:
        wanted = [int(lead) for lead in leads]
        unknown = sorted(set(wanted) - set(all_leads))
        if unknown:
            raise InvalidInputError(f"forecast has no lead time(s) {unknown} h (has {all_leads})")
    out_dir.mkdir(parents=True, exist_ok=True)
    jobs = _build_jobs(forecast, truth, out_dir, variables, wanted)
    frames = sum(len(job.frames) for job in jobs)
    workers = default_workers(frames) if workers is None else max(1, int(workers))
    workers = min(workers, len(jobs)) or 1
    if workers > 1 and multiprocessing.current_process().daemon:
        logger.warning("a daemonic process cannot start a render pool: rendering in-process")
        workers = 1
    results = None
    if workers > 1:
        try:
            # spawn, not fork: the caller may hold threads or an initialised JAX runtime.
            context = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
                results = list(pool.map(_render_job, jobs))
        except BrokenProcessPool as exc:
            # E.g. a caller whose main module cannot be re-imported by spawn (stdin, notebooks).
            logger.warning("render pool failed (%s); falling back to rendering in-process", exc)
            workers = 1
    if results is None:
        results = [_render_job(job) for job in jobs]
    products = [product for result in results for product in result]
    order = {"map": 0, "error_map": 1}
    products.sort(key=lambda p: order[p.kind])  # stable: keeps variable then lead order
    logger.info("rendered %d products into %s with %d worker(s)", len(products), out_dir, workers)
    return products
