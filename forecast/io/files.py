"""Forecast files by extension: `.nc` (CF-1.11 NetCDF-4), `.zarr` (Zarr store), `.grib2`.

`write_forecast(forecast, path)` writes a forecast-layout dataset (docs/design.md) in the format
its extension names, atomically; `open_forecast(path)` reads any of them back to the forecast
layout, so `open_forecast(write_forecast(f, p))` equals `f` (GRIB2 within packing precision).

- NetCDF: CF-1.11 metadata (`forecast.io.cf`), zlib level 4 with shuffle, chunks of one lead.
- Zarr: the same metadata, format 2 (read by every zarr-python and by pangeo tools), Blosc/zstd,
  chunks of one lead, consolidated metadata; `open_forecast` returns it lazily (dask).
- GRIB2: ECMWF parameters, levels and steps (`forecast.io.grib2`).
"""

from __future__ import annotations

import os
from pathlib import Path

import xarray as xr

from forecast.errors import InvalidInputError
from forecast.io.atomic import atomic_output
from forecast.io.cf import cf_encoding, from_cf, to_cf

SUFFIXES = (".nc", ".zarr", ".grib2")
ZARR_FORMAT = 2


def forecast_format(path: str | os.PathLike[str]) -> str:
    """The format a path's extension names: "nc", "zarr" or "grib2".

    Raises:
        InvalidInputError: for any other extension.
    """
    suffix = Path(path).suffix.lower()
    if suffix == ".grib":
        suffix = ".grib2"
    if suffix not in SUFFIXES:
        raise InvalidInputError(
            f"{path}: unknown forecast format {suffix or '(no extension)'!r}; "
            f"use one of {', '.join(SUFFIXES)}"
        )
    return suffix[1:]


def write_forecast(forecast: xr.Dataset, path: str | os.PathLike[str]) -> Path:
    """Writes `forecast` (forecast layout) to `path` in the format of its extension, atomically.

    An existing file or store at `path` is replaced only when the new one is complete.

    Returns:
        The path written.

    Raises:
        InvalidInputError: unknown extension, variable without CF/GRIB name, irregular grid.
    """
    path = Path(path)
    kind = forecast_format(path)
    if kind == "grib2":
        from forecast.io.grib2 import write_grib2

        return write_grib2(forecast, path)
    cf = to_cf(forecast)
    if kind == "nc":
        from forecast.data.convert import IO_LOCK

        with atomic_output(path) as tmp, IO_LOCK:
            cf.to_netcdf(
                tmp, engine="netcdf4", format="NETCDF4", encoding=cf_encoding(cf, netcdf=True)
            )
        return path
    encoding = cf_encoding(cf, netcdf=False)
    for name in cf.data_vars:
        encoding[str(name)]["compressors"] = (zarr_compressor(),)
    with atomic_output(path, directory=True) as tmp:
        cf.to_zarr(tmp, mode="w", encoding=encoding, consolidated=True, zarr_format=ZARR_FORMAT)
    return path


def open_forecast(path: str | os.PathLike[str]) -> xr.Dataset:
    """Opens a forecast file of any format in the forecast layout.

    NetCDF and Zarr are opened lazily (call `.load()` to read everything); GRIB2 is read in
    full. A NetCDF written before the CF conversion (init time as an attribute) opens too.

    Raises:
        InvalidInputError: missing or unreadable file, unknown extension.
    """
    path = Path(path)
    kind = forecast_format(path)
    if not path.exists():
        raise InvalidInputError(f"forecast file not found: {path}")
    if kind == "grib2":
        from forecast.io.grib2 import read_grib2

        return read_grib2(path)
    try:
        if kind == "nc":
            ds = xr.open_dataset(path, decode_timedelta=True)
        else:
            ds = xr.open_zarr(path, consolidated=True, decode_timedelta=True)
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InvalidInputError(f"cannot read forecast {path}: {reason}") from exc
    return from_cf(ds)


def zarr_compressor():
    from numcodecs import Blosc

    # zstd level 3 with byte shuffle: ~2–3× on float32 weather fields, fast to decode.
    return Blosc(cname="zstd", clevel=3, shuffle=Blosc.SHUFFLE)
