"""Files as the current CDS returns them, filled from the synthetic world.

NetCDF like the CDS's post-2024 converter: dims `valid_time` (int64 seconds since 1970),
`pressure_level` (hPa, descending), `latitude` (descending), `longitude` (0…360−Δ for the globe,
west…east inclusive for an area); scalar `number`, per-time `expver`; CDS short names; hourly
accumulations (`tp` in m, `tisr` in J m⁻²) valid at the end of their hour. A request mixing
instantaneous and accumulated fields comes back as a zip of one NetCDF per step type, as the
CDS does. `data_format: grib` gives GRIB1 encoded with eccodes (16-bit packing, as ERA5).
"""

from __future__ import annotations

import datetime as dt
import io
import itertools
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from forecast.data import lexicon
from forecast.data.convert import IO_LOCK
from forecast.data.synthetic import synthetic_era5
from forecast.errors import InvalidInputError

_GLOBAL_ATTRS = {
    "GRIB_centre": "ecmf",
    "GRIB_centreDescription": "European Centre for Medium-Range Weather Forecasts",
    "GRIB_subCentre": 0,
    "Conventions": "CF-1.7",
    "institution": "European Centre for Medium-Range Weather Forecasts",
}


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return value.split("/")
    return [str(v) for v in value]


def request_times(inputs: dict[str, Any]) -> list[dt.datetime]:
    """Every valid time of a request: year × month × day × time, impossible dates skipped."""
    times = []
    for year, month, day, hour in itertools.product(
        _as_list(inputs.get("year")),
        _as_list(inputs.get("month")),
        _as_list(inputs.get("day")),
        _as_list(inputs.get("time")),
    ):
        try:
            date = dt.date(int(year), int(month), int(day))
            clock = dt.time.fromisoformat(hour if ":" in hour else f"{int(hour):02d}:00")
        except ValueError:
            continue
        times.append(dt.datetime.combine(date, clock))
    return sorted(set(times))


def parse_request(dataset: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """Validate a request's `inputs` like the CDS would; return the parsed pieces.

    Raises:
        InvalidInputError: with the CDS-style reason (unknown variable, no levels, ...).
    """
    variables = [lexicon.from_request_name(dataset, v) for v in _as_list(inputs.get("variable"))]
    if not variables:
        raise InvalidInputError("the request names no variable")
    levels = [int(float(p)) for p in _as_list(inputs.get("pressure_level"))]
    if dataset == lexicon.PRESSURE_LEVELS_DATASET and not levels:
        raise InvalidInputError("pressure_level is required for this dataset")
    times = request_times(inputs)
    if not times:
        raise InvalidInputError("the request selects no valid date and time")
    grid = [float(g) for g in _as_list(inputs.get("grid") or ["0.25", "0.25"])]
    if len(grid) != 2 or grid[0] != grid[1] or not 0 < grid[0] <= 90:
        raise InvalidInputError(f"unsupported grid {inputs.get('grid')!r}")
    area = [float(a) for a in _as_list(inputs.get("area"))] or None
    if area is not None and (len(area) != 4 or area[0] < area[2] or area[1] > area[3]):
        raise InvalidInputError(f"bad area {inputs.get('area')!r}: expected north/west/south/east")
    data_format = inputs.get("data_format", inputs.get("format", "grib"))
    if data_format not in ("netcdf", "grib"):
        raise InvalidInputError(f"unsupported data_format {data_format!r}")
    return {
        "variables": variables,
        "levels": levels,
        "times": times,
        "grid": grid[0],
        "area": area,
        "data_format": data_format,
    }


def grid_axes(grid: float, area: list[float] | None) -> tuple[np.ndarray, np.ndarray]:
    """Latitudes (descending) and longitudes the CDS returns for a grid and optional area."""
    if area is None:
        north, west, south, east = 90.0, 0.0, -90.0, 360.0 - grid
    else:
        north, west, south, east = area
    lat = north - grid * np.arange(int(np.floor((north - south) / grid + 1e-6)) + 1)
    lon = west + grid * np.arange(int(np.floor((east - west) / grid + 1e-6)) + 1)
    return lat, lon


def cds_dataset(
    dataset: str,
    variables: list[lexicon.CdsVariable],
    times: list[dt.datetime],
    *,
    levels: list[int],
    grid: float,
    area: list[float] | None,
    seed: int,
    expver: list[str],
) -> xr.Dataset:
    """One CDS-style NetCDF dataset (one step type) from the synthetic world."""
    lat, lon = grid_axes(grid, area)
    names = [v.name for v in variables]
    world = synthetic_era5(
        np.array(times, dtype="datetime64[ns]"),
        levels=sorted(levels, reverse=True) or (1000,),
        seed=seed,
        lat=lat[::-1],
        lon=lon,
        variables=names,
        precipitation_hours=1,
    ).isel(lat=slice(None, None, -1))
    coords: dict[str, Any] = {
        "number": np.int64(0),
        "valid_time": np.array(times, dtype="datetime64[ns]"),
        "latitude": lat.astype(np.float64),
        "longitude": lon.astype(np.float64),
        "expver": ("valid_time", np.array(expver, dtype=object)),
    }
    out = {}
    for var in variables:
        field = world[var.name]
        if "level" in field.dims:
            coords["pressure_level"] = world["level"].values.astype(np.float64)
            dims = ("valid_time", "pressure_level", "latitude", "longitude")
            values = field.transpose("time", "level", "lat", "lon").values
        else:
            dims = ("valid_time", "latitude", "longitude")
            values = field.values
            if "time" not in field.dims:  # statics come at every requested time
                values = np.broadcast_to(values, (len(times), *values.shape))
        out[var.short_name] = (dims, np.ascontiguousarray(values, dtype=np.float32))
    ds = xr.Dataset(out, coords=coords)
    for var in variables:
        ds[var.short_name].attrs.update(
            GRIB_shortName=var.short_name,
            long_name=var.request_name.replace("_", " "),
            units=_units(var),
        )
    ds["valid_time"].attrs.update(standard_name="time", long_name="time")
    ds["latitude"].attrs.update(units="degrees_north", standard_name="latitude")
    ds["longitude"].attrs.update(units="degrees_east", standard_name="longitude")
    if "pressure_level" in ds.coords:
        ds["pressure_level"].attrs.update(units="hPa", long_name="pressure")
    ds.attrs.update(
        _GLOBAL_ATTRS, history=f"local CDS (synthetic world, seed {seed}) for {dataset}"
    )
    return ds


def _units(var: lexicon.CdsVariable) -> str:
    from forecast.variables import UNITS

    return "m" if var.short_name == "tp" else UNITS.get(var.name, "")


def to_netcdf_bytes(ds: xr.Dataset) -> bytes:
    """NetCDF4 bytes with the CDS's time encoding (int64 seconds since 1970)."""
    encoding = {"valid_time": {"units": "seconds since 1970-01-01", "dtype": "int64"}}
    encoding |= {name: {"zlib": True, "complevel": 1} for name in ds.data_vars}
    import tempfile

    with tempfile.TemporaryDirectory() as tmp, IO_LOCK:  # jobs run in threads
        path = Path(tmp) / "data.nc"
        ds.to_netcdf(path, engine="netcdf4", format="NETCDF4", encoding=encoding)
        return path.read_bytes()


# ECMWF GRIB1 parameter ids (table 128) of the short names the local CDS serves.
_PARAM_IDS = {
    "t": 130, "z": 129, "u": 131, "v": 132, "w": 135, "q": 133, "t2m": 167, "msl": 151,
    "u10": 165, "v10": 166, "tp": 228, "tisr": 212, "lsm": 172,
}  # fmt: skip
# ERA5's packing precision.
_GRIB_BITS = 16


def to_grib_bytes(ds: xr.Dataset, accumulated: set[str]) -> bytes:
    """GRIB1 messages (one per time, variable and level) of a CDS-layout dataset.

    Accumulations are encoded as the hour before their valid time with step range 0-1, so
    cfgrib's `valid_time` is the end of the hour, as for ERA5's hourly accumulations.
    """
    import eccodes

    with IO_LOCK:  # jobs run in threads; keep the native libraries serial
        return _encode_grib(ds, accumulated, eccodes)


def _encode_grib(ds: xr.Dataset, accumulated: set[str], eccodes: Any) -> bytes:
    lat, lon = ds["latitude"].values, ds["longitude"].values
    grid = {
        "latitudeOfFirstGridPointInDegrees": float(lat[0]),
        "latitudeOfLastGridPointInDegrees": float(lat[-1]),
        "longitudeOfFirstGridPointInDegrees": float(lon[0]),
        "longitudeOfLastGridPointInDegrees": float(lon[-1]),
        "iDirectionIncrementInDegrees": float(abs(lon[1] - lon[0])) if lon.size > 1 else 1.0,
        "jDirectionIncrementInDegrees": float(abs(lat[1] - lat[0])) if lat.size > 1 else 1.0,
    }
    out = io.BytesIO()
    for name in ds.data_vars:
        field = ds[name]
        levels = field["pressure_level"].values if "pressure_level" in field.dims else [None]
        for i, time in enumerate(field["valid_time"].values):
            for j, level in enumerate(levels):
                values = field.isel(valid_time=i)
                if level is not None:
                    values = values.isel(pressure_level=j)
                sample = "regular_ll_pl_grib1" if level is not None else "regular_ll_sfc_grib1"
                handle = eccodes.codes_grib_new_from_samples(sample)
                try:
                    eccodes.codes_set(handle, "centre", "ecmf")
                    eccodes.codes_set_long(handle, "Ni", lon.size)
                    eccodes.codes_set_long(handle, "Nj", lat.size)
                    for key, value in grid.items():
                        eccodes.codes_set_double(handle, key, value)
                    eccodes.codes_set_long(handle, "paramId", _PARAM_IDS[str(name)])
                    if level is not None:
                        eccodes.codes_set_long(handle, "level", int(level))
                    when = pd.Timestamp(time)
                    if name in accumulated:
                        when -= pd.Timedelta(hours=1)
                        eccodes.codes_set(handle, "stepType", "accum")
                        eccodes.codes_set(handle, "stepRange", "0-1")
                    eccodes.codes_set_long(handle, "dataDate", int(when.strftime("%Y%m%d")))
                    eccodes.codes_set_long(handle, "dataTime", int(when.strftime("%H%M")))
                    eccodes.codes_set_long(handle, "bitsPerValue", _GRIB_BITS)
                    eccodes.codes_set_values(handle, values.values.astype(np.float64).ravel())
                    out.write(eccodes.codes_get_message(handle))
                finally:
                    eccodes.codes_release(handle)
    return out.getvalue()


def build_result(
    dataset: str, parsed: dict[str, Any], *, seed: int, era5t_after: dt.datetime
) -> tuple[bytes, str, str]:
    """The file a job returns: (content, file name, MIME type).

    Args:
        dataset: the CDS dataset id.
        parsed: output of `parse_request`.
        seed: synthetic world seed.
        era5t_after: times after this are preliminary ERA5T (`expver` "0005"), as on the CDS.
    """
    times = parsed["times"]
    expver = ["0005" if t > era5t_after else "0001" for t in times]
    if parsed["data_format"] == "grib":  # one GRIB file whatever the step types
        ds = cds_dataset(
            dataset,
            parsed["variables"],
            times,
            levels=parsed["levels"],
            grid=parsed["grid"],
            area=parsed["area"],
            seed=seed,
            expver=expver,
        )
        accumulated = {v.short_name for v in parsed["variables"] if v.accumulated}
        return to_grib_bytes(ds, accumulated), "data.grib", "application/x-grib"
    groups = {
        "instant": [v for v in parsed["variables"] if not v.accumulated],
        "accum": [v for v in parsed["variables"] if v.accumulated],
    }
    files = {}
    for step_type, variables in groups.items():
        if variables:
            ds = cds_dataset(
                dataset,
                variables,
                times,
                levels=parsed["levels"],
                grid=parsed["grid"],
                area=parsed["area"],
                seed=seed,
                expver=expver,
            )
            files[f"data_stream-oper_stepType-{step_type}.nc"] = to_netcdf_bytes(ds)
    if len(files) == 1:
        return next(iter(files.values())), "data.nc", "application/netcdf"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue(), "data.zip", "application/zip"
