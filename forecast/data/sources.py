"""Where initial conditions and truth come from: named sources and ERA5 archives on disk.

`fetch_inputs(source, init_time, ...)` gives the model-layout inputs of one init time (the frames
T − 6 h and T plus statics) from:

* `era5` — the Copernicus CDS through the request cache (`forecast.data.acquire`);
* `opendata` — ECMWF's real-time IFS open data (`forecast.data.opendata`, when installed);
* `synthetic` — the offline synthetic world;
* a path — a file or store holding the frames in any common layout (`convert.standardize`):
  an example batch or model-layout NetCDF, a CDS NetCDF or GRIB, or an ERA5 archive in the
  WeatherBench 2 / ARCO-ERA5 Zarr layout, read lazily so only the frames wanted are loaded.

`open_era5_archive` is the same lazy reader for verification truth and training.
"""

from __future__ import annotations

import datetime as dt
import glob
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from forecast import variables as V
from forecast.data import convert, lexicon
from forecast.data.requests import input_frame_times
from forecast.errors import InvalidInputError
from forecast.times import to_utc

NAMED_SOURCES = ("era5", "opendata", "synthetic")


# Bytes of one Dask chunk of the largest variable: few enough tasks that a worker's bookkeeping
# stays small over a decade of data, small enough for workers of a few hundred MB.
TIME_CHUNK_BYTES = 16e6


def open_era5_archive(
    path: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    *,
    time_chunk_bytes: float = TIME_CHUNK_BYTES,
) -> xr.Dataset:
    """An ERA5 archive opened lazily in the model layout's names (nothing is read yet).

    Args:
        path: a Zarr store (WeatherBench 2, ARCO-ERA5 or ours), one NetCDF/GRIB file, a glob
            pattern or a list of NetCDF files (opened as one dataset along `time`).

    Dask chunks hold whole fields and as many times as fit in `time_chunk_bytes` for the
    largest variable (a multiple of the store's own time chunks for Zarr).

    Raises:
        InvalidInputError: nothing at `path`, unreadable, or no latitude/longitude grid.
    """
    paths = _expand(path)
    origin = str(path if isinstance(path, (str, os.PathLike)) else paths[0])
    try:
        if len(paths) == 1 and (
            paths[0].suffix == ".zarr"
            or (paths[0] / ".zgroup").exists()
            or (paths[0] / "zarr.json").exists()
        ):
            ds = xr.open_zarr(paths[0], chunks={}, decode_timedelta=True)
        elif len(paths) == 1 and paths[0].suffix.lower() in (".grib", ".grib2", ".grb"):
            return convert.open_cds_file(paths[0])
        elif len(paths) == 1:
            ds = xr.open_dataset(paths[0], chunks={}, decode_timedelta=True)
        else:
            # Time-dependent variables concatenated; statics taken from the first file.
            ds = xr.open_mfdataset(
                paths,
                combine="by_coords",
                chunks={},
                decode_timedelta=True,
                data_vars="minimal",
                coords="minimal",
                compat="override",
            )
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InvalidInputError(f"cannot open ERA5 archive {origin}: {reason}") from exc
    return convert.standardize(_time_chunks(ds, time_chunk_bytes), origin=origin)


def _time_chunks(ds: xr.Dataset, target_bytes: float) -> xr.Dataset:
    """`ds` rechunked along time to about `target_bytes` per chunk of its largest variable."""
    timed = [v for v in ds.data_vars.values() if "time" in v.dims and v.chunks is not None]
    if not timed:
        return ds
    per_time = max(v.nbytes / v.sizes["time"] for v in timed)
    native = max(max(v.chunksizes["time"]) for v in timed)
    count = max(native, int(target_bytes // per_time) // native * native)
    return ds.chunk({"time": count})


def _expand(path: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> list[Path]:
    if isinstance(path, (str, os.PathLike)):
        text = os.fspath(path)
        if any(ch in text for ch in "*?["):
            matches = sorted(glob.glob(text))
            if not matches:
                raise InvalidInputError(f"no file matches {text}")
            return [Path(m) for m in matches]
        paths = [Path(text)]
    else:
        paths = [Path(p) for p in path]
    absent = [str(p) for p in paths if not p.exists()]
    if absent:
        raise InvalidInputError(f"ERA5 archive not found: {', '.join(absent)}")
    return paths


def frames_from_archive(
    archive: xr.Dataset,
    times: Sequence[dt.datetime],
    *,
    levels: Sequence[int],
    variables: Sequence[str],
    statics: bool = True,
    optional: Sequence[str] = (),
    origin: str = "archive",
) -> xr.Dataset:
    """The model-layout dataset at `times` from an archive (`open_era5_archive`), loaded.

    `total_precipitation_6hr` is summed from hourly `total_precipitation` when the archive has
    only that (ARCO-ERA5); static fields stored with a time axis (ARCO-ERA5) are taken at the
    last time.

    Raises:
        InvalidInputError: naming every missing variable, time or level.
    """
    wanted = np.array([to_utc(t) for t in times], dtype="datetime64[ns]")
    names = list(variables) + (list(V.STATIC_VARS) if statics else [])
    names += [n for n in optional if n in archive.data_vars and n not in names]
    hourly_precip = (
        "total_precipitation_6hr" in names
        and "total_precipitation_6hr" not in archive.data_vars
        and lexicon.HOURLY_PRECIPITATION in archive.data_vars
    )
    needed = [n for n in names if not (hourly_precip and n == "total_precipitation_6hr")]
    convert.require_variables(archive, needed, origin=origin)
    if "time" not in archive.dims:
        raise InvalidInputError(f"{origin}: no time axis")
    have = set(archive["time"].values)
    missing = [str(t)[:13] for t in wanted if t not in have]
    if missing:
        raise InvalidInputError(f"{origin}: no data at {', '.join(missing)} UTC")
    out: dict[str, xr.DataArray] = {}
    for name in needed:
        field = archive[name]
        if name in V.STATIC_VARS:
            if "time" in field.dims:
                field = field.sel(time=wanted[-1], drop=True)
        else:
            field = field.sel(time=wanted)
        if "level" in field.dims:
            absent = sorted(set(levels) - set(field["level"].values.tolist()))
            if absent:
                raise InvalidInputError(f"{origin}: {name} lacks pressure levels {absent} hPa")
            field = field.sel(level=np.asarray(levels, dtype=np.int32))
        out[name] = field
    if hourly_precip:
        hours = sorted(
            {h for t in pd.DatetimeIndex(wanted) for h in pd.date_range(end=t, periods=6, freq="h")}
        )
        available = set(archive["time"].values)
        window = [np.datetime64(h, "ns") for h in hours if np.datetime64(h, "ns") in available]
        hourly = archive[lexicon.HOURLY_PRECIPITATION].sel(time=window).load()
        out["total_precipitation_6hr"] = convert.accumulate_precipitation(
            hourly, list(pd.DatetimeIndex(wanted).to_pydatetime())
        )
    ds = xr.Dataset(out).load()
    ds = ds.transpose(*[d for d in ("time", "level", "lat", "lon") if d in ds.dims])
    ds = ds.assign_coords(
        lat=ds["lat"].values.astype(np.float32), lon=ds["lon"].values.astype(np.float32)
    )
    for name in ds.data_vars:
        ds[name] = ds[name].astype(np.float32)
        ds[name].attrs = {"units": V.UNITS.get(str(name), "1")}
    ds.attrs = {"source": "era5", "synthetic": 0, "archive": origin}
    return ds


def truth_from_archive(
    archive: xr.Dataset, valid_times: Sequence[dt.datetime], *, levels: Sequence[int]
) -> xr.Dataset:
    """Verification truth at `valid_times` from an ERA5 archive (`open_era5_archive`).

    The same variables as `forecast.data.acquire.acquire_truth` (targets incl. 6 h
    precipitation, no statics), in the model layout, loaded.

    Raises:
        InvalidInputError: naming every missing variable, time or level.
    """
    from forecast.data.requests import TRUTH_VARIABLES

    return frames_from_archive(
        archive, valid_times, levels=levels, variables=TRUTH_VARIABLES, statics=False
    )


def fetch_inputs(
    source: str,
    init_time: dt.datetime | str,
    *,
    levels: Sequence[int],
    grid_deg: float,
    variables: Sequence[str],
    cache_dir: Path,
    cds_progress: Callable | None = None,
    opendata_url: str | None = None,
) -> xr.Dataset:
    """The inputs of `init_time` from a named source or a path, in the model layout, loaded.

    Args:
        source: `era5`, `opendata`, `synthetic`, or a path (see the module docstring).
        init_time: T; the frames are T − 6 h and T.
        levels: the checkpoint's pressure levels, in its order.
        grid_deg: the checkpoint's grid spacing (named sources fetch on it).
        variables: input variables with a time axis that the checkpoint needs from the source
            (forcings it can derive left out).
        cache_dir: root of the request caches (`era5/`, `opendata/` under it).
        cds_progress: progress callback of CDS retrievals.
        opendata_url: base URL of the open-data server (default: ECMWF's).

    Raises:
        InvalidInputError: unknown source, or data that cannot serve (naming what is missing).
        DataUnavailableError: a remote source does not have the data yet.
    """
    init = to_utc(init_time)
    frames = list(input_frame_times(init))
    if source == "synthetic":
        from forecast.data.synthetic import synthetic_era5

        ds = synthetic_era5(
            np.array(frames, dtype="datetime64[ns]"), grid_deg=grid_deg, levels=levels
        )
        ds.attrs["init_time"] = init.isoformat()
        return ds
    if source == "era5":
        from forecast.data import acquire
        from forecast.data.layout import from_example_batch

        path = acquire.acquire_inputs(
            init,
            levels=list(levels),
            grid_deg=grid_deg,
            cache_dir=cache_dir / "era5",
            source="cds",
            progress=cds_progress,
        )
        with xr.open_dataset(path) as ds:
            return from_example_batch(ds.load())
    if source == "opendata":
        return _opendata_inputs(init, levels, grid_deg, cache_dir, cds_progress, opendata_url)
    if Path(source).exists() or any(ch in source for ch in "*?["):
        archive = open_era5_archive(source)
        ds = frames_from_archive(
            archive,
            frames,
            levels=levels,
            variables=[v for v in variables if v not in V.FORCING_VARS],
            # TOA radiation is used when the archive has it, else the model derives it.
            optional=V.EXTERNAL_FORCING_VARS,
            origin=source,
        )
        ds.attrs["init_time"] = init.isoformat()
        return ds
    raise InvalidInputError(
        f"unknown source {source!r}: use {', '.join(NAMED_SOURCES)} or an existing file/store path"
    )


def _opendata_inputs(init, levels, grid_deg, cache_dir, cds_progress, url) -> xr.Dataset:
    try:
        from forecast.data.opendata import DEFAULT_URL, OpenDataClient
    except ImportError as exc:  # the open-data source ships in forecast/data/opendata.py
        raise InvalidInputError(
            f"the IFS open-data source is not installed in this build ({exc})"
        ) from exc
    from forecast.data import acquire
    from forecast.data.layout import from_example_batch

    path = acquire.acquire_inputs(
        init,
        levels=list(levels),
        grid_deg=grid_deg,
        cache_dir=cache_dir / "opendata",
        source="opendata",
        opendata_client=OpenDataClient(url or DEFAULT_URL),
        # Cycles that publish no z/lsm get them once from ERA5 through the CDS cache.
        statics_cache_dir=cache_dir / "era5",
        progress=cds_progress,
    )
    with xr.open_dataset(path) as ds:
        return from_example_batch(ds.load())
