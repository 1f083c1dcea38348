"""A run's map products: field × level × kind (forecast, truth, error, difference) × region × lead.

`RunMaps` holds one run (and, where they exist, its truth and another run to compare with) and
fixes each field's colour scale once per run from every lead (`forecast.plots.scales`), so a
map rendered ahead of time on the `cpu` worker and one rendered on demand by the site are drawn
on the same classes. `render_forecast_products` is the one call the service's render task makes:
it renders a product set in parallel (a process pool of up to 2 workers; each worker reuses one
`MapCanvas` — projection index, coastlines, colour bar — for every lead of a field and region).

File names (`product_filename`) are the cache keys the site looks for: the same product is never
drawn twice.
"""

from __future__ import annotations

import dataclasses
import logging
import multiprocessing
import os
from collections import OrderedDict
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
from forecast.plots.regions import MAP_REGIONS, map_region
from forecast.plots.scales import ColourScale, difference_scale, field_scale
from forecast.plots.styles import FieldStyle, style_for

logger = logging.getLogger(__name__)

# Below this many PNGs a render pool's start-up (~2 s of imports) outweighs its gain.
_MIN_FRAMES_FOR_POOL = 60
WIND = "10m_wind"  # product drawn from the two 10 m wind components
LEVEL_WIND = "wind"  # wind speed at a pressure level, from u/v
WIND_COMPONENTS = {
    WIND: ("10m_u_component_of_wind", "10m_v_component_of_wind"),
    LEVEL_WIND: ("u_component_of_wind", "v_component_of_wind"),
}

Kind = Literal["forecast", "truth", "error", "difference"]
KINDS: tuple[str, ...] = ("forecast", "truth", "error", "difference")
# File-name prefix of each kind ("map"/"error_map" are also the run's Product kinds).
_FILE_KIND = {
    "forecast": "map",
    "truth": "truth_map",
    "error": "error_map",
    "difference": "diff_map",
}

# (variable, level) of the products every run gets ahead of time; level None for surface.
MAIN_PRODUCTS: tuple[tuple[str, int | None], ...] = (
    ("2m_temperature", None),
    ("mean_sea_level_pressure", None),
    (WIND, None),
    ("total_precipitation_6hr", None),
    ("geopotential", 500),
    ("temperature", 850),
)
# The fields the viewer offers, in its menu order: surface ones, then those on levels.
VIEWER_SURFACE = ("2m_temperature", "mean_sea_level_pressure", WIND, "total_precipitation_6hr")
VIEWER_LEVELS = ("geopotential", "temperature", LEVEL_WIND, "specific_humidity")


@dataclasses.dataclass(frozen=True)
class Product:
    """One rendered PNG.

    Attributes:
        kind: "map" (the forecast field), "error_map" (forecast − truth), "truth_map" or
            "diff_map" (this run − another run).
        variable: ERA5 long name, or "10m_wind"/"wind" for the wind products.
        level: pressure level in hPa, None for surface variables.
        lead_hours: hours from the init time to the valid time.
        path: the PNG, relative to the output directory.
        region: map region name (`forecast.plots.regions.MAP_REGIONS`).
    """

    kind: str
    variable: str
    level: int | None
    lead_hours: int
    path: Path
    region: str = "global"


def product_filename(
    kind: str, variable: str, level: int | None, lead_hours: int, region: str = "global"
) -> str:
    """e.g. `map_geopotential_500hPa_024h.png`, `error_map_2m_temperature_europe_006h.png`.

    `kind` is a file kind ("map", "error_map", ...) or a viewer kind ("forecast", "error", ...).
    """
    kind = _FILE_KIND.get(kind, kind)
    level_part = f"_{level}hPa" if level is not None else ""
    region_part = f"_{region}" if region != "global" else ""
    return f"{kind}_{variable}{level_part}{region_part}_{lead_hours:03d}h.png"


def lead_hours_of(forecast: xr.Dataset) -> list[int]:
    """Lead times in whole hours (from `lead_time`, else valid time − `init_time`)."""
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


def _sources(variable: str) -> tuple[str, ...]:
    return WIND_COMPONENTS.get(variable, (variable,))


def has_field(dataset: xr.Dataset, variable: str, level: int | None) -> bool:
    """Whether `dataset` can draw `variable` (at `level`)."""
    for name in _sources(variable):
        if name not in dataset:
            return False
        if level is not None and (
            "level" not in dataset[name].dims
            or int(level) not in set(int(x) for x in dataset["level"].values)
        ):
            return False
        if level is None and "level" in dataset[name].dims:
            return False
    return True


def products_subset(
    dataset: xr.Dataset, variables: Sequence[tuple[str, int | None]] = MAIN_PRODUCTS
) -> xr.Dataset:
    """The part of `dataset` that products of `variables` draw: their variables and levels.

    A render task reads only this from a lazily opened forecast (all fields of a 0.25° 10-day
    run would not fit a cpu worker's memory). Variables `dataset` lacks are left out, so the
    renderer still names what is missing.
    """
    names = sorted({n for v, _ in variables for n in _sources(v)} & set(dataset.data_vars))
    subset = dataset[names]
    levels = sorted({int(level) for _, level in variables if level is not None})
    if "level" in subset.dims and levels:
        available = {int(x) for x in subset["level"].values}
        subset = subset.sel(level=[lv for lv in levels if lv in available])
    return subset


def viewer_fields(forecast: xr.Dataset) -> list[dict]:
    """What the viewer's field menu offers for `forecast`: `[{variable, label, units, levels}]`.

    `levels` is empty for surface fields; labels and units come from the map styles.
    """
    fields = []
    for variable in VIEWER_SURFACE:
        if has_field(forecast, variable, None):
            style = style_for(variable)
            fields.append(
                {"variable": variable, "label": style.label, "units": style.units, "levels": []}
            )
    levels = [int(x) for x in forecast["level"].values] if "level" in forecast.coords else []
    for variable in VIEWER_LEVELS:
        available = [lv for lv in levels if has_field(forecast, variable, lv)]
        if available:
            style = style_for(variable, 500)
            label = style.label.replace("500 hPa ", "")
            fields.append(
                {
                    "variable": variable,
                    "label": label[:1].upper() + label[1:],
                    "units": style.units,
                    "levels": available,
                }
            )
    return fields


def _field(dataset: xr.Dataset, variable: str, level: int | None) -> np.ndarray:
    """(time, lat, lon) archive-unit values of a field; wind products give the speed."""
    if not has_field(dataset, variable, level):
        where = f" at {level} hPa" if level is not None else ""
        raise InvalidInputError(
            f"dataset lacks {variable}{where} ({', '.join(_sources(variable))})"
        )
    parts = []
    for name in _sources(variable):
        field = dataset[name]
        if level is not None:
            field = field.sel(level=level)
        parts.append(np.asarray(field.transpose("time", "lat", "lon").values, dtype=np.float32))
    if len(parts) == 2:
        return np.hypot(parts[0], parts[1])
    return parts[0]


def _wind(dataset: xr.Dataset, variable: str, level: int | None, index: int):
    if variable not in WIND_COMPONENTS:
        return None, None
    u_name, v_name = WIND_COMPONENTS[variable]
    u, v = dataset[u_name], dataset[v_name]
    if level is not None:
        u, v = u.sel(level=level), v.sel(level=level)
    return (
        np.asarray(u.isel(time=index).transpose("lat", "lon").values),
        np.asarray(v.isel(time=index).transpose("lat", "lon").values),
    )


def footer_of(forecast: xr.Dataset) -> str:
    """The map footer: predictor, checkpoint and inputs of the run."""
    attrs = forecast.attrs
    parts = [f"predictor: {attrs.get('predictor', '?')}"]
    if attrs.get("checkpoint"):
        parts.append(f"checkpoint: {attrs['checkpoint']}")
    parts.append(f"inputs: {attrs.get('source', '?')}")
    return "   ".join(parts)


def _check_grid(forecast: xr.Dataset, other: xr.Dataset, what: str) -> None:
    lat, lon = forecast["lat"].values, forecast["lon"].values
    if not (
        other.sizes.get("lat") == lat.size
        and other.sizes.get("lon") == lon.size
        and np.allclose(other["lat"].values, lat)
        and np.allclose(other["lon"].values, lon)
    ):
        raise InvalidInputError(f"{what} is not on the forecast's lat/lon grid")


@dataclasses.dataclass(frozen=True)
class Frame:
    """One map to draw on a canvas (display units)."""

    values: np.ndarray
    title: str
    caption: str
    product: Product
    u: np.ndarray | None = None
    v: np.ndarray | None = None


@dataclasses.dataclass(frozen=True)
class CanvasJob:
    """Everything one worker needs to draw frames of one field, kind and region on one canvas."""

    lat: np.ndarray
    lon: np.ndarray
    style: FieldStyle
    error: bool
    region: str
    scale: ColourScale
    synthetic: bool
    footer: str
    difference_label: str
    out_dir: Path
    frames: tuple[Frame, ...]


class RunMaps:
    """The maps of one run, each field's colour scale fixed for the run.

    Args:
        forecast: forecast layout (dims `(time, [level,] lat, lon)`, `lead_time`, attrs).
        truth: model layout on the same grid, for "truth" and "error" maps (valid times it
            lacks get none).
        other: another run's forecast on the same grid, for "difference" maps (this − other at
            the same valid time).
        other_label: how the difference maps name the other run, e.g. "run 12".
        label: how they name this run.
    """

    def __init__(
        self,
        forecast: xr.Dataset,
        *,
        truth: xr.Dataset | None = None,
        other: xr.Dataset | None = None,
        label: str = "this run",
        other_label: str = "other run",
    ) -> None:
        missing = [d for d in ("time", "lat", "lon") if d not in forecast.dims]
        if missing:
            raise InvalidInputError(f"forecast lacks dimension(s) {missing}")
        if "init_time" not in forecast.attrs:
            raise InvalidInputError("forecast lacks the 'init_time' attribute")
        if truth is not None:
            _check_grid(forecast, truth, "truth")
        if other is not None:
            _check_grid(forecast, other, "the other run")
        self.forecast, self.truth, self.other = forecast, truth, other
        self.label, self.other_label = label, other_label
        self.leads = lead_hours_of(forecast)
        self.valid_times = pd.DatetimeIndex(forecast["time"].values)
        self.init_time = str(forecast.attrs["init_time"])
        self.synthetic = int(forecast.attrs.get("synthetic", 0)) == 1
        self.footer = footer_of(forecast)
        self._scales: dict[tuple, ColourScale] = {}
        self._values: dict[tuple, np.ndarray] = {}

    # --- data ----------------------------------------------------------------------------

    def _display(self, dataset: xr.Dataset, which: str, variable: str, level: int | None):
        key = (which, variable, level)
        if key not in self._values:
            style = style_for(variable, level)
            values = _field(dataset, variable, level)
            display = np.empty(values.shape, dtype=np.float32)
            for i, lead in enumerate(values):  # a lead at a time: small float64 temporaries
                display[i] = style.to_display(lead)
            self._values[key] = display
        return self._values[key]

    def _time_index(self, dataset: xr.Dataset | None) -> dict[pd.Timestamp, int]:
        if dataset is None:
            return {}
        return {pd.Timestamp(t): i for i, t in enumerate(dataset["time"].values)}

    def _pairs(self, kind: str, variable: str, level: int | None) -> list[tuple[int, int]]:
        """(forecast index, truth/other index) of the leads a kind can draw."""
        if kind == "forecast":
            return [(i, i) for i in range(len(self.leads))]
        dataset = self.other if kind == "difference" else self.truth
        if dataset is None or not has_field(dataset, variable, level):
            return []
        index = self._time_index(dataset)
        return [(i, index[t]) for i, t in enumerate(self.valid_times) if t in index]

    def available_leads(self, kind: str, variable: str, level: int | None) -> list[int]:
        """Lead hours for which `kind` of `variable` can be drawn."""
        if kind not in KINDS:
            raise InvalidInputError(f"unknown map kind {kind!r}; known: {KINDS}")
        if not has_field(self.forecast, variable, level):
            return []
        return [self.leads[i] for i, _ in self._pairs(kind, variable, level)]

    def _difference(self, kind: str, variable: str, level: int | None, i: int, j: int):
        style = style_for(variable, level)
        this = self._display(self.forecast, "forecast", variable, level)[i]
        source = self.other if kind == "difference" else self.truth
        that = self._display(source, kind, variable, level)[j]
        # Display offsets cancel: a 1 K error is a 1 °C error.
        return (this - that).astype(np.float32), style

    def scale(self, kind: str, variable: str, level: int | None) -> ColourScale:
        """The colour scale of `kind` of `variable` for this run (same for every lead/region)."""
        key = ("field" if kind in ("forecast", "truth") else kind, variable, level)
        if key not in self._scales:
            style = style_for(variable, level)
            if key[0] == "field":
                values = None
                if not _scale_is_fixed(kind, variable, level):
                    values = self._display(self.forecast, "forecast", variable, level)
                self._scales[key] = field_scale(style, values)
            else:
                pairs = self._pairs(kind, variable, level)
                diffs = (
                    np.stack([self._difference(kind, variable, level, i, j)[0] for i, j in pairs])
                    if pairs
                    else None
                )
                self._scales[key] = difference_scale(diffs)
        return self._scales[key]

    # --- frames --------------------------------------------------------------------------

    def frame(
        self, kind: str, variable: str, level: int | None, lead: int, region: str = "global"
    ) -> Frame:
        """The values, titles and file name of one map (raises if it cannot be drawn)."""
        if lead not in self.leads:
            raise InvalidInputError(f"forecast has no lead time {lead} h (has {self.leads})")
        pairs = dict(self._pairs(kind, variable, level))
        i = self.leads.index(lead)
        if i not in pairs:
            raise InvalidInputError(
                f"no {kind} map of {variable} at +{lead} h: "
                + ("no truth" if kind in ("truth", "error") else "no other run")
                + f" at {self.valid_times[i]:%Y-%m-%d %H} UTC"
            )
        j = pairs[i]
        style = style_for(variable, level)
        caption = time_caption(
            init_time=self.init_time, valid_time=self.valid_times[i], lead_hours=lead
        )
        product = Product(
            _FILE_KIND[kind],
            variable,
            level,
            lead,
            Path(product_filename(kind, variable, level, lead, region)),
            region,
        )
        region_note = "" if region == "global" else f" · {map_region(region).label}"
        u = v = None
        if kind in ("forecast", "truth"):
            source = self.forecast if kind == "forecast" else self.truth
            values = self._display(source, kind, variable, level)[i if kind == "forecast" else j]
            u, v = _wind(source, variable, level, i if kind == "forecast" else j)
            which = "" if kind == "forecast" else " — truth"
            title = f"{style.label}{which} ({style.units}){region_note}"
        else:
            values, style = self._difference(kind, variable, level, i, j)
            rms = weighted_rmse(values, self.forecast["lat"].values)
            if kind == "error":
                title = error_title(style, rms) + region_note
            else:
                title = (
                    f"{style.label}: {self.label} − {self.other_label} ({style.units}),"
                    f"  RMS {rms:.2f}{region_note}"
                )
        return Frame(values=values, title=title, caption=caption, product=product, u=u, v=v)

    def jobs(
        self,
        out_dir: Path,
        *,
        kinds: Sequence[str],
        fields: Sequence[tuple[str, int | None]],
        regions: Sequence[str],
        leads: Sequence[int] | None = None,
        chunks: int = 1,
    ) -> list[CanvasJob]:
        """Canvas jobs for every drawable (kind, field, region, lead), each split in `chunks`."""
        jobs = []
        for kind in kinds:
            for variable, level in fields:
                if not has_field(self.forecast, variable, level):
                    continue
                available = self.available_leads(kind, variable, level)
                wanted = [lead for lead in available if leads is None or lead in leads]
                if not wanted:
                    continue
                style = style_for(variable, level)
                scale = self.scale(kind, variable, level)
                for region in regions:
                    map_region(region)
                    frames = [self.frame(kind, variable, level, lead, region) for lead in wanted]
                    size = -(-len(frames) // max(1, chunks))
                    for start in range(0, len(frames), size):
                        jobs.append(
                            CanvasJob(
                                lat=self.forecast["lat"].values,
                                lon=self.forecast["lon"].values,
                                style=style,
                                error=kind in ("error", "difference"),
                                region=region,
                                scale=scale,
                                synthetic=self.synthetic,
                                footer=self.footer,
                                difference_label=(
                                    "forecast − truth"
                                    if kind == "error"
                                    else f"{self.label} − {self.other_label}"
                                ),
                                out_dir=Path(out_dir),
                                frames=tuple(frames[start : start + size]),
                            )
                        )
        return jobs


# Canvases kept per process: the site renders one map per request, and a canvas (frame,
# colour bar, coastlines) costs several frames' time to build.
_CANVASES: OrderedDict[tuple, MapCanvas] = OrderedDict()
_CANVASES_KEEP = 24


def _canvas(job: CanvasJob) -> MapCanvas:
    grid = (job.lat.shape, float(job.lat[0]), float(job.lat[-1]))
    grid += (job.lon.shape, float(job.lon[0]), float(job.lon[-1]))
    key = (grid, job.style, job.error, job.region, job.scale, job.synthetic, job.footer)
    key += (job.difference_label,)
    if key in _CANVASES:
        _CANVASES.move_to_end(key)
        return _CANVASES[key]
    canvas = MapCanvas(
        job.lat,
        job.lon,
        style=job.style,
        error=job.error,
        synthetic=job.synthetic,
        footer=job.footer,
        region=MAP_REGIONS[job.region],
        scale=job.scale,
        difference_label=job.difference_label,
    )
    _CANVASES[key] = canvas
    while len(_CANVASES) > _CANVASES_KEEP:
        _CANVASES.popitem(last=False)
    return canvas


def render_job(job: CanvasJob) -> list[Product]:
    """Draw every frame of one job on one canvas (runs in a worker process or in-process)."""
    canvas = _canvas(job)
    done = []
    for frame in job.frames:
        canvas.draw(frame.values, title=frame.title, caption=frame.caption, u=frame.u, v=frame.v)
        canvas.save(job.out_dir / frame.product.path)
        done.append(frame.product)
    return done


def default_workers(frames: int | None = None) -> int:
    """Processes for rendering `frames` PNGs: up to 2 (the cpu worker's cores), else 1.

    1 inside a daemonic process (a Celery prefork child may not start children), and for small
    jobs, where starting a spawned worker (~2 s of imports) costs more than it saves.
    """
    if multiprocessing.current_process().daemon:
        return 1
    if frames is not None and frames < _MIN_FRAMES_FOR_POOL:
        return 1
    return max(1, min(2, os.cpu_count() or 1))


def render_jobs(jobs: Sequence[CanvasJob], workers: int | None = None) -> list[Product]:
    """Render `jobs` with `workers` processes (default `default_workers`); products in order."""
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
                results = list(pool.map(render_job, jobs))
        except BrokenProcessPool as exc:
            # E.g. a caller whose main module cannot be re-imported by spawn (stdin, notebooks).
            logger.warning("render pool failed (%s); falling back to rendering in-process", exc)
            workers = 1
    if results is None:
        results = [render_job(job) for job in jobs]
    return [product for result in results for product in result]


@dataclasses.dataclass(frozen=True)
class PartWork:
    """Maps one render part draws: `kind` of one field at some leads.

    Attributes:
        kind: a viewer kind ("forecast", "error", ...).
        variable, level: the field, as in `MAIN_PRODUCTS`.
        lead_indices: positions along the forecast's `time` (ascending).
    """

    kind: str
    variable: str
    level: int | None
    lead_indices: tuple[int, ...]


def _scale_is_fixed(kind: str, variable: str, level: int | None) -> bool:
    """Whether `RunMaps.scale` of this kind and field ignores the data (the style's classes):
    only then may its leads be drawn by different parts from different subsets of the run."""
    return kind in ("forecast", "truth") and bool(style_for(variable, level).bounds)


def product_parts(
    parts: int,
    leads: int,
    variables: Sequence[tuple[str, int | None]] = MAIN_PRODUCTS,
    kinds: Sequence[str] = ("forecast",),
) -> list[tuple[PartWork, ...]]:
    """The product set of a run with `leads` leads dealt into `parts` render parts of equal
    work, one render task each.

    A Celery prefork child is daemonic and cannot start the render pool, so the service renders
    a run in parallel by sending one task per part to the `cpu` queue (worker concurrency =
    cores). Dealing whole fields left the parts unequal (arrows and contours cost more than a
    plain field: one part finished seconds after the other); here every part draws about the
    same share of every field's leads (consecutive ones), so they finish together whatever
    each field costs.
    Maps whose colour scale is fitted to the run (error maps, fields without fixed classes)
    stay whole: each needs every lead of its field to fix the scale. Each part reads only its
    leads.

    Returns:
        `parts` tuples (some empty when there are fewer maps than parts), each in
        (kind, field) order.
    """
    parts = max(1, int(parts))
    load = [0] * parts
    dealt: list[dict[tuple[str, str, int | None], list[int]]] = [{} for _ in range(parts)]
    whole = [(k, v, lv) for k in kinds for v, lv in variables if not _scale_is_fixed(k, v, lv)]
    split = [(k, v, lv) for k in kinds for v, lv in variables if _scale_is_fixed(k, v, lv)]
    for key in whole:  # the biggest items first, each to the least loaded part
        part = load.index(min(load))
        dealt[part][key] = list(range(leads))
        load[part] += leads
    # The rest lead by lead, every field at one lead before the next lead, cut into runs that
    # even the parts out: a part's leads of a field are consecutive (one slice to read, which
    # NetCDF reads far faster than scattered leads) and every part gets every field.
    items = [(key, lead) for lead in range(leads) for key in split]
    total = sum(load) + len(items)
    start = 0
    for part in range(parts):
        share = total // parts + (1 if part < total % parts else 0)
        run = items[start : start + max(0, share - load[part])]
        start += len(run)
        for key, lead in run:
            dealt[part].setdefault(key, []).append(lead)
        load[part] += len(run)
    for key, lead in items[start:]:  # only when whole fields overfilled a part
        part = load.index(min(load))
        dealt[part].setdefault(key, []).append(lead)
        load[part] += 1
    order = {key: i for i, key in enumerate([(k, v, lv) for k in kinds for v, lv in variables])}
    return [
        tuple(
            PartWork(key[0], key[1], key[2], tuple(indices))
            for key, indices in sorted(work.items(), key=lambda item: order[item[0]])
        )
        for work in dealt
    ]


def render_part(
    forecast: xr.Dataset,
    out_dir: Path,
    *,
    part: int,
    parts: int,
    truth: xr.Dataset | None = None,
    variables: Sequence[tuple[str, int | None]] = MAIN_PRODUCTS,
    kinds: Sequence[str] | None = None,
    workers: int | None = None,
) -> list[Product]:
    """Render part `part` of `parts` (`product_parts`) of a run's product set under `out_dir`.

    `forecast` (and `truth`) may be opened lazily: the part reads only its fields at its leads
    (all leads of a field whose scale is fitted to the run), one read per set of leads.

    Args:
        forecast, truth, variables, workers: as for `render_forecast_products`.
        part, parts: which part of how many.
        kinds: viewer kinds (default "forecast", plus "error" when truth is given).

    Returns:
        The part's products.
    """
    if kinds is None:
        kinds = ("forecast", "error") if truth is not None else ("forecast",)
    if "time" not in forecast.dims:
        raise InvalidInputError("forecast lacks dimension(s) ['time']")
    work = product_parts(parts, forecast.sizes["time"], variables, kinds)[part]
    groups: dict[tuple[str, tuple[int, ...]], list[tuple[str, int | None]]] = {}
    for item in work:
        groups.setdefault((item.kind, item.lead_indices), []).append((item.variable, item.level))
    products: list[Product] = []
    for (kind, indices), fields in groups.items():
        # One slice of leads (scattered ones cost NetCDF a read each), selected after loading;
        # one process per core draws the parts, so dask's thread pool (a lazily opened Zarr
        # store) would only contend with the other part.
        span = slice(indices[0], indices[-1] + 1)
        subset = products_subset(forecast, fields).isel(time=span).load(scheduler="synchronous")
        if len(indices) < span.stop - span.start:
            subset = subset.isel(time=[i - span.start for i in indices])
        other = None
        if truth is not None and kind in ("truth", "error"):
            other = products_subset(truth, fields).load(scheduler="synchronous")
        products += render_forecast_products(
            subset,
            out_dir,
            truth=other,
            variables=fields,
            kinds=(kind,),
            workers=workers,
        )
    return products


def render_forecast_products(
    forecast: xr.Dataset,
    out_dir: Path,
    *,
    truth: xr.Dataset | None = None,
    variables: Sequence[tuple[str, int | None]] = MAIN_PRODUCTS,
    leads: Iterable[int] | None = None,
    workers: int | None = None,
    regions: Sequence[str] = ("global",),
    kinds: Sequence[str] | None = None,
) -> list[Product]:
    """Render the map products of one forecast run as PNGs under `out_dir`.

    The service's render task calls this with the defaults: the viewer's default set (every
    lead of the main fields, global), ahead of time; other regions, levels and kinds the site
    renders on demand into the same directory under the same names (`product_filename`).

    Args:
        forecast: the forecast layout of docs/design.md (dims `(time, [level,] lat, lon)`,
            valid times, `lead_time` coord, attrs `init_time`, `synthetic`, ...).
        out_dir: directory for the PNGs (created); each is written atomically.
        truth: model-layout dataset on the same grid; error maps are drawn for each product and
            lead whose valid time (and variable) truth holds.
        variables: (variable, level) pairs; "10m_wind" draws speed with arrows from u/v.
        leads: lead times in hours to draw (default: all of them).
        workers: processes to render with (default `default_workers(#PNGs)`); 1 renders
            in-process, as does any call from a daemonic process.
        regions: map regions (`forecast.plots.regions.MAP_REGIONS`).
        kinds: viewer kinds to draw (default: "forecast", plus "error" when truth is given).

    Returns:
        The products, maps first then error maps, each group by variable, region, lead time.

    Raises:
        InvalidInputError: the forecast lacks a dimension, attribute, variable or lead time, or
            truth is on another grid.
    """
    out_dir = Path(out_dir)
    maps = RunMaps(forecast, truth=truth)
    missing = []
    for variable, level in variables:
        for name in _sources(variable):
            if name not in forecast:
                missing.append(name)
                continue
            extra = set(forecast[name].dims) - {"time", "level", "lat", "lon"}
            if extra:
                raise InvalidInputError(
                    f"{name} has dimension(s) {sorted(extra)} beyond the forecast layout "
                    "(time, [level,] lat, lon)"
                )
        if not missing and not has_field(forecast, variable, level):
            missing.append(f"{variable}" + (f" at {level} hPa" if level is not None else ""))
    if missing:
        raise InvalidInputError(f"forecast lacks variable(s) needed for its products: {missing}")
    wanted = None
    if leads is not None:
        wanted = [int(lead) for lead in leads]
        unknown = sorted(set(wanted) - set(maps.leads))
        if unknown:
            raise InvalidInputError(f"forecast has no lead time(s) {unknown} h (has {maps.leads})")
    if kinds is None:
        kinds = ("forecast", "error") if truth is not None else ("forecast",)
    if truth is not None:
        for variable, level in variables:
            if not has_field(truth, variable, level):
                logger.info("truth lacks %s %s: no error maps for it", variable, level or "")
    out_dir.mkdir(parents=True, exist_ok=True)
    pool = default_workers(len(maps.leads) * len(variables)) if workers is None else workers
    jobs = maps.jobs(
        out_dir, kinds=kinds, fields=variables, regions=regions, leads=wanted, chunks=max(1, pool)
    )
    products = render_jobs(jobs, workers=pool)
    logger.info("rendered %d products into %s with %d worker(s)", len(products), out_dir, pool)
    return products
