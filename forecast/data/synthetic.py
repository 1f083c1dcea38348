"""The synthetic offline world: an analytic atmosphere with every GraphCast variable, any time/grid.

With no CDS credentials the service runs on this world; truth for verification comes from it too.
Every value is a closed-form function of (time, latitude, longitude, pressure) and of parameters
drawn once from `seed`, so a field at time t never depends on which other times were requested,
and any regular grid (global or regional, any resolution) samples the same continuous world.

The model (φ latitude, λ longitude, p pressure in hPa, t time; a = 6371 km, R = 287.05 J kg⁻¹ K⁻¹,
g = 9.80665 m s⁻², f = 2Ω sin φ with |sin φ| floored at sin 10°):

* Season: γ = 2π (days since 2000-01-01 − 79.5) / 365.24219 (0 at the March equinox); solar
  declination δ = 23.44° sin γ; ITCZ latitude φ_I = 0.3 δ.
* Statics (seed): ~6 continents (spherical caps of 12–30° whose edges are distorted by a smooth
  random field) plus Antarctica; `land_sea_mask` ∈ [0, 1] with ~1.5° coastal transitions;
  orography h = 200–3000 m ridges inland and a 2.8 km Antarctic plateau;
  `geopotential_at_surface` = g h.
* Zonal climatology: sea-level temperature T₀(φ, γ) = 301 − 45 sin²φ + 13 sin φ sin γ K; a
  tropopause at p_T = 100 + 150 sin²φ hPa; below it T = T₀ (p/1000)^κ with κ = 0.19 − 0.05 sin²φ
  (≈ 6.5 → 4.5 K km⁻¹), above it T = T(p_T) + 6 ln(p_T/p) K. Geopotential is the exact
  hydrostatic integral of that profile from Φ₁₀₀₀ = R T₀ ln(mslp / 1000 hPa). Westerly jets peak
  ~40 m s⁻¹ at 220 hPa and 35–45°, trades and tropical upper easterlies; Hadley-cell ascent at
  the ITCZ (ω ≈ −0.08 Pa s⁻¹) and subtropical descent; subtropical highs and subpolar lows in mslp.
* Synoptic waves: a 2-D pattern A(φ, λ, t) = Σ_k a_k(t) G_k(φ) cos(m_k λ + l_k (φ − φ_k) − Ω_b m_k t
  + ψ_k), m_k = 4…9, in bands φ_k = ±35°, ±50°, ±65° (Gaussian G_k, width 10°, tapered by cos²φ).
  Every component of band b moves eastward with the band's angular speed Ω_b (7–12 m s⁻¹ at the
  band centre, the classic synoptic speed), so each band is advected rigidly; amplitudes a_k(t)
  breathe slowly (periods 8–25 days, ±25%) and are ~30% stronger in the winter hemisphere.
  Geopotential Φ' = A F(p) with F = 0.25 + 0.75 ln(1000/p)/ln 4 below 250 hPa and F = (p/250)^0.6
  above; temperature is its hydrostatic partner T' = −(A/R) dF/d ln p (warm ridges, ~4 K); winds
  are geostrophic, (u', v') = F (−∂A/∂φ, ∂A/(cos φ ∂λ)) / (f a) (~15–25 m s⁻¹ at 500 hPa);
  ω' = −0.012 sgn(φ) v'(500 hPa) S(p) ascends in the poleward flow ahead of troughs, S a
  mid-tropospheric bump (small but non-zero in the stratosphere); tropical convection is
  modulated by westward-moving waves (m = 12, 5 m s⁻¹).
* Humidity: q = RH · q_sat(T, p) (Bolton's saturation vapour pressure), with
  RH = clip(RH₀(φ, p) − 1.5 ω, 0.02, 1): moist ascent, dry descent; above the tropopause
  q = min(q_sat / 2, ~4 mg kg⁻¹). So 0 ≤ q ≤ q_sat by construction.
* Precipitation rate r = 3 max(−ω₅₀₀, 0) q₈₅₀ clip((RH₈₅₀ − 0.5)/0.4, 0, 1) / (g ρ_w) m s⁻¹;
  the hourly accumulation ending at t is the two-point midpoint rule over the hour, and
  `total_precipitation_6hr` is the float64 sum of the six hourly accumulations ending at t.
* Surface: mslp = clim(φ) + ρ₀ Φ'(1000 hPa) with ρ₀ = 1.2 kg m⁻³; 10 m wind = 0.75 × (zonal
  surface wind + geostrophic wave wind at 1000 hPa), turned 20° towards low pressure and slowed
  a further 40% over land; 2 m temperature = T₀ + land seasonal excess + 2 T' − 6.5 K km⁻¹ h + a
  diurnal cycle D cos 2π(s − 0.625) (s the local solar day fraction, D ≈ 5 K over land, 0.5 K
  over sea) that also reaches 1000/925 hPa over land.
* `toa_incident_solar_radiation` is the real formula (`forecast.model.solar_radiation`).

The predictable part (rigid eastward advection per latitude band plus the forced diurnal cycle)
is what a small GraphCast learns from two frames; persistence error grows with lead time because
the world moves (≈ 10°/day).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from forecast.errors import InvalidInputError
from forecast.variables import (
    PRESSURE_LEVELS_13,
    STATIC_VARS,
    TARGET_ATMOSPHERIC_VARS,
    TARGET_SURFACE_VARS,
    UNITS,
)

R_DRY = 287.05  # J kg⁻¹ K⁻¹
GRAVITY = 9.80665  # m s⁻²
EARTH_RADIUS = 6.371e6  # m
OMEGA = 7.292e-5  # rad s⁻¹
RHO_WATER = 1000.0  # kg m⁻³
RHO_AIR = 1.2  # kg m⁻³, near-surface density turning Φ' into a pressure anomaly
SECONDS_PER_DAY = 86400.0
DAYS_PER_YEAR = 365.24219
_EPOCH = np.datetime64("2000-01-01T00:00:00", "ns")

TISR = "toa_incident_solar_radiation"
PRECIP_6H = "total_precipitation_6hr"
PRECIP_1H = "total_precipitation"
SURFACE_VARS = tuple(v for v in TARGET_SURFACE_VARS if v != PRECIP_6H)
ALL_VARIABLES = (*TARGET_SURFACE_VARS, TISR, *TARGET_ATMOSPHERIC_VARS, *STATIC_VARS)


@dataclass(frozen=True)
class _Waves:
    """Parameters of the synoptic wave components, one entry per component."""

    m: np.ndarray  # [K] zonal wavenumber
    lat0: np.ndarray  # [K] band centre (rad)
    width: np.ndarray  # [K] Gaussian half-width (rad)
    tilt: np.ndarray  # [K] meridional wavenumber l (trough tilt)
    omega: np.ndarray  # [K] frequency m·Ω_b (rad s⁻¹, eastward)
    amp: np.ndarray  # [K] amplitude (m² s⁻²)
    mod_period: np.ndarray  # [K] amplitude-modulation period (s)
    mod_phase: np.ndarray  # [K]
    phase: np.ndarray  # [K]


@dataclass(frozen=True)
class _World:
    """Every random parameter of one seed's world."""

    waves: _Waves
    continent_xyz: np.ndarray  # [C, 3] unit vectors of continent centres
    continent_radius: np.ndarray  # [C] angular radius (rad)
    coast_k: np.ndarray  # [J, 3] wave vectors of the coastline distortion field
    coast_phase: np.ndarray  # [J]
    ridge_k: np.ndarray  # [J, 3] wave vectors of the mountain-ridge field
    ridge_phase: np.ndarray  # [J]
    tropical_phase: float


@functools.lru_cache(maxsize=16)
def _world(seed: int) -> _World:
    """Draw the world's parameters from `seed` (cached: the draw is the world's identity)."""
    rng = np.random.default_rng(seed)
    bands = ((35.0, 12.0), (50.0, 10.0), (65.0, 7.0))  # (centre °, eastward speed m s⁻¹)
    fields: dict[str, list[float]] = {k: [] for k in _Waves.__dataclass_fields__}
    for hemisphere in (1.0, -1.0):
        for centre, speed in bands:
            lat0 = np.deg2rad(hemisphere * centre)
            angular_speed = speed / (EARTH_RADIUS * np.cos(lat0))
            for m in rng.choice(np.arange(4, 10), size=3, replace=False):
                fields["m"].append(float(m))
                fields["lat0"].append(float(lat0 + np.deg2rad(rng.uniform(-3, 3))))
                fields["width"].append(float(np.deg2rad(rng.uniform(8.0, 12.0))))
                fields["tilt"].append(float(rng.uniform(-2.0, 2.0)))
                fields["omega"].append(float(m * angular_speed))
                fields["amp"].append(float(rng.uniform(900.0, 1500.0)))
                fields["mod_period"].append(float(rng.uniform(8.0, 25.0) * SECONDS_PER_DAY))
                fields["mod_phase"].append(float(rng.uniform(0, 2 * np.pi)))
                fields["phase"].append(float(rng.uniform(0, 2 * np.pi)))
    waves = _Waves(**{k: np.asarray(v) for k, v in fields.items()})

    n_continents = 6
    lat_c = np.arcsin(rng.uniform(np.sin(np.deg2rad(-50)), np.sin(np.deg2rad(65)), n_continents))
    lon_c = rng.uniform(0, 2 * np.pi, n_continents)
    return _World(
        waves=waves,
        continent_xyz=_xyz(lat_c, lon_c),
        continent_radius=np.deg2rad(rng.uniform(12.0, 30.0, n_continents)),
        coast_k=_random_wavevectors(rng, 8, 2.0, 6.0),
        coast_phase=rng.uniform(0, 2 * np.pi, 8),
        ridge_k=_random_wavevectors(rng, 8, 4.0, 10.0),
        ridge_phase=rng.uniform(0, 2 * np.pi, 8),
        tropical_phase=float(rng.uniform(0, 2 * np.pi)),
    )


def _random_wavevectors(rng: np.random.Generator, n: int, kmin: float, kmax: float) -> np.ndarray:
    """`n` 3-D wave vectors with random directions and magnitudes in [kmin, kmax]."""
    directions = rng.normal(size=(n, 3))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    return directions * rng.uniform(kmin, kmax, size=(n, 1))


def _xyz(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Unit vectors `[..., 3]` for latitudes/longitudes in radians (broadcast)."""
    lat, lon = np.broadcast_arrays(lat, lon)
    return np.stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)], -1)


# --------------------------------------------------------------------------- static fields


def _static_arrays(world: _World, lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, ...]:
    """Land-sea mask and orography height (m), float64 `[lat, lon]`."""
    phi, lam = np.deg2rad(lat)[:, None], np.deg2rad(lon)[None, :]
    xyz = _xyz(phi, lam)  # [lat, lon, 3]
    coast = np.cos(xyz @ world.coast_k.T + world.coast_phase).mean(-1)
    distance = np.arccos(np.clip(xyz @ world.continent_xyz.T, -1.0, 1.0))  # [lat, lon, C]
    score = (1.0 - distance / world.continent_radius).max(-1) + 0.6 * coast
    antarctic = 1.0 - (phi + np.pi / 2) / np.deg2rad(22.0)
    score = np.maximum(score, np.broadcast_to(antarctic, score.shape))
    land = np.clip(0.5 + score / 0.08, 0.0, 1.0)
    # Mountains rise inland along ridges; Antarctica is a high plateau.
    ridge = np.maximum(np.cos(xyz @ world.ridge_k.T + world.ridge_phase).mean(-1), 0.0)
    inland = np.clip(score / 0.3, 0.0, 1.0)
    height = inland * (200.0 + 2800.0 * (2.0 * ridge) ** 2)
    plateau = 2800.0 * np.clip(antarctic / 0.5, 0.0, 1.0)
    height = np.minimum(np.maximum(height, plateau), 5500.0) * (land > 0.0)
    return land, height


def synthetic_static(lat: np.ndarray, lon: np.ndarray, seed: int = 0) -> xr.Dataset:
    """The world's static fields on a grid.

    Args:
        lat: latitudes in degrees, ascending.
        lon: longitudes in degrees.
        seed: the world's seed.

    Returns:
        Dataset with float32 `geopotential_at_surface` (m² s⁻²) and `land_sea_mask` (0–1),
        dims `(lat, lon)`.
    """
    lat, lon = _check_axes(lat, lon)
    land, height = _static_arrays(_world(seed), lat, lon)
    coords = {"lat": lat.astype(np.float32), "lon": lon.astype(np.float32)}
    return xr.Dataset(
        {
            "geopotential_at_surface": (("lat", "lon"), (GRAVITY * height).astype(np.float32)),
            "land_sea_mask": (("lat", "lon"), land.astype(np.float32)),
        },
        coords=coords,
    )


# --------------------------------------------------------------------------- dynamic fields


@dataclass
class _Context:
    """Everything about one instant that every pressure level shares (float64 arrays)."""

    phi: np.ndarray  # [lat, 1] rad
    season: float  # γ
    itcz: float  # φ_I (rad)
    t0: np.ndarray  # [lat, 1] sea-level temperature T₀
    kappa: np.ndarray  # [lat, 1]
    p_trop: np.ndarray  # [lat, 1] hPa
    mslp: np.ndarray  # [lat, lon] Pa
    wave: np.ndarray  # [lat, lon] A (m² s⁻²)
    ug: np.ndarray  # [lat, lon] geostrophic u of A (per unit F)
    vg: np.ndarray  # [lat, lon] geostrophic v of A (per unit F)
    tropical: np.ndarray  # [lat, lon] convective modulation factor
    diurnal: np.ndarray  # [lat, lon] 2 m diurnal anomaly (K)
    land: np.ndarray  # [lat, lon]


def _seconds(times: np.ndarray) -> np.ndarray:
    """Seconds since 2000-01-01 as float64."""
    return (times.astype("datetime64[ns]") - _EPOCH).astype(np.int64) / 1e9


def _wave_structure(p: float) -> tuple[float, float]:
    """Vertical structure F(p) of Φ' and its derivative dF/d ln p."""
    if p >= 250.0:
        return 0.25 + 0.75 * np.log(1000.0 / p) / np.log(4.0), -0.75 / np.log(4.0)
    return (p / 250.0) ** 0.6, 0.6 * (p / 250.0) ** 0.6


def _omega_shape(p: float) -> float:
    """Vertical shape of large-scale vertical motion: small in the stratosphere, peak ~540 hPa."""
    return float(np.sin(np.pi * np.clip((p - 30.0) / 1020.0, 0.0, 1.0)))


def _waves(world: _World, phi: np.ndarray, lam: np.ndarray, seconds: float) -> tuple:
    """A and its derivatives ∂A/∂λ, ∂A/∂φ on the grid (separable sums over components)."""
    w = world.waves
    amp = w.amp * (1.0 + 0.25 * np.sin(2 * np.pi * seconds / w.mod_period + w.mod_phase))
    d = phi - w.lat0  # [lat, K]
    envelope = np.exp(-((d / w.width) ** 2))
    cos2 = np.cos(phi) ** 2
    g = envelope * cos2 * amp
    dg = amp * envelope * (-2.0 * d / w.width**2 * cos2 - 2.0 * np.cos(phi) * np.sin(phi))
    alpha = w.tilt * d - w.omega * seconds + w.phase  # [lat, K]
    mlam = lam[0][:, None] * w.m  # [lon, K]
    cm, sm = np.cos(mlam), np.sin(mlam)
    ca, sa = np.cos(alpha), np.sin(alpha)

    # cos(mλ + α) = cos mλ cos α − sin mλ sin α: sums of outer products, never a
    # [lat, lon, K] array. einsum, not `@`: threaded BLAS thrashes on a shared machine.
    def outer(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.einsum("ak,bk->ab", a, b)

    wave = outer(g * ca, cm) - outer(g * sa, sm)
    dlam = -outer(g * ca, sm * w.m) - outer(g * sa, cm * w.m)
    dphi = outer(dg * ca - g * w.tilt * sa, cm) - outer(dg * sa + g * w.tilt * ca, sm)
    return wave, dlam, dphi


def _context(
    world: _World, lat: np.ndarray, lon: np.ndarray, seconds: float, land: np.ndarray
) -> _Context:
    """The shared state of the world at one instant."""
    phi = np.deg2rad(lat)[:, None]
    lam = np.deg2rad(lon)[None, :]
    days = seconds / SECONDS_PER_DAY
    season = 2 * np.pi * (days - 79.5) / DAYS_PER_YEAR
    declination = np.deg2rad(23.44) * np.sin(season)
    itcz = 0.3 * declination
    sin_phi = np.sin(phi)
    winter = 1.0 - 0.3 * np.sign(sin_phi) * np.sin(season)  # stronger waves in winter

    t0 = 301.0 - 45.0 * sin_phi**2 + 13.0 * sin_phi * np.sin(season)
    kappa = 0.19 - 0.05 * sin_phi**2
    p_trop = 100.0 + 150.0 * sin_phi**2

    wave, dlam, dphi = _waves(world, phi, lam, seconds)
    wave, dlam, dphi = wave * winter, dlam * winter, dphi * winter
    coriolis = 2 * OMEGA * np.where(sin_phi >= 0, 1.0, -1.0) * np.maximum(np.abs(sin_phi), 0.17)
    ug = -dphi / (coriolis * EARTH_RADIUS)
    vg = dlam / (coriolis * EARTH_RADIUS * np.maximum(np.cos(phi), 1e-6))

    lat_deg = np.rad2deg(phi)
    mslp = (
        101325.0
        + 1200.0 * np.exp(-(((np.abs(lat_deg) - 32.0) / 10.0) ** 2))
        - 1800.0 * np.exp(-(((np.abs(lat_deg) - 62.0) / 10.0) ** 2))
        - 400.0 * np.exp(-(((lat_deg - np.rad2deg(itcz)) / 10.0) ** 2))
        + RHO_AIR * _wave_structure(1000.0)[0] * wave
    )
    # Convective clusters drift westward through the tropics (m = 12 at ~5 m s⁻¹).
    tropical_speed = -5.0 / EARTH_RADIUS
    tropical = 1.0 + 0.5 * np.cos(
        12.0 * lam - 12.0 * tropical_speed * seconds + world.tropical_phase
    )
    solar_day = np.mod(seconds / SECONDS_PER_DAY + lam / (2 * np.pi), 1.0)
    amplitude = (0.5 + 4.5 * land) * np.maximum(np.cos(phi), 0.2)
    diurnal = amplitude * np.cos(2 * np.pi * (solar_day - 0.625))
    return _Context(
        phi=phi, season=season, itcz=itcz, t0=t0, kappa=kappa, p_trop=p_trop, mslp=mslp,
        wave=wave, ug=ug, vg=vg, tropical=tropical, diurnal=diurnal, land=land,
    )  # fmt: skip


def _temperature_clim(ctx: _Context, p: float) -> np.ndarray:
    """Zonal-mean temperature at pressure `p` (hPa), `[lat, 1]`."""
    t_trop = ctx.t0 * (ctx.p_trop / 1000.0) ** ctx.kappa
    below = ctx.t0 * (p / 1000.0) ** ctx.kappa
    above = t_trop + 6.0 * np.log(ctx.p_trop / p)
    return np.where(p >= ctx.p_trop, below, above)


def _thickness_clim(ctx: _Context, p: float) -> np.ndarray:
    """Φ(p) − Φ(1000 hPa) of the zonal-mean profile: the exact hydrostatic integral."""
    tropo_p = np.maximum(p, ctx.p_trop)
    lower = R_DRY * ctx.t0 / ctx.kappa * (1.0 - (tropo_p / 1000.0) ** ctx.kappa)
    t_trop = ctx.t0 * (ctx.p_trop / 1000.0) ** ctx.kappa
    log_ratio = np.log(ctx.p_trop / p)
    upper = R_DRY * (t_trop * log_ratio + 3.0 * log_ratio**2)
    return np.where(p >= ctx.p_trop, lower, lower + upper)


def _zonal_wind_clim(ctx: _Context, p: float) -> np.ndarray:
    """Climatological zonal wind (m s⁻¹) at `p`, `[lat, 1]`."""
    lat = np.rad2deg(ctx.phi)
    winter = 1.0 - 0.25 * np.sign(lat) * np.sin(ctx.season)
    jet_profile = np.exp(-((np.log(p / 220.0)) ** 2) / (2 * 0.55**2))
    jet = (40.0 * jet_profile + 6.0) * np.exp(-(((np.abs(lat) - 40.0) / 13.0) ** 2)) * winter
    trades = -7.0 * np.exp(-((lat / 18.0) ** 2)) * (p / 1000.0) ** 2
    upper_easterly = -6.0 * np.exp(-((lat / 15.0) ** 2)) * np.exp(-((np.log(p / 120.0)) ** 2))
    return jet + trades + upper_easterly


def _meridional_wind_clim(ctx: _Context, p: float) -> np.ndarray:
    """Hadley-cell meridional wind: towards the ITCZ below 700 hPa, away aloft, `[lat, 1]`."""
    rel = np.rad2deg(ctx.phi - ctx.itcz)
    cell = -np.sin(np.deg2rad(rel) * 6.0) * np.exp(-((rel / 25.0) ** 2)) * 1.5
    return cell * (np.clip((p - 700.0) / 300.0, 0.0, 1.0) - 0.6 * _omega_shape(p) * (p < 500.0))


def _omega(ctx: _Context, p: float) -> np.ndarray:
    """Vertical velocity ω (Pa s⁻¹) at `p`: Hadley circulation plus synoptic ascent."""
    rel = np.rad2deg(ctx.phi - ctx.itcz)
    hadley = -0.08 * np.exp(-((rel / 8.0) ** 2)) * ctx.tropical + 0.03 * (
        np.exp(-(((rel - 22.0) / 10.0) ** 2)) + np.exp(-(((rel + 22.0) / 10.0) ** 2))
    )
    synoptic = -0.012 * np.sign(ctx.phi) * ctx.vg * _wave_structure(500.0)[0]
    return (hadley + synoptic) * _omega_shape(p)


def _saturation_specific_humidity(temperature: np.ndarray, p: float) -> np.ndarray:
    """q_sat (kg kg⁻¹) over water (Bolton 1980) at `p` hPa."""
    e_sat = 611.2 * np.exp(17.67 * (temperature - 273.15) / (temperature - 29.65))
    e_sat = np.minimum(e_sat, 0.5 * p * 100.0)  # keeps q_sat finite in hot, low-pressure air
    return 0.622 * e_sat / (p * 100.0 - 0.378 * e_sat)


def _relative_humidity(ctx: _Context, p: float, omega: np.ndarray) -> np.ndarray:
    """RH in [0.02, 1]: moist tropics and storm tracks, dry subtropics, ascent moistens."""
    lat = np.rad2deg(ctx.phi)
    rel = np.rad2deg(ctx.phi - ctx.itcz)
    base = (
        0.55
        + 0.25 * np.exp(-((rel / 15.0) ** 2))
        + 0.15 * np.exp(-(((np.abs(lat) - 60.0) / 15.0) ** 2))
        - 0.15 * np.exp(-(((np.abs(lat) - 25.0) / 8.0) ** 2))
    )
    height = np.clip((p - ctx.p_trop) / (1000.0 - ctx.p_trop), 0.0, 1.0)
    profile = np.where(p >= ctx.p_trop, 0.35 + 0.65 * height**0.7, 0.02)
    return np.clip(base * profile - 1.5 * omega, 0.02, 1.0)


def _level(ctx: _Context, p: float, wanted: set[str]) -> dict[str, np.ndarray]:
    """Atmospheric variables at one pressure level (float64 `[lat, lon]`)."""
    out: dict[str, np.ndarray] = {}
    structure, dstructure = _wave_structure(p)
    need_t = bool(wanted & {"temperature", "specific_humidity"})
    if need_t:
        low_level = np.clip((p - 850.0) / 150.0, 0.0, 1.0)
        temperature = (
            _temperature_clim(ctx, p)
            - ctx.wave * dstructure / R_DRY
            + 0.5 * low_level * ctx.land * ctx.diurnal
        )
        out["temperature"] = temperature
    if "geopotential" in wanted:
        base = R_DRY * ctx.t0 * np.log(ctx.mslp / 1e5)
        wave_thickness = ctx.wave * (structure - _wave_structure(1000.0)[0])
        out["geopotential"] = base + _thickness_clim(ctx, p) + wave_thickness
    if "u_component_of_wind" in wanted:
        out["u_component_of_wind"] = _zonal_wind_clim(ctx, p) + structure * ctx.ug
    if "v_component_of_wind" in wanted:
        out["v_component_of_wind"] = _meridional_wind_clim(ctx, p) + structure * ctx.vg
    need_omega = bool(wanted & {"vertical_velocity", "specific_humidity"})
    if need_omega:
        omega = _omega(ctx, p)
        out["vertical_velocity"] = omega
    if "specific_humidity" in wanted:
        rh = _relative_humidity(ctx, p, omega)
        q_sat = _saturation_specific_humidity(temperature, p)
        # The stratosphere is dry (~4 mg/kg), whatever its saturation value.
        dry = 4e-6 * (1.0 + 0.15 * np.cos(2 * ctx.phi) + 0.05 * ctx.wave / 1000.0)
        q = np.where(p >= ctx.p_trop, rh * q_sat, np.minimum(0.5 * q_sat, dry))
        out["specific_humidity"] = q
    return out


def _surface(ctx: _Context, height: np.ndarray, wanted: set[str]) -> dict[str, np.ndarray]:
    """Surface variables except precipitation (float64 `[lat, lon]`)."""
    out: dict[str, np.ndarray] = {}
    structure, dstructure = _wave_structure(1000.0)
    if "2m_temperature" in wanted:
        seasonal_land = 8.0 * ctx.land * np.sin(ctx.phi) * np.sin(ctx.season)
        out["2m_temperature"] = (
            ctx.t0
            + seasonal_land
            # Synoptic anomalies are amplified near the ground (warm/cold advection over a
            # shallow boundary layer): ~2× the 1000 hPa anomaly, ~4 K.
            - 2.0 * ctx.wave * dstructure / R_DRY
            - 0.0065 * height
            + ctx.diurnal
        )
    if "mean_sea_level_pressure" in wanted:
        out["mean_sea_level_pressure"] = ctx.mslp
    if wanted & {"10m_u_component_of_wind", "10m_v_component_of_wind"}:
        u = 0.75 * (_zonal_wind_clim(ctx, 1000.0) + structure * ctx.ug)
        v = 0.75 * (_meridional_wind_clim(ctx, 1000.0) + structure * ctx.vg)
        # Friction turns the wind towards low pressure: to the left in the north.
        turn = np.deg2rad(20.0) * np.where(ctx.phi >= 0, 1.0, -1.0)
        slow = 1.0 - 0.4 * ctx.land
        out["10m_u_component_of_wind"] = slow * (u * np.cos(turn) - v * np.sin(turn))
        out["10m_v_component_of_wind"] = slow * (u * np.sin(turn) + v * np.cos(turn))
    return out


def _precipitation_rate(world: _World, lat, lon, seconds: float, land) -> np.ndarray:
    """Instantaneous precipitation rate (m s⁻¹): moist ascent rains out."""
    ctx = _context(world, lat, lon, seconds, land)
    low = _level(ctx, 850.0, {"specific_humidity"})
    rh = _relative_humidity(ctx, 850.0, low["vertical_velocity"])
    ascent = np.maximum(-_omega(ctx, 500.0), 0.0)
    efficiency = np.clip((rh - 0.5) / 0.4, 0.0, 1.0)
    # ×3: the resolved ascent is weaker than real convective updrafts.
    return 3.0 * ascent * low["specific_humidity"] * efficiency / (GRAVITY * RHO_WATER)


def _hourly_precipitation(world: _World, lat, lon, end: float, land) -> np.ndarray:
    """Accumulation (m) over the hour ending at `end`: two-point midpoint rule."""
    rates = [_precipitation_rate(world, lat, lon, end - s, land) for s in (2700.0, 900.0)]
    return 0.5 * (rates[0] + rates[1]) * 3600.0


# --------------------------------------------------------------------------- public API


def _check_axes(lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validated float64 1-D lat (ascending, within ±90) and lon (wrapped to [0, 360))."""
    lat = np.asarray(lat, dtype=np.float64)
    lon = np.asarray(lon, dtype=np.float64)
    if lat.ndim != 1 or lat.size == 0 or lon.ndim != 1 or lon.size == 0:
        raise InvalidInputError("synthetic grid: lat and lon must be non-empty 1-D arrays")
    if not (np.all(np.isfinite(lat)) and np.all(np.isfinite(lon))):
        raise InvalidInputError("synthetic grid: lat/lon contain NaN or infinity")
    if np.any(np.abs(lat) > 90.0):
        raise InvalidInputError("synthetic grid: latitudes must lie within [-90, 90]")
    if np.any(np.diff(lat) <= 0):
        raise InvalidInputError("synthetic grid: latitudes must be strictly ascending")
    return lat, np.mod(lon, 360.0)


def global_grid(grid_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """Latitudes −90…90 (inclusive) and longitudes 0…360−Δ at spacing `grid_deg`.

    Raises:
        InvalidInputError: if `grid_deg` does not divide 180 evenly.
    """
    n = 180.0 / grid_deg if grid_deg > 0 else np.nan
    if not np.isfinite(n) or abs(n - round(n)) > 1e-6:
        raise InvalidInputError(f"synthetic grid: {grid_deg}° does not divide 180° evenly")
    n = round(n)
    return np.linspace(-90.0, 90.0, n + 1), np.arange(2 * n) * (360.0 / (2 * n))


def _as_times(times: object) -> np.ndarray:
    """Valid times as a 1-D datetime64[ns] array (UTC)."""
    try:
        index = pd.DatetimeIndex(pd.to_datetime(np.atleast_1d(np.asarray(times))))
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"synthetic world: cannot read times {times!r}: {exc}") from exc
    if index.tz is not None:
        index = index.tz_convert("UTC").tz_localize(None)
    if index.size == 0:
        raise InvalidInputError("synthetic world: no times requested")
    return index.to_numpy().astype("datetime64[ns]")


def _resolve_variables(variables: Iterable[str] | None, precip_name: str) -> list[str]:
    """The requested variable names in canonical order, or a clear error."""
    known = [precip_name if v == PRECIP_6H else v for v in ALL_VARIABLES]
    if variables is None:
        return known
    variables = list(variables)
    unknown = sorted(set(variables) - set(known))
    if unknown:
        raise InvalidInputError(f"synthetic world: unknown variable(s) {unknown}; known: {known}")
    return [v for v in known if v in variables]


def synthetic_era5(
    times: object,
    *,
    grid_deg: float = 1.0,
    levels: Sequence[int] = PRESSURE_LEVELS_13,
    seed: int = 0,
    lat: np.ndarray | None = None,
    lon: np.ndarray | None = None,
    variables: Sequence[str] | None = None,
    precipitation_hours: int = 6,
) -> xr.Dataset:
    """The synthetic world at `times`, in the model ("archive") layout of docs/design.md.

    Args:
        times: valid times (anything `pandas.to_datetime` reads; UTC).
        grid_deg: spacing of the global grid used when `lat`/`lon` are not given.
        levels: pressure levels in hPa, in the order wanted along `level`.
        seed: the world's seed (statics, wave phases and speeds).
        lat: latitudes in degrees (ascending), e.g. a regional grid; default global.
        lon: longitudes in degrees; wrapped into [0, 360).
        variables: subset of variable names; default every GraphCast variable and static field.
        precipitation_hours: 6 gives `total_precipitation_6hr` (the 6 h ending at each time);
            1 gives the hourly accumulation `total_precipitation`.

    Returns:
        float32 dataset, dims `time`, `level`, `lat`, `lon`; attrs `source="synthetic"`,
        `synthetic=1`, `synthetic_seed`.

    Raises:
        InvalidInputError: on bad times, grid, levels, variables or precipitation period.
    """
    if precipitation_hours not in (1, 6):
        raise InvalidInputError(
            f"synthetic world: precipitation_hours must be 1 or 6, got {precipitation_hours}"
        )
    precip_name = PRECIP_6H if precipitation_hours == 6 else PRECIP_1H
    names = _resolve_variables(variables, precip_name)
    times = _as_times(times)
    if lat is None and lon is None:
        lat, lon = global_grid(grid_deg)
    elif lat is None or lon is None:
        raise InvalidInputError("synthetic world: give both lat and lon, or neither")
    lat, lon = _check_axes(lat, lon)
    levels_arr = np.asarray(list(levels), dtype=np.int32)
    if levels_arr.ndim != 1 or np.any(levels_arr <= 0) or np.any(levels_arr > 1100):
        raise InvalidInputError(f"synthetic world: invalid pressure levels {list(levels)}")
    if len(set(levels_arr.tolist())) != levels_arr.size:
        raise InvalidInputError(f"synthetic world: repeated pressure levels {list(levels)}")

    world = _world(int(seed))
    land, height = _static_arrays(world, lat, lon)
    shape2 = (times.size, lat.size, lon.size)
    atmos = [n for n in names if n in TARGET_ATMOSPHERIC_VARS]
    surface = [n for n in names if n in SURFACE_VARS]
    data = {
        n: np.empty((times.size, levels_arr.size, lat.size, lon.size), np.float32) for n in atmos
    }
    data |= {n: np.empty(shape2, np.float32) for n in surface}
    if precip_name in names:
        data[precip_name] = np.empty(shape2, np.float32)

    for i, seconds in enumerate(_seconds(times)):
        ctx = _context(world, lat, lon, float(seconds), land)
        for name, values in _surface(ctx, height, set(surface)).items():
            data[name][i] = np.broadcast_to(values, shape2[1:])
        for j, p in enumerate(levels_arr):
            for name, values in _level(ctx, float(p), set(atmos)).items():
                if name in atmos:
                    data[name][i, j] = np.broadcast_to(values, shape2[1:])
        if precip_name in names:
            # Hourly accumulations in float64, summed before rounding: 6 × 1 h == 6 h exactly.
            hours = [
                _hourly_precipitation(world, lat, lon, float(seconds) - 3600.0 * k, land)
                for k in range(precipitation_hours)
            ]
            data[precip_name][i] = np.sum(hours, axis=0)

    coords = {
        "time": times,
        "level": levels_arr,
        "lat": lat.astype(np.float32),
        "lon": lon.astype(np.float32),
    }
    variables_out: dict[str, tuple] = {}
    for name in names:
        if name in atmos:
            variables_out[name] = (("time", "level", "lat", "lon"), data[name])
        elif name in data:
            variables_out[name] = (("time", "lat", "lon"), data[name])
    if TISR in names:
        # Imported here: the solar model pulls in JAX, which the rest of the world does not need.
        from forecast.model.solar_radiation import toa_incident_solar_radiation

        variables_out[TISR] = (
            ("time", "lat", "lon"),
            toa_incident_solar_radiation(times, lat, lon),
        )
    if "geopotential_at_surface" in names:
        variables_out["geopotential_at_surface"] = (
            ("lat", "lon"),
            (GRAVITY * height).astype(np.float32),
        )
    if "land_sea_mask" in names:
        variables_out["land_sea_mask"] = (("lat", "lon"), land.astype(np.float32))

    ds = xr.Dataset({n: variables_out[n] for n in names}, coords=coords)
    if not atmos:
        ds = ds.drop_vars("level")
    for name in ds.data_vars:
        ds[name].attrs["units"] = UNITS.get(name, "m" if name == PRECIP_1H else "")
    ds.attrs.update(source="synthetic", synthetic=1, synthetic_seed=int(seed))
    return ds


def write_synthetic_archive(
    path: str | os.PathLike,
    times: object,
    *,
    chunk_times: int = 16,
    compress: bool = True,
    progress: Callable[[int, int], None] | None = None,
    **world: Any,
) -> Path:
    """Write the synthetic world at `times` to a NetCDF archive, a few frames at a time.

    Memory stays bounded by `chunk_times` frames: the first chunk creates the file with an
    unlimited `time` axis, later chunks are appended. Each variable is stored in one-frame
    chunks so training can read random windows lazily. The file appears atomically.

    Args:
        path: NetCDF file to write.
        times: valid times.
        chunk_times: frames generated and written per step.
        compress: zlib level 1 (synthetic fields compress ~2×; reading stays fast).
        progress: called as `progress(done, total)` after each chunk.
        **world: keyword arguments of `synthetic_era5` (grid_deg, levels, seed, lat, lon, ...).

    Returns:
        The path written.

    Raises:
        InvalidInputError: as `synthetic_era5`.
    """
    import netCDF4

    path = Path(path)
    times = _as_times(times)
    tmp = path.with_name(f".{path.name}.partial")
    for start in range(0, times.size, chunk_times):
        chunk = synthetic_era5(times[start : start + chunk_times], **world)
        if start == 0:
            encoding: dict[str, dict] = {
                "time": {"units": "hours since 1970-01-01 00:00:00", "dtype": "int64"}
            }
            for name, var in chunk.data_vars.items():
                sizes = tuple(1 if d == "time" else chunk.sizes[d] for d in var.dims)
                encoding[name] = {"zlib": compress, "complevel": 1, "chunksizes": sizes}
            tmp.parent.mkdir(parents=True, exist_ok=True)
            chunk.to_netcdf(tmp, engine="netcdf4", unlimited_dims=["time"], encoding=encoding)
        else:
            with netCDF4.Dataset(tmp, "a") as nc:
                n0 = len(nc.dimensions["time"])
                n1 = n0 + chunk.sizes["time"]
                hours = (
                    chunk["time"].values - np.datetime64("1970-01-01", "ns")
                ) // np.timedelta64(1, "h")
                nc["time"][n0:n1] = hours.astype(np.int64)
                for name, var in chunk.data_vars.items():
                    if "time" in var.dims:
                        nc[name][n0:n1] = var.values
        if progress is not None:
            progress(min(start + chunk_times, times.size), times.size)
    os.replace(tmp, path)
    return path
