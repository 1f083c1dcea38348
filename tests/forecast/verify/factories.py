"""Small random forecast/truth/climatology datasets in the project's layouts, for verify tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

SURFACE = ("2m_temperature", "10m_u_component_of_wind", "10m_v_component_of_wind")
ATMOSPHERIC = ("geopotential", "u_component_of_wind", "v_component_of_wind")
LEVELS = (500, 850)
BASE = {
    "2m_temperature": 280.0,
    "10m_u_component_of_wind": 2.0,
    "10m_v_component_of_wind": -1.0,
    "geopotential": 50000.0,
    "u_component_of_wind": 10.0,
    "v_component_of_wind": 0.5,
}
SCALE = {name: (300.0 if name == "geopotential" else 3.0) for name in BASE}


def grid(step: float = 10.0) -> tuple[np.ndarray, np.ndarray]:
    lat = np.arange(-90.0, 90.0 + step / 2, step)
    lon = np.arange(0.0, 360.0, step)
    return lat, lon


def model_layout(
    times, *, seed: int = 0, step: float = 10.0, dtype=np.float64, levels=LEVELS
) -> xr.Dataset:
    """Random fields around realistic means, dims (time, [level,] lat, lon)."""
    rng = np.random.default_rng(seed)
    lat, lon = grid(step)
    times = pd.DatetimeIndex(times)
    data = {}
    for name in SURFACE:
        x = BASE[name] + SCALE[name] * rng.standard_normal((len(times), lat.size, lon.size))
        data[name] = (("time", "lat", "lon"), x.astype(dtype))
    for name in ATMOSPHERIC:
        shape = (len(times), len(levels), lat.size, lon.size)
        x = BASE[name] + SCALE[name] * rng.standard_normal(shape)
        data[name] = (("time", "level", "lat", "lon"), x.astype(dtype))
    return xr.Dataset(
        data,
        coords={
            "time": times.to_numpy(),
            "level": np.asarray(levels, dtype=np.int32),
            "lat": lat.astype(np.float32),
            "lon": lon.astype(np.float32),
        },
        attrs={"source": "synthetic", "synthetic": 1},
    )


def forecast_layout(
    truth: xr.Dataset, init_time, steps: int, *, seed: int = 1, noise=0.5, lead0=False
):
    """A forecast from `init_time`: truth at the valid times plus noise, forecast layout."""
    init_time = pd.Timestamp(init_time)
    first = 0 if lead0 else 1
    leads = pd.to_timedelta(np.arange(first, steps + 1) * 6, unit="h")
    valid = init_time + leads
    rng = np.random.default_rng(seed)
    fc = truth.sel(time=valid).copy(deep=True)
    for name in fc.data_vars:
        fc[name] = (
            fc[name]
            + noise * SCALE[name] * rng.standard_normal(fc[name].shape).astype(fc[name].dtype)
            + 0.1 * SCALE[name]
        )
    fc = fc.assign_coords(lead_time=("time", leads.to_numpy()))
    fc.attrs = {
        "init_time": init_time.strftime("%Y-%m-%dT%H:%M:%S"),
        "predictor": "test",
        "synthetic": 1,
    }
    return fc


def climatology(truth: xr.Dataset, *, seed: int = 2, days=None) -> xr.Dataset:
    """A random climatology (hours 0/6/12/18; `days` of year, default 1…366) near the truth."""
    rng = np.random.default_rng(seed)
    days = np.arange(1, 367) if days is None else np.asarray(days)
    sizes = {"dayofyear": days.size, "hour": 4}
    data = {}
    for name in truth.data_vars:
        dims = ("dayofyear", "hour") + truth[name].dims[1:]
        shape = tuple(sizes.get(d, truth.sizes.get(d)) for d in dims)
        data[name] = (dims, BASE[name] + SCALE[name] * 0.5 * rng.standard_normal(shape))
    coords = {"dayofyear": days, "hour": np.array([0, 6, 12, 18])}
    coords.update({d: truth[d].values for d in ("level", "lat", "lon")})
    return xr.Dataset(data, coords=coords)


def by_init(forecasts: list[xr.Dataset]) -> xr.Dataset:
    """Stacks forecast-layout runs into dims (init_time, lead_time, ...) with a valid_time coord."""
    runs = []
    for fc in forecasts:
        run = fc.swap_dims(time="lead_time").rename(time="valid_time")
        runs.append(run.expand_dims(init_time=[pd.Timestamp(fc.attrs["init_time"])]))
    return xr.concat(runs, dim="init_time", coords="different", compat="equals", join="outer")


def truth_like(stacked: xr.Dataset, truth: xr.Dataset) -> xr.Dataset:
    """The truth at every (init_time, lead_time) valid time of `stacked`."""
    return truth.sel(time=stacked["valid_time"]).drop_vars("time")
