"""The forecast archive: every run of one predictor in one Zarr store, WeatherBench 2 style.

WeatherBench 2 keeps a model's forecasts as one Zarr with an init-time axis and a lead axis, so
scoring a season is a lazy slice rather than a thousand file opens. The archive layout is the
forecast layout with `time` split in two:

    dims   (init_time, lead_time, [level,] lat, lon)
    coords init_time (datetime64, UTC), lead_time (timedelta64), valid_time(init_time, lead_time)

`append_to_archive(forecast, store)` adds a run as it succeeds: a new init time is appended along
`init_time`; an init time already there is overwritten in place (a rerun), so appending the same
run twice leaves one copy. A store holds one predictor and checkpoint on one grid, levels and
leads; a forecast that does not fit is refused with the reason. Writers take an exclusive lock
beside the store, so two workers appending at once queue rather than interleave.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from forecast.errors import InvalidInputError
from forecast.io.cf import AXES, TIME_UNITS, VARIABLES, init_time_of_forecast
from forecast.io.files import ZARR_FORMAT, zarr_compressor
from forecast.times import to_utc

# A store holds forecasts of one model: these attrs must agree across its runs.
IDENTITY_ATTRS = ("predictor", "checkpoint_sha256")


def to_archive_layout(forecast: xr.Dataset) -> xr.Dataset:
    """One forecast (forecast layout) → the archive layout with an init_time axis of length 1.

    Variables without a `time` axis (static fields) are left out: they are not forecasts.
    """
    init = init_time_of_forecast(forecast)
    leads = pd.to_timedelta(forecast["time"].values - np.datetime64(init, "ns"))
    ds = forecast[[n for n in forecast.data_vars if "time" in forecast[n].dims]]
    ds = ds.drop_vars("lead_time", errors="ignore").assign_coords(time=leads.to_numpy())
    ds = ds.rename(time="lead_time").expand_dims(init_time=[np.datetime64(init, "ns")])
    ds = ds.assign_coords(valid_time=ds["init_time"] + ds["lead_time"])
    ds.attrs = {k: v for k, v in forecast.attrs.items() if k != "init_time"}
    return ds


def append_to_archive(forecast: xr.Dataset, store: str | os.PathLike[str]) -> Path:
    """Adds one forecast to the archive store (created on first use); idempotent per init time.

    Returns:
        The store path.

    Raises:
        InvalidInputError: the forecast's predictor, checkpoint, grid, levels, variables or leads
            do not fit the store (the message names the store and the difference).
    """
    store = Path(store)
    if store.suffix != ".zarr":
        raise InvalidInputError(f"{store}: a forecast archive is a Zarr store (*.zarr)")
    new = to_archive_layout(forecast)
    with _exclusive_lock(store):
        if not (store / ".zmetadata").exists():
            _create(new, store)
            return store
        with xr.open_zarr(store, consolidated=True, decode_timedelta=True) as existing:
            new = _fit_to(new, existing, store)
            inits = pd.DatetimeIndex(existing["init_time"].values)
            init = pd.Timestamp(new["init_time"].values[0])
        if init in inits:
            index = inits.get_loc(init)
            fixed = [name for name in new.variables if "init_time" not in new[name].dims]
            new.drop_vars(fixed).to_zarr(
                store, region={"init_time": slice(index, index + 1)}, consolidated=True
            )
        else:
            new.to_zarr(store, append_dim="init_time", consolidated=True)
    return store


def open_archive(store: str | os.PathLike[str]) -> xr.Dataset:
    """The archive, lazily (dask), sorted by init time.

    Raises:
        InvalidInputError: if `store` is not a forecast archive.
    """
    store = Path(store)
    try:
        ds = xr.open_zarr(store, consolidated=True, decode_timedelta=True)
    except (OSError, ValueError, KeyError) as exc:
        raise InvalidInputError(f"cannot open forecast archive {store}: {exc}") from exc
    if "init_time" not in ds.dims or "lead_time" not in ds.dims:
        raise InvalidInputError(f"{store}: not a forecast archive (dims {dict(ds.sizes)})")
    return ds.sortby("init_time")


def forecast_from_archive(archive: xr.Dataset, init_time: object) -> xr.Dataset:
    """One run of an archive back in the forecast layout (lazy if the archive is).

    Raises:
        InvalidInputError: if the archive holds no run at `init_time`.
    """
    init = pd.Timestamp(to_utc(init_time))
    if init not in pd.DatetimeIndex(archive["init_time"].values):
        raise InvalidInputError(f"the forecast archive holds no run initialised at {init} UTC")
    run = archive.sel(init_time=init).drop_vars("init_time")
    run = run.dropna("lead_time", how="all")
    valid = run["valid_time"].values
    run = run.drop_vars("valid_time").rename(lead_time="time")
    leads = run["time"].values
    run = run.assign_coords(time=valid, lead_time=("time", leads))
    for name in run.variables:
        run[name].attrs = {"units": run[name].attrs["units"]} if name in run.data_vars else {}
    run.attrs = {"init_time": init.strftime("%Y-%m-%dT%H:%M:%S")} | {
        k: v for k, v in archive.attrs.items() if k not in ("Conventions", "title")
    }
    return run


def _create(new: xr.Dataset, store: Path) -> None:
    from forecast.io.atomic import atomic_output

    ds = new.copy()
    ds.attrs = {"Conventions": "CF-1.11", "title": "forecast archive"} | new.attrs
    for name, attrs in AXES.items():
        if name in ds.coords:
            ds[name].attrs = dict(attrs)
    ds["init_time"].attrs = dict(AXES["forecast_reference_time"])
    ds["valid_time"].attrs = {k: v for k, v in AXES["time"].items() if k != "axis"}
    for name in ds.data_vars:
        standard_name, long_name = VARIABLES.get(str(name), ("", str(name)))
        ds[name].attrs = {"long_name": long_name, "units": new[name].attrs.get("units", "1")}
        if standard_name:
            ds[name].attrs["standard_name"] = standard_name
    encoding: dict[str, dict] = {
        "init_time": {"units": TIME_UNITS, "dtype": "float64", "_FillValue": None},
        "valid_time": {"units": TIME_UNITS, "dtype": "float64", "_FillValue": None},
        "lead_time": {"units": "hours", "dtype": "float64", "_FillValue": None},
    }
    for name, var in ds.data_vars.items():
        chunks = tuple(1 if d in ("init_time", "lead_time") else ds.sizes[d] for d in var.dims)
        encoding[str(name)] = {"chunks": chunks, "compressors": (zarr_compressor(),)}
    # The first run creates the store whole (a half-created store would block every later run).
    with atomic_output(store, directory=True) as tmp:
        ds.to_zarr(tmp, mode="w", encoding=encoding, consolidated=True, zarr_format=ZARR_FORMAT)


def _fit_to(new: xr.Dataset, existing: xr.Dataset, store: Path) -> xr.Dataset:
    """`new` checked against the store and padded with NaN to the store's leads."""
    for key in IDENTITY_ATTRS:
        have, got = existing.attrs.get(key), new.attrs.get(key)
        if have != got:
            raise InvalidInputError(
                f"{store} archives {key}={have!r}; this forecast has {key}={got!r} "
                "(one archive per predictor and checkpoint)"
            )
    missing = sorted(set(existing.data_vars) - set(new.data_vars))
    extra = sorted(set(new.data_vars) - set(existing.data_vars))
    if missing or extra:
        raise InvalidInputError(
            f"{store}: variables differ from the archive's (missing {missing}, extra {extra})"
        )
    for axis in ("level", "lat", "lon"):
        if axis in existing.coords and not np.array_equal(existing[axis].values, new[axis].values):
            raise InvalidInputError(
                f"{store}: the forecast's {axis} axis differs from the archive's"
            )
    leads = pd.to_timedelta(existing["lead_time"].values)
    beyond = sorted(set(pd.to_timedelta(new["lead_time"].values)) - set(leads))
    if beyond:
        raise InvalidInputError(
            f"{store} holds leads up to {leads.max()}; this forecast has leads {beyond[:3]}… "
            "beyond them"
        )
    padded = new.reindex(lead_time=leads.to_numpy())
    padded = padded.assign_coords(valid_time=padded["init_time"] + padded["lead_time"])
    return padded


@contextlib.contextmanager
def _exclusive_lock(store: Path) -> Iterator[None]:
    store.parent.mkdir(parents=True, exist_ok=True)
    lock_path = store.with_name(f".{store.name}.lock")
    with open(lock_path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
