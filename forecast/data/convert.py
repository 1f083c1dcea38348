"""What the CDS returns (NetCDF, zip of NetCDFs, GRIB) → the model layout of docs/design.md.

The current CDS writes NetCDF with `valid_time`, `pressure_level`, descending `latitude`,
`longitude` (0…360 for the globe, −180…180 for some areas), scalar `number`, per-time `expver`
and short names; GRIB (through cfgrib) has `time`/`step`/`isobaricInhPa` instead. Both become
`time`, `level` (int32), ascending float32 `lat`, `lon` in [0, 360), float32 variables with ERA5
long names. Hourly `total_precipitation` becomes `total_precipitation_6hr` in `assemble_frames`.
"""

from __future__ import annotations

import datetime as dt
import logging
import tempfile
import threading
import zipfile
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from forecast import variables as V
from forecast.data import lexicon
from forecast.data.requests import INPUT_VARIABLES, precipitation_hours, to_utc
from forecast.errors import InvalidInputError

LOGGER = logging.getLogger(__name__)

_NETCDF_MAGIC = (b"\x89HDF", b"CDF\x01", b"CDF\x02")
# HDF5 (under netCDF4) is not thread-safe, concurrent opens in one process crash it; eccodes
# is kept serial with it. Every NetCDF/GRIB read and write of this package takes this lock.
IO_LOCK = threading.RLock()


def open_cds_file(path: Path | str, *, member: int | None = None) -> xr.Dataset:
    """A file as the CDS delivered it, converted to the model layout (no accumulation yet).

    Args:
        path: NetCDF, zip of NetCDFs, or GRIB.
        member: ensemble member to keep when the file holds several (`number` axis).

    Returns:
        In-memory dataset in the model layout; hourly precipitation keeps the name
        `total_precipitation`; static fields have no time axis.

    Raises:
        InvalidInputError: unreadable/corrupt file, unknown variable, several members without
            `member`; the message names the file.
    """
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            head = handle.read(4)
    except OSError as exc:
        raise InvalidInputError(f"{path}: cannot read: {exc}") from None
    if head == b"PK\x03\x04":
        parts = _open_zip(path)
    elif head == b"GRIB":
        from forecast.data.grib import open_grib

        with IO_LOCK:
            parts = open_grib(path)
    elif head in _NETCDF_MAGIC:
        parts = [_open_netcdf(path)]
    else:
        raise InvalidInputError(f"{path}: neither NetCDF, zip nor GRIB (starts with {head!r})")
    converted = [to_model_layout(part, member=member, origin=str(path)) for part in parts]
    try:
        return xr.merge(converted, join="exact", compat="no_conflicts")
    except ValueError as exc:
        raise InvalidInputError(
            f"{path}: its parts do not share one grid/time axis: {exc}"
        ) from None


def _open_netcdf(path: Path) -> xr.Dataset:
    try:
        with IO_LOCK, xr.open_dataset(path) as ds:
            return ds.load()
    except Exception as exc:  # netCDF4/h5py raise OSError, RuntimeError, KeyError...
        raise InvalidInputError(f"{path}: not a readable NetCDF file: {exc}") from None


def _open_zip(path: Path) -> list[xr.Dataset]:
    """The NetCDF members of a CDS zip (one per GRIB step type)."""
    try:
        with zipfile.ZipFile(path) as archive, tempfile.TemporaryDirectory() as tmp:
            names = [n for n in archive.namelist() if n.endswith(".nc")]
            if not names:
                raise InvalidInputError(f"{path}: zip holds no NetCDF file")
            return [_open_netcdf(Path(archive.extract(name, tmp))) for name in names]
    except zipfile.BadZipFile as exc:
        raise InvalidInputError(f"{path}: corrupt zip: {exc}") from None


def to_model_layout(
    ds: xr.Dataset, *, member: int | None = None, origin: str = "dataset"
) -> xr.Dataset:
    """One CDS-format dataset (NetCDF or cfgrib) → model layout.

    Args:
        ds: as opened from a CDS file.
        member: ensemble member to select if `number` is an axis.
        origin: the file name, for error messages.

    Returns:
        Dataset with dims among `time`, `level`, `lat`, `lon`.
    """
    ds = _select_member(ds, member, origin)
    ds = _time_axis(ds, origin)
    ds = _level_axis(ds)
    ds = _horizontal_axes(ds, origin)
    renamed = {}
    for short in ds.data_vars:
        dataset = (
            lexicon.PRESSURE_LEVELS_DATASET
            if "level" in ds[short].dims
            else lexicon.SINGLE_LEVELS_DATASET
        )
        try:
            var = lexicon.from_short_name(dataset, str(short))
        except InvalidInputError:
            raise InvalidInputError(f"{origin}: unknown variable {short!r}") from None
        field = ds[short].astype(np.float32)
        if var.static and "time" in field.dims:
            field = field.isel(time=0, drop=True)  # invariant: one copy, no time axis
        field.attrs = {"units": V.UNITS.get(var.name, "m" if var.short_name == "tp" else "")}
        renamed[var.name] = field
    out = xr.Dataset(renamed)
    keep = {"time", "level", "lat", "lon"}
    return out.drop_vars([c for c in out.coords if c not in keep])


# Names other tools give the horizontal axes: the CDS, cfgrib, CF/pangeo, WeatherBench 2.
HORIZONTAL_ALIASES = {lexicon.CDS_LAT: "lat", lexicon.CDS_LON: "lon"}
# Variable ids of earth2studio and of WeatherBench 2's derived files → ERA5 long names
# (CDS/cfgrib short names come from the lexicon).
EXTRA_VARIABLE_ALIASES = {
    "u10m": "10m_u_component_of_wind",
    "v10m": "10m_v_component_of_wind",
    "tp06": "total_precipitation_6hr",
    "tp6h": "total_precipitation_6hr",
}
# Long names kept as they are (forcings the model derives may also be present).
_KNOWN_NAMES = set(V.UNITS) | set(V.FORCING_VARS) | {lexicon.HOURLY_PRECIPITATION}


def standardize(ds: xr.Dataset, *, origin: str = "dataset") -> xr.Dataset:
    """A dataset in any common layout → the model layout's names and orders, lazily.

    Accepted: the model and example-batch layouts; the CDS's NetCDF (`valid_time`,
    `pressure_level`, `latitude`/`longitude`, short names `t2m`, `z`…); cfgrib's GRIB view
    (`time`+`step`, `isobaricInhPa`); WeatherBench 2 and ARCO-ERA5 Zarr (`time`, `level`,
    `latitude`, `longitude`, ERA5 long names); latitudes in either order, longitudes in
    −180…180 or 0…360. Variables are renamed to ERA5 long names, latitude sorted ascending,
    longitude wrapped into [0, 360). Data are not read or cast (Zarr stays lazy); unknown
    variables are kept under their own names.

    Raises:
        InvalidInputError: no latitude/longitude grid, or no time where one is needed.
    """
    from forecast.data.layout import from_example_batch

    ds = from_example_batch(ds)
    if "number" in ds.dims:
        ds = _select_member(ds, None, origin)
    if any(name in ds.coords for name in ("time", "valid_time", "step")):
        ds = _time_axis(ds, origin)
    ds = _level_axis(ds)
    ds = _horizontal_axes(ds, origin)
    renames = {}
    for name in ds.data_vars:
        target = _long_name(str(name), "level" in ds[name].dims)
        if target != name and target not in ds.data_vars and target not in renames.values():
            renames[name] = target
    return ds.rename(renames)


def _long_name(name: str, has_level: bool) -> str:
    if name in _KNOWN_NAMES:
        return name
    if name in EXTRA_VARIABLE_ALIASES:
        return EXTRA_VARIABLE_ALIASES[name]
    dataset = lexicon.PRESSURE_LEVELS_DATASET if has_level else lexicon.SINGLE_LEVELS_DATASET
    variable = lexicon.BY_SHORT_NAME.get((dataset, name))
    return variable.name if variable is not None else name


def require_variables(ds: xr.Dataset, names: Iterable[str], *, origin: str) -> None:
    """Raises one error naming every variable of `names` that `ds` lacks, with what it has.

    Raises:
        InvalidInputError: if any is missing.
    """
    missing = [n for n in names if n not in ds.data_vars]
    if missing:
        aliases = []
        for name in missing:
            known = [v.short_name for v in lexicon.BY_SHORT_NAME.values() if v.name == name] + [
                alias for alias, long in EXTRA_VARIABLE_ALIASES.items() if long == name
            ]
            aliases.append(f"{name} (or {'/'.join(known)})" if known else name)
        raise InvalidInputError(
            f"{origin}: missing variable(s) {', '.join(aliases)}; it has "
            f"{sorted(str(n) for n in ds.data_vars)}"
        )


def _select_member(ds: xr.Dataset, member: int | None, origin: str) -> xr.Dataset:
    if "number" in ds.dims and ds.sizes["number"] > 1:
        if member is None:
            raise InvalidInputError(
                f"{origin}: holds {ds.sizes['number']} ensemble members (number="
                f"{ds['number'].values.tolist()}); pick one with member="
            )
        if member not in ds["number"].values:
            raise InvalidInputError(f"{origin}: no ensemble member {member}")
        return ds.sel(number=member, drop=True)
    if "number" in ds.dims:
        return ds.isel(number=0, drop=True)
    return ds


def _time_axis(ds: xr.Dataset, origin: str) -> xr.Dataset:
    """Make `time` the valid-time axis (NetCDF `valid_time`, cfgrib `time`+`step`)."""
    if "expver" in ds.dims:
        # Files spanning ERA5 and ERA5T may carry an `expver` axis, each time valid in one
        # member only: merge them (first non-missing value wins).
        parts = [ds.isel(expver=i, drop=True) for i in range(ds.sizes["expver"])]
        ds = parts[0]
        for part in parts[1:]:
            ds = ds.combine_first(part)
    if "valid_time" in ds.dims:
        ds = ds.drop_vars([c for c in ("time", "step") if c in ds.coords and c not in ds.dims])
        return ds.rename({"valid_time": "time"})
    if "step" in ds.dims and "time" in ds.dims:
        # cfgrib's forecast-style axes (accumulations from GRIB): flatten to valid times.
        stacked = ds.stack(_vt=("time", "step"))
        valid = stacked["valid_time"].values
        stacked = stacked.drop_vars(["_vt", "time", "step", "valid_time"], errors="ignore")
        stacked = stacked.assign_coords(_vt=valid).rename({"_vt": "time"})
        stacked = stacked.transpose("time", ...).dropna("time", how="all")
        return stacked.isel(time=np.unique(stacked["time"].values, return_index=True)[1])
    if "time" in ds.dims:
        if "valid_time" in ds.coords and ds["valid_time"].dims == ("time",):
            ds = ds.assign_coords(time=ds["valid_time"].values)
        return ds.drop_vars([c for c in ("valid_time", "step") if c in ds.coords])
    # A single time: a scalar coordinate; give every time-dependent variable the axis.
    if "valid_time" in ds.coords:
        valid = ds["valid_time"].values
    elif "time" in ds.coords:
        valid = ds["time"].values + (ds["step"].values if "step" in ds.coords else 0)
    else:
        raise InvalidInputError(f"{origin}: no time coordinate")
    ds = ds.drop_vars([c for c in ("valid_time", "time", "step") if c in ds.coords])
    return ds.expand_dims(time=[np.datetime64(valid, "ns")])


def _level_axis(ds: xr.Dataset) -> xr.Dataset:
    for name in (lexicon.CDS_LEVEL, lexicon.GRIB_LEVEL):
        if name in ds.dims:
            ds = ds.rename({name: "level"})
        elif name in ds.coords:  # one level: scalar coordinate (cfgrib)
            ds = ds.expand_dims(level=[ds[name].values]).drop_vars(name)
    if "level" in ds.dims:
        ds = ds.assign_coords(level=np.round(ds["level"].values).astype(np.int32))
    return ds.drop_vars(
        [c for c in ("surface", "heightAboveGround", "meanSea", "expver") if c in ds.coords]
    )


def _horizontal_axes(ds: xr.Dataset, origin: str) -> xr.Dataset:
    ds = ds.rename({k: v for k, v in HORIZONTAL_ALIASES.items() if k in ds.dims})
    if "lat" not in ds.dims or "lon" not in ds.dims:
        raise InvalidInputError(
            f"{origin}: no latitude/longitude grid: dims are {dict(ds.sizes)}; expected "
            f"lat/lon or {', '.join(HORIZONTAL_ALIASES)}"
        )
    lon = np.mod(ds["lon"].values.astype(np.float64), 360.0)
    ds = ds.assign_coords(lon=lon)
    # −180…180 inclusive areas repeat the 180° meridian once wrapped.
    _, first = np.unique(lon, return_index=True)
    ds = ds.isel(lon=np.sort(first)).sortby("lon").sortby("lat")
    return ds.assign_coords(
        lat=ds["lat"].values.astype(np.float32), lon=ds["lon"].values.astype(np.float32)
    )


def load_files(
    paths: Iterable[Path | str], *, member: int | None = None
) -> dict[str, xr.DataArray]:
    """Every variable found in `paths` (see `combine`)."""
    return combine([open_cds_file(path, member=member) for path in paths])


def combine(datasets: Iterable[xr.Dataset]) -> dict[str, xr.DataArray]:
    """Every variable of `datasets`, each concatenated along time (sorted, deduplicated).

    Raises:
        InvalidInputError: if the datasets disagree on the grid or levels.
    """
    pieces: dict[str, list[xr.DataArray]] = defaultdict(list)
    for ds in datasets:
        for name in ds.data_vars:
            pieces[str(name)].append(ds[name])
    out = {}
    for name, arrays in pieces.items():
        if "time" not in arrays[0].dims:
            out[name] = arrays[0]
            continue
        try:
            joined = xr.concat(arrays, dim="time", join="exact")
        except ValueError as exc:
            raise InvalidInputError(f"{name}: files are on different grids/levels: {exc}") from None
        joined = joined.sortby("time")
        _, first = np.unique(joined["time"].values, return_index=True)
        out[name] = joined.isel(time=first)
    return out


def accumulate_precipitation(
    hourly: xr.DataArray, frame_times: Sequence[dt.datetime]
) -> xr.DataArray:
    """`total_precipitation_6hr` at each frame time from hourly ERA5 `tp`.

    The value at T is the sum of the hourly fields valid at T − 5 h … T (each the accumulation
    over the hour ending at its valid time), summed in float64.

    Raises:
        InvalidInputError: naming the hours that are missing.
    """
    have = set(pd.DatetimeIndex(hourly["time"].values).to_pydatetime())
    sums = []
    for frame in frame_times:
        hours = precipitation_hours(frame)
        missing = [h for h in hours if h not in have]
        if missing:
            raise InvalidInputError(
                f"total_precipitation_6hr at {frame:%Y-%m-%dT%H}: hourly total_precipitation "
                f"missing at {', '.join(f'{h:%Y-%m-%dT%H}' for h in missing)}"
            )
        window = hourly.sel(time=np.array(hours, dtype="datetime64[ns]"))
        sums.append(window.astype(np.float64).sum("time").astype(np.float32))
    out = xr.concat(sums, dim="time").assign_coords(
        time=np.array(frame_times, dtype="datetime64[ns]")
    )
    out.attrs = {"units": "m"}
    return out.rename("total_precipitation_6hr")


def assemble_frames(
    fields: dict[str, xr.DataArray],
    frame_times: Sequence[dt.datetime],
    *,
    levels: Sequence[int],
    variables: Sequence[str] = INPUT_VARIABLES,
    statics: bool = True,
) -> xr.Dataset:
    """The model-layout dataset at `frame_times` from loaded CDS fields.

    Args:
        fields: output of `load_files`.
        frame_times: valid times wanted (e.g. the two input frames).
        levels: pressure levels in the order wanted.
        variables: model variables (statics are added when `statics`).
        statics: include `geopotential_at_surface` and `land_sea_mask`.

    Returns:
        Dataset in the model layout with attrs `source="era5"`, `synthetic=0`.

    Raises:
        InvalidInputError: naming a missing variable, time or level.
    """
    frames = [to_utc(t) for t in frame_times]
    wanted = np.array(frames, dtype="datetime64[ns]")
    out: dict[str, xr.DataArray] = {}
    for name in variables:
        if name == "total_precipitation_6hr":
            if lexicon.HOURLY_PRECIPITATION not in fields:
                raise InvalidInputError("hourly total_precipitation missing from the CDS files")
            out[name] = accumulate_precipitation(fields[lexicon.HOURLY_PRECIPITATION], frames)
            continue
        if name not in fields:
            raise InvalidInputError(f"{name} missing from the CDS files")
        field = fields[name]
        missing = sorted(set(wanted) - set(field["time"].values))
        if missing:
            raise InvalidInputError(
                f"{name} missing at {', '.join(str(m)[:13] for m in missing)} in the CDS files"
            )
        field = field.sel(time=wanted)
        if "level" in field.dims:
            absent = sorted(set(levels) - set(field["level"].values.tolist()))
            if absent:
                raise InvalidInputError(f"{name} lacks pressure levels {absent} hPa")
            field = field.sel(level=np.asarray(levels, dtype=np.int32))
        out[name] = field
    if statics:
        for name in V.STATIC_VARS:
            if name not in fields:
                raise InvalidInputError(f"static field {name} missing from the CDS files")
            out[name] = fields[name]
    try:
        xr.align(*out.values(), join="exact")
    except ValueError as exc:
        raise InvalidInputError(f"CDS files are on different grids: {exc}") from None
    ds = xr.Dataset(out)
    ds = ds.transpose(*[d for d in ("time", "level", "lat", "lon") if d in ds.dims])
    ds.attrs.update(source="era5", synthetic=0)
    return ds
