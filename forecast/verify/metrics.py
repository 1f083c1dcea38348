"""Deterministic scores with WeatherBench2's exact definitions, and the additive sums behind them.

Notation, for one init time, one valid time and one field (variable, level): forecast f, truth
(analysis) a, climatology c at the valid time's day of year and hour, error e = f − a,
anomalies f' = f − c and a' = a − c, and area weights w (`forecast.verify.weights`) already
multiplied by the region mask (`forecast.verify.regions`). A weighted spatial mean is
⟨x⟩ = Σ w·x / Σ w over latitude and longitude.

Each score is a dataclass with:

* `compute_chunk(forecast, truth, region=None)` — the per-init value (any extra dims such as
  `time`/`lead_time`/`level` are kept; only `lat`/`lon` are reduced);
* `from_sums(sums)` — the same per-init value from the ADDITIVE SUMS below, which is what the
  service stores;
* `compute(forecast, truth, region=None, dim="init_time")` — the aggregate over init times:
  `finalize(mean over init times of compute_chunk)`. `finalize` is the identity except for
  RMSE, whose root is taken AFTER averaging MSE over init times (WeatherBench2's headline RMSE:
  `MSE` then `sqrt`, not `RMSESqrtBeforeTimeAvg`). ACC is the mean over init times of the
  per-init ACC, as WeatherBench2's `ACC.compute` does.

The additive sums (per init, lead, field, region) are

    sum_w = Σw,  sum_e = Σw·e,  sum_e2 = Σw·e²,  sum_abs_e = Σw·|e|,
    sum_fa = Σw·f'a',  sum_ff = Σw·f'²,  sum_aa = Σw·a'²,

and for a wind vector (u, v) pair, stored as its own field, sum_e2 = Σw·(e_u² + e_v²).

NaN policy: as WeatherBench2's default `skipna=False`, a NaN anywhere in a field makes that
field's score NaN. Reference: Rasp et al. 2024, "WeatherBench 2", JAMES, and
google-research/weatherbench2 `metrics.py`.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import xarray as xr

from forecast.errors import InvalidInputError
from forecast.verify.regions import GlobalRegion, Region
from forecast.verify.weights import area_weights

SUM_NAMES = ("sum_w", "sum_e", "sum_e2", "sum_abs_e", "sum_fa", "sum_ff", "sum_aa")


def region_weights(lat: xr.DataArray, lon: xr.DataArray, region: Region | None) -> xr.DataArray:
    """Area weights (mean 1 over latitudes) times the region's mask, as a (lat, lon) DataArray."""
    region = region or GlobalRegion()
    w = region.apply(area_weights(np.asarray(lat)), np.asarray(lat), np.asarray(lon))
    return xr.DataArray(w, dims=("lat", "lon"), coords={"lat": lat, "lon": lon})


def spatial_mean(x: xr.Dataset | xr.DataArray, region: Region | None = None):
    """⟨x⟩ = Σ w·x / Σ w over `lat` and `lon` (NaNs propagate)."""
    w = region_weights(x["lat"], x["lon"], region)
    return (x * w).sum(("lat", "lon"), skipna=False) / w.sum()


def _check_same_grid(forecast: xr.Dataset, truth: xr.Dataset) -> None:
    for dim in ("lat", "lon"):
        if forecast.sizes.get(dim) != truth.sizes.get(dim) or not np.allclose(
            forecast[dim].values, truth[dim].values, atol=1e-4
        ):
            raise InvalidInputError(f"forecast and truth are on different grids ({dim} differs)")


@dataclasses.dataclass(frozen=True)
class Metric:
    """Base class: a per-init score, its form from additive sums, and its init-time aggregate."""

    def compute_chunk(
        self, forecast: xr.Dataset, truth: xr.Dataset, region: Region | None = None
    ) -> xr.Dataset:
        """The per-init value; reduces `lat`/`lon` only."""
        raise NotImplementedError

    def from_sums(self, sums: xr.Dataset) -> xr.DataArray:
        """The per-init value from a dataset of additive sums (`SUM_NAMES`)."""
        raise NotImplementedError

    def finalize(self, mean: xr.DataArray | xr.Dataset):
        """Turns the init-time mean of per-init values into the score (identity by default)."""
        return mean

    def aggregate(self, per_init, dim: str = "init_time"):
        """`finalize(mean over dim)` of per-init values (NaNs propagate)."""
        return self.finalize(per_init.mean(dim, skipna=False))

    def compute(
        self,
        forecast: xr.Dataset,
        truth: xr.Dataset,
        region: Region | None = None,
        dim: str = "init_time",
    ) -> xr.Dataset:
        """The score aggregated over `dim` (init times)."""
        return self.aggregate(self.compute_chunk(forecast, truth, region), dim)


@dataclasses.dataclass(frozen=True)
class MSE(Metric):
    """Mean squared error: MSE = ⟨(f − a)²⟩ = sum_e2 / sum_w per init; mean over inits."""

    def compute_chunk(self, forecast, truth, region=None):
        _check_same_grid(forecast, truth)
        return spatial_mean((forecast - truth) ** 2, region)

    def from_sums(self, sums):
        return sums["sum_e2"] / sums["sum_w"]


@dataclasses.dataclass(frozen=True)
class RMSE(MSE):
    """Root mean squared error, root AFTER averaging: RMSE = sqrt(mean_inits ⟨(f − a)²⟩).

    `compute_chunk`/`from_sums` therefore return the per-init MSE (the averageable part);
    for a single init, `finalize` of it is that init's RMSE.
    """

    def finalize(self, mean):
        return np.sqrt(mean)


@dataclasses.dataclass(frozen=True)
class Bias(Metric):
    """Mean error: bias = ⟨f − a⟩ = sum_e / sum_w per init; mean over inits."""

    def compute_chunk(self, forecast, truth, region=None):
        _check_same_grid(forecast, truth)
        return spatial_mean(forecast - truth, region)

    def from_sums(self, sums):
        return sums["sum_e"] / sums["sum_w"]


@dataclasses.dataclass(frozen=True)
class MAE(Metric):
    """Mean absolute error: MAE = ⟨|f − a|⟩ = sum_abs_e / sum_w per init; mean over inits."""

    def compute_chunk(self, forecast, truth, region=None):
        _check_same_grid(forecast, truth)
        return spatial_mean(abs(forecast - truth), region)

    def from_sums(self, sums):
        return sums["sum_abs_e"] / sums["sum_w"]


@dataclasses.dataclass(frozen=True)
class WindVectorMSE(Metric):
    """Wind-vector MSE: ⟨(u_f − u_a)² + (v_f − v_a)²⟩ per init; mean over inits.

    `from_sums` reads the wind-vector field's `sum_e2` = Σw·(e_u² + e_v²).

    Attributes:
      u_name, v_name: the component variables.
      vector_name: name of the result variable.
    """

    u_name: str = "10m_u_component_of_wind"
    v_name: str = "10m_v_component_of_wind"
    vector_name: str = "10m_wind_vector"

    def compute_chunk(self, forecast, truth, region=None):
        _check_same_grid(forecast, truth)
        eu = forecast[self.u_name] - truth[self.u_name]
        ev = forecast[self.v_name] - truth[self.v_name]
        return xr.Dataset({self.vector_name: spatial_mean(eu**2 + ev**2, region)})

    def from_sums(self, sums):
        return sums["sum_e2"] / sums["sum_w"]


@dataclasses.dataclass(frozen=True)
class WindVectorRMSE(WindVectorMSE):
    """Wind-vector RMSE = sqrt(mean_inits ⟨e_u² + e_v²⟩) (root after averaging, as `RMSE`)."""

    def finalize(self, mean):
        return np.sqrt(mean)


@dataclasses.dataclass(frozen=True)
class ACC(Metric):
    """Uncentred anomaly correlation coefficient against a climatology (WeatherBench2's ACC).

    Per init: ACC = ⟨f'·a'⟩ / sqrt(⟨f'²⟩·⟨a'²⟩) = sum_fa / sqrt(sum_ff·sum_aa), with
    f' = f − c and a' = a − c, c the climatology at each valid time's day of year and hour
    (`forecast.verify.climatology.climatology_at`). Aggregate: the MEAN of the per-init ACC
    over init times (not a pooled correlation). A forecast equal to the climatology has
    f' = 0 and an undefined (NaN) ACC.

    Attributes:
      climatology: dataset with dims (dayofyear, [hour,] [level,] lat, lon).
    """

    climatology: xr.Dataset | None = None

    def compute_chunk(self, forecast, truth, region=None):
        from forecast.verify.climatology import climatology_at

        if self.climatology is None:
            raise InvalidInputError("ACC needs a climatology")
        _check_same_grid(forecast, truth)
        clim = climatology_at(self.climatology, _valid_time(forecast), list(forecast.data_vars))
        if "level" in forecast.dims:
            clim = clim.sel(level=forecast["level"])
        fa = forecast - clim
        aa = truth - clim
        return spatial_mean(fa * aa, region) / np.sqrt(
            spatial_mean(fa**2, region) * spatial_mean(aa**2, region)
        )

    def from_sums(self, sums):
        return sums["sum_fa"] / np.sqrt(sums["sum_ff"] * sums["sum_aa"])


def _valid_time(ds: xr.Dataset) -> xr.DataArray:
    for name in ("valid_time", "time"):
        if name in ds.coords and np.issubdtype(ds[name].dtype, np.datetime64):
            return ds[name]
    raise InvalidInputError("dataset has no datetime 'valid_time' or 'time' coordinate")


# The scores the service reports, by name (wind vectors are separate fields with mse/rmse only).
METRICS: dict[str, Metric] = {
    "mse": MSE(),
    "rmse": RMSE(),
    "bias": Bias(),
    "mae": MAE(),
    "acc": ACC(),
}
