"""What ECMWF's open-data server publishes, made from the synthetic world: GRIB2 and `.index`.

One file per cycle and step, `{yyyymmdd}{HH}0000-{step}h-{stream}-fc.grib2`, holding every
published field as a GRIB2 message encoded with ecCodes (CCSDS packing, 16 bits, as the real
files), on a global regular grid with latitudes descending from 90° and longitudes from −180°
(the open-data layout since 2024). Beside it the `.index` file: one JSON object per message
with its MARS keys (read back from the encoded message), `_offset` and `_length`, which the
`ecmwf-opendata` client uses to request byte ranges.

Published parameters (the subset of the real 0p25 `oper` files GraphCast needs): on the 13
pressure levels of the real files `gh` (or `z`, see `pressure_geopotential`), `t`, `u`, `v`,
`w`, `q`; at the surface `2t`, `msl`, `10u`, `10v`, and at step 0 the constant fields `z`
(surface geopotential) and `lsm` unless `statics` is off (older cycles lacked them).

The values are the synthetic world's (`forecast.data.synthetic`) at the step's valid time; they
are marked as "operational test products" (GRIB2 code table 1.3, value 1) so that a reader can
tell them from real IFS output.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from forecast import variables as V
from forecast.data import lexicon
from forecast.data.convert import IO_LOCK

# The 13 pressure levels of the real open-data files (GraphCast's 13, hPa).
LEVELS = V.PRESSURE_LEVELS_13
# Cycles switched from stream `scda` (06/18 UTC) to `oper` with IFS cycle 50r1.
OPER_FOR_ALL_CYCLES_FROM = dt.date(2026, 5, 12)
# GRIB2 code table 1.3 "operational test products": marks the synthetic fields.
TEST_PRODUCTS = 1
_BITS = 16
_PARAM_IDS = {
    "gh": 156, "z": 129, "t": 130, "u": 131, "v": 132, "w": 135, "q": 133,
    "2t": 167, "msl": 151, "10u": 165, "10v": 166, "lsm": 172,
}  # fmt: skip


@dataclass(frozen=True)
class Field:
    """One message of a published file.

    Attributes:
        param: open-data parameter (`t`, `gh`, `2t`, ...).
        levtype: `pl` or `sfc`.
        level: hPa for `pl`, None at the surface.
    """

    param: str
    levtype: str
    level: int | None = None


def stream_for(cycle: dt.datetime) -> str:
    """The stream directory of `cycle`'s HRES files (`scda` for 06/18 UTC before IFS 50r1)."""
    if cycle.hour in (6, 18) and cycle.date() < OPER_FOR_ALL_CYCLES_FROM:
        return "scda"
    return "oper"


def valid_steps(cycle: dt.datetime) -> tuple[int, ...]:
    """Forecast steps published for `cycle` (00/12 UTC to 240 h, 06/18 UTC to 90 h)."""
    if cycle.hour in (0, 12):
        return tuple(range(0, 144, 3)) + tuple(range(144, 241, 6))
    return tuple(range(0, 91, 3))


def published_fields(
    *, step: int, pressure_geopotential: str = "gh", statics: bool = True
) -> list[Field]:
    """The messages of one file, in the order the file holds them."""
    fields = [
        Field(param, "pl", level)
        for param in (pressure_geopotential, "t", "u", "v", "w", "q")
        for level in LEVELS
    ]
    fields += [Field(param, "sfc") for param in ("2t", "msl", "10u", "10v")]
    if statics and step == 0:
        fields += [Field("z", "sfc"), Field("lsm", "sfc")]
    return fields


def grid(grid_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """The open-data grid: latitudes 90 → −90, longitudes −180 → 180 − Δ."""
    n = 180.0 / grid_deg
    if abs(n - round(n)) > 1e-9:
        raise ValueError(f"{grid_deg}° does not divide 180°")
    n = round(n)
    lat = np.linspace(90.0, -90.0, n + 1)
    lon = -180.0 + np.arange(2 * n) * (360.0 / (2 * n))
    return lat, lon


def encode_file(
    cycle: dt.datetime,
    step: int,
    *,
    grid_deg: float,
    seed: int = 0,
    pressure_geopotential: str = "gh",
    statics: bool = True,
    withheld: Iterable[str] = (),
) -> tuple[bytes, bytes]:
    """The GRIB2 file and its `.index` for one cycle and step.

    Args:
        cycle: the cycle (naive UTC).
        step: forecast step in hours (the fields are the synthetic world at cycle + step).
        grid_deg: grid spacing (the real files: 0.25).
        seed: synthetic world seed.
        pressure_geopotential: `gh` (geopotential height, gpm; what the real files carry) or `z`.
        statics: publish `z`/`lsm` at the surface at step 0.
        withheld: parameters left out (the "missing parameter" fault).

    Returns:
        `(grib_bytes, index_bytes)`.
    """
    from forecast.data.synthetic import synthetic_era5

    withheld = set(withheld)
    fields = [
        f
        for f in published_fields(
            step=step, pressure_geopotential=pressure_geopotential, statics=statics
        )
        if f.param not in withheld
    ]
    lat, lon = grid(grid_deg)
    valid = cycle + dt.timedelta(hours=step)
    world = synthetic_era5(
        np.array([valid], dtype="datetime64[ns]"),
        lat=lat[::-1],
        lon=lon,
        levels=LEVELS,
        seed=seed,
        variables=list(V.TARGET_ATMOSPHERIC_VARS)
        + list(V.TARGET_SURFACE_NO_PRECIP_VARS)
        + list(V.STATIC_VARS),
    ).isel(time=0)
    # The world is on ascending latitudes and longitudes 0…360: put it on the open-data grid.
    world = world.sel(lat=np.float32(lat).astype(world["lat"].dtype), method="nearest")
    world = world.sel(lon=np.mod(lon, 360.0).astype(world["lon"].dtype), method="nearest")
    grid_keys = {
        "latitudeOfFirstGridPointInDegrees": float(lat[0]),
        "latitudeOfLastGridPointInDegrees": float(lat[-1]),
        "longitudeOfFirstGridPointInDegrees": float(lon[0]),
        "longitudeOfLastGridPointInDegrees": float(lon[-1]),
        "iDirectionIncrementInDegrees": float(grid_deg),
        "jDirectionIncrementInDegrees": float(grid_deg),
    }
    import eccodes

    grib, index = io.BytesIO(), io.BytesIO()
    with IO_LOCK:  # served from threads; keep the native library serial
        for field in fields:
            values = _values(world, field)
            sample = "regular_ll_pl_grib2" if field.levtype == "pl" else "regular_ll_sfc_grib2"
            handle = eccodes.codes_grib_new_from_samples(sample)
            try:
                eccodes.codes_set(handle, "centre", "ecmf")
                eccodes.codes_set_long(handle, "setLocalDefinition", 1)
                for key, value in (("class", "od"), ("type", "fc"), ("expver", "0001")):
                    eccodes.codes_set(handle, key, value)
                eccodes.codes_set(handle, "stream", stream_for(cycle))
                eccodes.codes_set_long(handle, "productionStatusOfProcessedData", TEST_PRODUCTS)
                eccodes.codes_set_long(handle, "Ni", lon.size)
                eccodes.codes_set_long(handle, "Nj", lat.size)
                for key, value in grid_keys.items():
                    eccodes.codes_set_double(handle, key, value)
                eccodes.codes_set_long(handle, "paramId", _PARAM_IDS[field.param])
                if field.level is not None:
                    eccodes.codes_set_long(handle, "level", field.level)
                eccodes.codes_set_long(handle, "dataDate", int(f"{cycle:%Y%m%d}"))
                eccodes.codes_set_long(handle, "dataTime", int(f"{cycle:%H}00"))
                eccodes.codes_set_long(handle, "step", step)
                eccodes.codes_set(handle, "packingType", "grid_ccsds")
                eccodes.codes_set_long(handle, "bitsPerValue", _BITS)
                eccodes.codes_set_values(handle, values.astype(np.float64).ravel())
                message = eccodes.codes_get_message(handle)
                entry = _mars_keys(handle, eccodes)
            finally:
                eccodes.codes_release(handle)
            entry["_offset"], entry["_length"] = grib.tell(), len(message)
            grib.write(message)
            index.write((json.dumps(entry) + "\n").encode())
    return grib.getvalue(), index.getvalue()


def _values(world, field: Field) -> np.ndarray:
    """The synthetic field in the units the open data use."""
    by_param = {
        entry.param: entry for entry in lexicon.OPENDATA_PARAMS if entry.levtype == field.levtype
    }
    if field.levtype == "pl" and field.param == "gh":
        return world["geopotential"].sel(level=field.level).values / lexicon.STANDARD_GRAVITY
    entry = by_param[field.param]
    data = world[entry.name]
    if field.level is not None:
        data = data.sel(level=field.level)
    return data.values


def _mars_keys(handle: object, eccodes) -> dict[str, str]:
    """The MARS keys of a message, as the real `.index` lines carry them."""
    keys: dict[str, str] = {}
    iterator = eccodes.codes_keys_iterator_new(handle, "mars")
    try:
        while eccodes.codes_keys_iterator_next(iterator):
            name = eccodes.codes_keys_iterator_get_name(iterator)
            keys[name] = eccodes.codes_get_string(handle, name)
    finally:
        eccodes.codes_keys_iterator_delete(iterator)
    keys["param"] = eccodes.codes_get_string(handle, "shortName")
    return keys
