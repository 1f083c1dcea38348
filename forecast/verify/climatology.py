"""Climatology by day of year and hour: computed from an archive (WeatherBench2's method) or read.

`compute_climatology` follows WeatherBench2's `compute_hourly_stat(..., stat_fn="mean")` with
its default 61-day window: for each hour of day separately, the archive's values are placed by
day of year d (1…366; a non-leap year's day 365 also stands in for its missing day 366, as
WeatherBench2 fills it), and

    clim(d, h) = Σ_y Σ_k w(k)·x_y(d + k, h) / Σ_y Σ_k w(k)·[x_y(d + k, h) present],

k = −30…30, days wrapping around the year (day 366 is followed by day 1), with the triangular
weights w(k) = 1 − |k|/30 (zero at ±30). Years or days missing from the archive simply drop
out of both sums (WeatherBench2 instead fills every gap of a partial year with that year's day
365; for whole years the two agree). A (day, hour) with no data in its window is NaN, and
`climatology_at` refuses to use it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from forecast.errors import InvalidInputError

DAYS_IN_CLIMATOLOGY_YEAR = 366
_READ_BLOCK = 32  # archive times read at once


def triangular_window(window_days: int = 61) -> np.ndarray:
    """WeatherBench2's linearly decaying window weights over day offsets −h…h (h = window//2).

    w(k) = 1 − |k|/h, normalised to mean 1 (the normalisation cancels in a weighted mean).

    Raises:
      InvalidInputError: `window_days` is not an odd number >= 3.
    """
    if window_days < 3 or window_days % 2 != 1:
        raise InvalidInputError(f"window_days must be odd and >= 3, got {window_days}")
    half = window_days // 2
    weights = 1.0 - np.abs(np.arange(-half, half + 1)) / half
    return weights / weights.mean()


def _climatology_variables(archive: xr.Dataset, variables: Sequence[str] | None) -> list[str]:
    if variables is None:
        return [n for n in archive.data_vars if "time" in archive[n].dims]
    missing = [v for v in variables if v not in archive.data_vars]
    if missing:
        raise InvalidInputError(f"archive lacks variables {missing}")
    return list(variables)


class ClimatologyAccumulator:
    """Running per-(day of year, hour) sums of archive values, for `compute_climatology`.

    Archives can be added in pieces (e.g. generated a chunk of times at a time); only times
    within the window of a requested day are kept, so memory is bounded by those days.
    """

    def __init__(
        self,
        *,
        window_days: int = 61,
        dayofyear: Sequence[int] | None = None,
        variables: Sequence[str] | None = None,
    ) -> None:
        self.weights = triangular_window(window_days)
        self.window_days = window_days
        self.half = window_days // 2
        days = (
            np.arange(1, DAYS_IN_CLIMATOLOGY_YEAR + 1)
            if dayofyear is None
            else np.asarray(sorted({int(d) for d in dayofyear}))
        )
        if days.size == 0 or days.min() < 1 or days.max() > DAYS_IN_CLIMATOLOGY_YEAR:
            raise InvalidInputError(f"dayofyear must lie in 1…366, got {list(days)}")
        self.out_days = days
        self.variables = None if variables is None else list(variables)
        # Archive days that feed some output day (zero-weight edges excluded).
        self._needed = {
            (int(d) - 1 + k) % DAYS_IN_CLIMATOLOGY_YEAR + 1
            for d in days
            for k in range(-self.half + 1, self.half)
        }
        self._buckets: dict[tuple[int, int], tuple[dict, dict]] = {}
        self._template: xr.Dataset | None = None
        self._attrs: dict = {}
        self._hours: set[int] = set()
        self._times: list[pd.Timestamp] = []

    def add(self, archive: xr.Dataset) -> None:
        """Adds every time of a model-layout archive (possibly lazily opened)."""
        if "time" not in archive.dims or archive.sizes["time"] == 0:
            raise InvalidInputError("archive has no times to compute a climatology from")
        if self.variables is None:
            self.variables = _climatology_variables(archive, None)
        names = _climatology_variables(archive, self.variables)
        if self._template is None:
            self._template = archive[names].isel(time=0, drop=True)
            self._attrs = {n: dict(archive[n].attrs) for n in names}
            self._source = dict(archive.attrs)
        times = pd.DatetimeIndex(archive["time"].values)
        self._hours.update(int(h) for h in times.hour)
        keep = []
        for i, t in enumerate(times):
            doys = [t.day_of_year]
            if not t.is_leap_year and t.day_of_year == 365:
                doys.append(366)  # WeatherBench2 fills a non-leap year's day 366 with its day 365
            doys = [d for d in doys if d in self._needed]
            if doys:
                keep.append((i, t, doys))
        # Read a block of times at once (bounded memory), then index the arrays.
        for start in range(0, len(keep), _READ_BLOCK):
            block = keep[start : start + _READ_BLOCK]
            data = archive[names].isel(time=[i for i, _, _ in block])
            arrays = {
                n: np.asarray(data[n].transpose("time", ...).values, dtype=np.float64)
                for n in names
            }
            for j, (_, t, doys) in enumerate(block):
                self._times.append(t)
                for doy in doys:
                    sums, counts = self._buckets.setdefault((doy, t.hour), ({}, {}))
                    for name in names:
                        x = arrays[name][j]
                        present = np.isfinite(x)
                        sums[name] = sums.get(name, 0.0) + np.where(present, x, 0.0)
                        counts[name] = counts.get(name, 0.0) + present

    def result(self) -> xr.Dataset:
        """The smoothed climatology, dims (dayofyear, hour, [level,] lat, lon), float32."""
        if self._template is None:
            raise InvalidInputError("no archive was added to the climatology")
        template, hours = self._template, sorted(self._hours)
        data = {}
        for name in self.variables:
            shape = template[name].shape
            out = np.full((self.out_days.size, len(hours)) + shape, np.nan, dtype=np.float32)
            for j, hour in enumerate(hours):
                for i, d in enumerate(self.out_days):
                    num, den = np.zeros(shape), np.zeros(shape)
                    for k, wk in zip(range(-self.half, self.half + 1), self.weights, strict=True):
                        key = ((int(d) - 1 + k) % DAYS_IN_CLIMATOLOGY_YEAR + 1, hour)
                        if wk > 0 and key in self._buckets:
                            num += wk * self._buckets[key][0][name]
                            den += wk * self._buckets[key][1][name]
                    with np.errstate(invalid="ignore", divide="ignore"):
                        out[i, j] = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
            data[name] = (("dayofyear", "hour") + template[name].dims, out, self._attrs[name])
        coords = {
            "dayofyear": self.out_days.astype(np.int32),
            "hour": np.asarray(hours, dtype=np.int32),
        }
        coords.update({dim: template[dim].values for dim in template.dims})
        used = pd.DatetimeIndex(self._times)
        result = xr.Dataset(data, coords=coords)
        result.attrs = {
            "climatology_window_days": self.window_days,
            "climatology_window": "triangular (WeatherBench2)",
            "archive_start": str(used.min()) if len(used) else "",
            "archive_end": str(used.max()) if len(used) else "",
            "archive_times_used": len(used),
            "source": str(self._source.get("source", "unknown")),
            "synthetic": int(self._source.get("synthetic", 0)),
        }
        return result


def compute_climatology(
    archive: xr.Dataset,
    *,
    window_days: int = 61,
    dayofyear: Sequence[int] | None = None,
    variables: Sequence[str] | None = None,
) -> xr.Dataset:
    """Computes a smoothed day-of-year × hour climatology from a model-layout archive.

    Memory stays bounded by the days the output needs: only archive times within the window of
    a requested day are read, one time at a time.

    Args:
      archive: model layout (dims `time`, [`level`,] `lat`, `lon`), possibly lazily opened.
      window_days: odd window length in days (61 as WeatherBench2).
      dayofyear: which days of year (1…366) to produce; all 366 by default.
      variables: which time-dependent variables (default: all of them).

    Returns:
      Dataset with dims (dayofyear, hour, [level,] lat, lon), float32, attrs recording the
      window, the archive's time span and the number of archive times used.

    Raises:
      InvalidInputError: no time axis, or a bad window / day of year.
    """
    accumulator = ClimatologyAccumulator(
        window_days=window_days, dayofyear=dayofyear, variables=variables
    )
    accumulator.add(archive)
    return accumulator.result()


def synthetic_climatology(
    dayofyear: Sequence[int],
    *,
    grid_deg: float,
    levels: Sequence[int],
    years: Sequence[int],
    seed: int = 0,
    day_stride: int = 3,
    hours: Sequence[int] = (0, 6, 12, 18),
    variables: Sequence[str] | None = None,
    window_days: int = 61,
) -> xr.Dataset:
    """The synthetic world's climatology for some days of year, by `compute_climatology`'s method.

    The archive is drawn from `forecast.data.synthetic.synthetic_era5` for each of `years`,
    every `day_stride`-th calendar day within the window of a requested day, at `hours`; it
    is generated 96 times at a time so memory stays bounded on fine grids. Variables default to
    the forecast's target variables (`forecast.variables`).
    """
    from forecast.data.synthetic import synthetic_era5

    half = window_days // 2
    days: set[pd.Timestamp] = set()
    for year in years:
        for d in dayofyear:
            centre = pd.Timestamp(year=int(year), month=1, day=1) + pd.Timedelta(days=int(d) - 1)
            days.update(centre + pd.Timedelta(days=k) for k in range(-half + 1, half))
    # Every `day_stride`-th calendar day, so neighbouring requested days share archive days.
    days = {day for day in days if day.toordinal() % day_stride == 0}
    times = {day + pd.Timedelta(hours=int(h)) for day in days for h in hours}
    ordered = pd.DatetimeIndex(sorted(times))
    if variables is None:
        from forecast import variables as V

        variables = V.TARGET_SURFACE_VARS + V.TARGET_ATMOSPHERIC_VARS
    accumulator = ClimatologyAccumulator(
        window_days=window_days, dayofyear=dayofyear, variables=variables
    )
    for start in range(0, len(ordered), 96):
        chunk = ordered[start : start + 96].to_numpy()
        accumulator.add(
            synthetic_era5(chunk, grid_deg=grid_deg, levels=levels, seed=seed, variables=variables)
        )
    result = accumulator.result()
    result.attrs["climatology_years"] = ",".join(str(y) for y in years)
    result.attrs["climatology_day_stride"] = day_stride
    return result


def load_climatology(path: str | Path) -> xr.Dataset:
    """Opens a user-supplied climatology file lazily and checks its layout.

    Accepts dims (dayofyear, [hour,] [level,] lat, lon); WeatherBench2's `latitude`/`longitude`
    names and descending latitudes are converted to the model layout.

    Raises:
      InvalidInputError: unreadable file or no `dayofyear` dimension.
    """
    try:
        ds = xr.open_dataset(path)
    except (OSError, ValueError) as exc:
        raise InvalidInputError(f"cannot read climatology file {path}: {exc}") from exc
    return as_climatology(ds, name=str(path))


def as_climatology(ds: xr.Dataset, *, name: str = "climatology") -> xr.Dataset:
    """Normalises a climatology dataset's names and latitude order (see `load_climatology`)."""
    ds = ds.rename(
        {k: v for k, v in {"latitude": "lat", "longitude": "lon"}.items() if k in ds.dims}
    )
    if "dayofyear" not in ds.dims or "lat" not in ds.dims or "lon" not in ds.dims:
        raise InvalidInputError(
            f"{name}: a climatology needs dims dayofyear, lat, lon (and optionally hour, level); "
            f"got {dict(ds.sizes)}"
        )
    if ds.sizes["lat"] > 1 and float(ds["lat"][0]) > float(ds["lat"][-1]):
        ds = ds.isel(lat=slice(None, None, -1))
    return ds


def climatology_index(
    climatology: xr.Dataset, valid_times: pd.DatetimeIndex
) -> tuple[np.ndarray, np.ndarray | None]:
    """Positions along `dayofyear` (and `hour`, None without that dim) of each valid time.

    Raises:
      InvalidInputError: a (day of year, hour) is not in the climatology.
    """
    valid_times = pd.DatetimeIndex(valid_times)
    days = pd.Index(climatology["dayofyear"].values)
    day_idx = days.get_indexer(valid_times.day_of_year)
    hour_idx = None
    if "hour" in climatology.dims:
        hour_idx = pd.Index(climatology["hour"].values).get_indexer(valid_times.hour)
        absent = (day_idx < 0) | (hour_idx < 0)
    else:
        absent = day_idx < 0
    if absent.any():
        bad = sorted({(int(t.day_of_year), int(t.hour)) for t in valid_times[absent]})
        raise InvalidInputError(f"climatology has no (day of year, hour) {bad}")
    return day_idx, hour_idx


def climatology_at(
    climatology: xr.Dataset, valid_time: xr.DataArray, variables: Sequence[str] | None = None
) -> xr.Dataset:
    """The climatology at each valid time's day of year (1…366) and hour.

    Args:
      climatology: dims (dayofyear, [hour,] ...). Without an `hour` dim only the day is used.
      valid_time: datetimes, any dims (e.g. `time`, or `init_time` × `lead_time`).
      variables: which variables (default: all).

    Returns:
      The selected climatology with `valid_time`'s dims in place of (dayofyear, hour).

    Raises:
      InvalidInputError: a variable, day or hour is missing, or the climatology is all NaN
        there (no archive data in its window).
    """
    names = list(climatology.data_vars) if variables is None else list(variables)
    missing = [v for v in names if v not in climatology.data_vars]
    if missing:
        raise InvalidInputError(f"climatology lacks variables {missing}")
    clim = climatology[names]
    day_idx, hour_idx = climatology_index(clim, pd.DatetimeIndex(np.ravel(valid_time.values)))
    selection = {"dayofyear": xr.DataArray(day_idx.reshape(valid_time.shape), dims=valid_time.dims)}
    if hour_idx is not None:
        selection["hour"] = xr.DataArray(hour_idx.reshape(valid_time.shape), dims=valid_time.dims)
    result = clim.isel(selection).drop_vars(["dayofyear", "hour"], errors="ignore")
    result = result.assign_coords(valid_time.coords)
    for name in names:
        spatial = [d for d in ("level", "lat", "lon") if d in result[name].dims]
        empty = result[name].isnull().all(spatial)
        if bool(empty.any()):
            bad = valid_time.values[np.asarray(empty.values, dtype=bool)].ravel()
            raise InvalidInputError(
                f"climatology of {name!r} is undefined (no archive data in its window) at "
                f"{[str(pd.Timestamp(t)) for t in bad[:5]]}"
            )
    return result


# Bytes of one block of bucket sums (all days × hours of a patch of the grid) in the Dask path.
_DASK_BLOCK_BYTES = 16e6


def compute_climatology_dask(
    archive: xr.Dataset,
    *,
    window_days: int = 61,
    dayofyear: Sequence[int] | None = None,
    variables: Sequence[str] | None = None,
    block_bytes: float = _DASK_BLOCK_BYTES,
) -> xr.Dataset:
    """`compute_climatology` as a lazy Dask graph, for archives larger than memory.

    The same sums in two passes that each hold only one block at a time:

    1. per (day of year, hour) bucket, the sum and count of present archive values — a grouped
       reduction over time (flox's map-reduce), each archive chunk read once;
    2. the triangular window over days, on blocks holding every bucket of a patch of the grid
       (the bucket sums are rechunked from "all of the grid, few buckets" to "all buckets, part
       of the grid"), by the same arithmetic as `ClimatologyAccumulator.result`.

    Results equal `compute_climatology`'s up to the order of float64 additions (~1e-15
    relative). Call `.compute()` or write the result to run it on the current Dask scheduler.

    Args:
      archive: model layout opened with Dask chunks (e.g. `open_era5_archive`).
      window_days, dayofyear, variables: as `compute_climatology`.
      block_bytes: target size of one block of bucket sums in pass 2.

    Raises:
      InvalidInputError: as `compute_climatology`.
    """
    import dask

    # Pass 2's rechunk by tasks: P2P rechunking buffers whole shuffles and overran small
    # workers (400 MiB) in bench/archive.py; task rechunks stay within a few chunks.
    with dask.config.set({"array.rechunk.method": "tasks"}):
        return _climatology_graph(archive, window_days, dayofyear, variables, block_bytes)


def _climatology_graph(
    archive: xr.Dataset,
    window_days: int,
    dayofyear: Sequence[int] | None,
    variables: Sequence[str] | None,
    block_bytes: float,
) -> xr.Dataset:
    plan = ClimatologyAccumulator(window_days=window_days, dayofyear=dayofyear, variables=variables)
    if "time" not in archive.dims or archive.sizes["time"] == 0:
        raise InvalidInputError("archive has no times to compute a climatology from")
    names = _climatology_variables(archive, variables)
    times = pd.DatetimeIndex(archive["time"].values)
    hours = sorted({int(h) for h in times.hour})
    rows, used = [], []
    for i, t in enumerate(times):
        doys = [t.day_of_year] + ([366] if not t.is_leap_year and t.day_of_year == 365 else [])
        doys = [d for d in doys if d in plan._needed]
        if doys:
            used.append(t)
        rows += [(i, d * 24 + t.hour) for d in doys]
    if not rows:
        raise InvalidInputError("no archive time falls in the window of the requested days")
    keys = np.array([k for _, k in rows])
    buckets = np.unique(keys)  # the grouped reduction's output order
    window = _window_matrix(buckets, plan.out_days, hours, plan.weights)
    picked = archive[names].isel(time=[i for i, _ in rows])
    data = {}
    for name in names:
        values = picked[name]
        spatial = [d for d in values.dims if d != "time"]
        # Grid patches small enough that every bucket of one patch fits in `block_bytes`.
        values = values.chunk(_spatial_chunks(values, spatial, buckets.size, block_bytes))
        values = values.astype(np.float64).assign_coords(bucket=("time", keys))
        present = values.notnull()
        sums = values.where(present, 0.0).groupby("bucket").sum("time")
        counts = present.astype(np.float64).groupby("bucket").sum("time")
        smoothed = xr.apply_ufunc(
            _smooth_buckets,
            sums.chunk({"bucket": -1}),
            counts.chunk({"bucket": -1}),
            input_core_dims=[["bucket"], ["bucket"]],
            output_core_dims=[["dayofyear", "hour"]],
            kwargs={"window": window},
            dask="parallelized",
            output_dtypes=[np.float32],
            dask_gufunc_kwargs={
                "output_sizes": {"dayofyear": plan.out_days.size, "hour": len(hours)}
            },
        )
        smoothed = smoothed.transpose("dayofyear", "hour", *spatial)
        smoothed.attrs = dict(archive[name].attrs)
        data[name] = smoothed.drop_vars("bucket", errors="ignore")
    result = xr.Dataset(data).assign_coords(
        dayofyear=plan.out_days.astype(np.int32), hour=np.asarray(hours, dtype=np.int32)
    )
    used_index = pd.DatetimeIndex(used)
    result.attrs = {
        "climatology_window_days": window_days,
        "climatology_window": "triangular (WeatherBench2)",
        "archive_start": str(used_index.min()),
        "archive_end": str(used_index.max()),
        "archive_times_used": len(used_index),
        "source": str(archive.attrs.get("source", "unknown")),
        "synthetic": int(archive.attrs.get("synthetic", 0)),
    }
    return result


def _spatial_chunks(
    values: xr.DataArray, spatial: list[str], num_buckets: int, block_bytes: float
) -> dict[str, int]:
    """Chunks of the grid dims so that all buckets of one chunk take about `block_bytes`."""
    chunks = {d: values.sizes[d] for d in spatial}
    if "level" in chunks:
        chunks["level"] = 1
    row_bytes = num_buckets * 8 * chunks.get("lon", 1) * chunks.get("level", 1)
    if "lat" in chunks:
        chunks["lat"] = int(max(1, min(values.sizes["lat"], block_bytes // row_bytes)))
    return chunks


def _window_matrix(
    buckets: np.ndarray, out_days: np.ndarray, hours: list[int], weights: np.ndarray
) -> np.ndarray:
    """`(out day, hour, bucket)` weights w(k) of bucket (day d + k, same hour), days wrapping.

    Buckets are `day · 24 + hour`; zero-weight window edges and absent buckets get 0.
    """
    half = weights.size // 2
    index = {int(b): j for j, b in enumerate(buckets)}
    matrix = np.zeros((out_days.size, len(hours), buckets.size))
    for i, d in enumerate(out_days):
        for h_index, hour in enumerate(hours):
            for k, wk in zip(range(-half, half + 1), weights, strict=True):
                day = (int(d) - 1 + k) % DAYS_IN_CLIMATOLOGY_YEAR + 1
                j = index.get(day * 24 + hour)
                if wk > 0 and j is not None:
                    matrix[i, h_index, j] += wk
    return matrix


def _smooth_buckets(sums: np.ndarray, counts: np.ndarray, *, window: np.ndarray) -> np.ndarray:
    """Window-weighted means from bucket sums: `ClimatologyAccumulator.result`'s arithmetic.

    Args:
      sums, counts: `(..., bucket)` sums and counts of present values.
      window: `(out day, hour, bucket)` weights (`_window_matrix`).

    Returns:
      `(..., out day, hour)` float32, NaN where no value falls in the window.
    """
    num = np.tensordot(sums, window, axes=([-1], [-1]))
    den = np.tensordot(counts, window, axes=([-1], [-1]))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan).astype(np.float32)
