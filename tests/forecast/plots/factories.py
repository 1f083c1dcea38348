"""Forecast-layout datasets with plausible weather-like fields, for the plotting tests and bench."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

G = 9.80665


def make_forecast(
    *,
    steps: int = 2,
    resolution: float = 5.0,
    lat_range: tuple[float, float] = (-90.0, 90.0),
    lon_range: tuple[float, float] | None = None,
    levels: tuple[int, ...] = (500, 850),
    init_time: str = "2026-11-16T00:00:00",
    synthetic: int = 1,
    seed: int = 0,
    shift: float = 0.0,
) -> xr.Dataset:
    """A forecast in the layout of docs/design.md: (time, [level,] lat, lon), valid times.

    Fields are zonal climatologies plus eastward-moving waves and a little noise; `shift` moves
    the waves (so a "truth" differs from a forecast by a known pattern).

    Args:
        steps: number of 6-hourly lead times.
        resolution: grid spacing in degrees.
        lat_range: first and last latitude (inclusive).
        lon_range: first and last longitude (inclusive, 0…360); None for a global grid.
        levels: pressure levels (hPa) of the atmospheric variables.
        init_time: ISO init time.
        synthetic: the `synthetic` attribute.
        seed: noise seed.
        shift: wave phase offset in radians.
    """
    rng = np.random.default_rng(seed)
    lat = np.arange(lat_range[0], lat_range[1] + resolution / 2, resolution, dtype=np.float32)
    if lon_range is None:
        lon = np.arange(0.0, 360.0, resolution, dtype=np.float32)
    else:
        lon = np.arange(lon_range[0], lon_range[1] + resolution / 2, resolution, dtype=np.float32)
    init = pd.Timestamp(init_time)
    lead = pd.to_timedelta(np.arange(1, steps + 1) * 6, unit="h")
    time = (init + lead).to_numpy()
    t = np.arange(1, steps + 1, dtype=np.float64)[:, None, None] * 0.1
    la = np.deg2rad(lat.astype(np.float64))[None, :, None]
    lo = np.deg2rad(lon.astype(np.float64))[None, None, :]
    wave = np.sin(4 * lo - t + shift) * np.cos(la) ** 2
    noise = rng.normal(0.0, 1.0, (steps, lat.size, lon.size))
    shape = (steps, lat.size, lon.size)

    def f32(a):
        return np.broadcast_to(a, shape).astype(np.float32)

    surface = {
        "2m_temperature": f32(300 - 55 * np.sin(la) ** 2 + 8 * wave + noise),
        "mean_sea_level_pressure": f32(101300 + 1800 * wave + 600 * np.cos(2 * la) + 50 * noise),
        "10m_u_component_of_wind": f32(8 * np.sin(3 * la) ** 2 - 3 + 6 * wave + noise),
        "10m_v_component_of_wind": f32(6 * np.cos(4 * lo - t + shift) * np.cos(la) + noise),
        "total_precipitation_6hr": f32(np.clip(0.004 * wave + 0.0005 * noise, 0, None)),
    }
    data = {name: (("time", "lat", "lon"), values) for name, values in surface.items()}
    z_heights = {500: 5600.0, 850: 1450.0}
    t_levels = {500: 255.0, 850: 282.0}
    z = np.stack(
        [
            f32(G * (z_heights.get(lv, 3000.0) - 350 * np.sin(la) ** 2 + 120 * wave))
            for lv in levels
        ],
        axis=1,
    )
    tt = np.stack(
        [f32(t_levels.get(lv, 270.0) - 35 * np.sin(la) ** 2 + 6 * wave + noise) for lv in levels],
        axis=1,
    )
    data["geopotential"] = (("time", "level", "lat", "lon"), z)
    data["temperature"] = (("time", "level", "lat", "lon"), tt)
    return xr.Dataset(
        data,
        coords={
            "time": time,
            "lead_time": ("time", lead.to_numpy()),
            "level": np.asarray(levels, dtype=np.int32),
            "lat": lat,
            "lon": lon,
        },
        attrs={
            "init_time": init.strftime("%Y-%m-%dT%H:%M:%S"),
            "predictor": "persistence",
            "checkpoint": "",
            "source": "synthetic" if synthetic else "era5",
            "synthetic": synthetic,
        },
    )
