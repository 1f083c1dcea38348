"""Scoring a forecast run: additive sums for the model and the baselines in one pass, and scores.

`score_run` reads one lead at a time, stacks every (variable, level) field into one array and
reduces over longitude with one matrix product per quantity against the regions' longitude
masks, then over latitude with the regions' area weights — no xarray groupby, memory bounded by
one lead. It returns the additive sums of `forecast.verify.metrics` per

    (predictor, field, lead_time, region),   predictor ∈ {"model", "persistence", "climatology"},

from which `scores_from_sums` gives every score of that run, and `window_totals` /
`merge_totals` / `scores_from_totals` give the exact scores of any window of runs (init times):
the totals hold, per score, the sum over inits of the per-init value and the count, so windows
merge by addition, and the result equals `Metric.compute` on all the fields at once.

Baselines: persistence is the truth at the init time repeated at every lead; climatology is the
climatology at each valid time (its ACC is undefined: NaN). Wind vectors (`WIND_VECTORS`) are
extra fields whose `sum_e2` is Σw·(e_u² + e_v²) — the sum of the components' `sum_e2`.

Precision: fields are differenced and reduced over longitude in their own dtype (float32 for
the service's files: relative error of a score ~1e-6, measured in the tests; float64 inputs
are scored in float64), the latitude reduction and everything after it in float64.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import xarray as xr

from forecast.errors import InvalidInputError
from forecast.verify import metrics
from forecast.verify.climatology import climatology_index
from forecast.verify.metrics import SUM_NAMES
from forecast.verify.regions import REGIONS, Region
from forecast.verify.weights import area_weights

logger = logging.getLogger(__name__)

PREDICTORS = ("model", "persistence", "climatology")
SURFACE_LEVEL = 0  # the `level` coordinate of surface fields
WIND_VECTORS = (
    ("10m_u_component_of_wind", "10m_v_component_of_wind", "10m_wind_vector"),
    ("u_component_of_wind", "v_component_of_wind", "wind_vector"),
)
# Scores reported per field; wind vectors only have the squared-error ones.
SCORES = ("mse", "rmse", "bias", "mae", "acc")


def _fields(forecast: xr.Dataset, names: Sequence[str]) -> list[tuple[str, int]]:
    fields = []
    for name in names:
        if "level" in forecast[name].dims:
            fields += [(name, int(level)) for level in forecast["level"].values]
        else:
            fields.append((name, SURFACE_LEVEL))
    return fields


class _LazyFrames:
    """Indexes the leading dims of a DataArray: a view when in memory, one slice read from a file."""

    def __init__(self, array: xr.DataArray) -> None:
        self._variable = array.variable

    def __getitem__(self, key) -> np.ndarray:
        return np.asarray(self._variable[key].values)


def _frames(
    ds: xr.Dataset, names: Sequence[str], level_sel: dict, dims: tuple[str, ...] = ("time",)
) -> dict[str, _LazyFrames]:
    """Per variable, an array indexable by `dims` giving ([level,] lat, lon) frames."""
    out = {}
    for name in names:
        x = ds[name]
        if level_sel and "level" in x.dims:
            x = x.sel(level_sel)
        x = x.transpose(*dims, ..., "lat", "lon")
        out[name] = _LazyFrames(x)
    return out


def _block(frame: np.ndarray) -> np.ndarray:
    """A ([level,] lat, lon) frame as a (fields, lat, lon) float array of its own precision."""
    dtype = np.result_type(frame.dtype, np.float32)
    # Contiguous: a frame strided across a file's other dims makes every later pass slow.
    return np.ascontiguousarray(frame, dtype=dtype).reshape((-1,) + frame.shape[-2:])


def _check_inputs(
    forecast: xr.Dataset, other: xr.Dataset, names: Sequence[str], what: str = "truth"
) -> None:
    """`other` (truth, climatology, init state) holds `names` on the forecast's grid and levels."""
    missing = [n for n in names if n not in other.data_vars]
    if missing:
        raise InvalidInputError(f"{what} lacks variables {missing}")
    for dim in ("lat", "lon"):
        if dim not in forecast.dims or dim not in other.dims:
            raise InvalidInputError(f"forecast or {what} has no {dim!r} dimension")
        if forecast.sizes[dim] != other.sizes[dim] or not np.allclose(
            forecast[dim].values, other[dim].values, atol=1e-4
        ):
            raise InvalidInputError(
                f"grid mismatch: forecast {dim} has {forecast.sizes[dim]} points "
                f"({float(forecast[dim][0])}…{float(forecast[dim][-1])}), {what} has "
                f"{other.sizes[dim]} ({float(other[dim][0])}…{float(other[dim][-1])})"
            )
    if "level" in forecast.dims:
        if "level" not in other.dims:
            raise InvalidInputError(f"{what} has no pressure levels")
        absent = sorted(
            set(forecast["level"].values.tolist()) - set(other["level"].values.tolist())
        )
        if absent:
            raise InvalidInputError(f"{what} lacks pressure levels {absent}")


def forecast_init_time(forecast: xr.Dataset) -> pd.Timestamp:
    """The forecast's init time: attr `init_time`, else first valid time − first lead."""
    if "init_time" in forecast.attrs:
        return pd.Timestamp(forecast.attrs["init_time"])
    if "lead_time" in forecast.coords:
        return pd.Timestamp(forecast["time"].values[0] - forecast["lead_time"].values[0])
    raise InvalidInputError("forecast has neither an 'init_time' attr nor a 'lead_time' coordinate")


def score_run(
    forecast: xr.Dataset,
    truth: xr.Dataset,
    *,
    climatology: xr.Dataset | None = None,
    init_state: xr.Dataset | None = None,
    regions: Mapping[str, Region] | None = None,
    baselines: Sequence[str] = ("persistence", "climatology"),
    variables: Sequence[str] | None = None,
    lead_times: Sequence[pd.Timedelta] | None = None,
) -> xr.Dataset:
    """Additive score sums of one forecast run and its baselines against the truth.

    Args:
      forecast: forecast layout (docs/design.md): dims (time, [level,] lat, lon), `time` valid
        datetimes, `lead_time` coordinate, attr `init_time`.
      truth: model layout holding (some of) the valid times; leads whose valid time it lacks
        are left out of the result.
      climatology: (dayofyear, hour, [level,] lat, lon) dataset for ACC and the climatology
        baseline; without it `sum_fa/ff/aa` are NaN and that baseline is skipped.
      init_state: the analysis at the init time for persistence (default: `truth` at the init
        time; without either, persistence is skipped).
      regions: name → region (default: all of `REGIONS`).
      baselines: which of "persistence", "climatology" to score too.
      variables: which forecast variables (default: all with a `time` dim).
      lead_times: only these leads (default: every lead the truth covers).

    Returns:
      Dataset of `SUM_NAMES` (float64) with dims (predictor, field, lead_time, region);
      coords `variable`/`level` along `field` (level 0 = surface), `valid_time` along
      `lead_time`; attrs `init_time` and `notes` (skipped baselines, say why).

    Raises:
      InvalidInputError: missing variables or levels, grid mismatch, no overlapping valid time.
    """
    if "time" not in forecast.dims:
        raise InvalidInputError("forecast has no 'time' dimension (forecast layout expected)")
    if "time" not in truth.dims:
        raise InvalidInputError("truth has no 'time' dimension (model layout expected)")
    names = (
        list(variables)
        if variables is not None
        else [n for n in forecast.data_vars if "time" in forecast[n].dims]
    )
    absent = [n for n in names if n not in forecast.data_vars]
    if absent or not names:
        raise InvalidInputError(f"forecast lacks variables {absent or 'to score'}")
    _check_inputs(forecast, truth, names)
    init_time = forecast_init_time(forecast)
    regions = dict(REGIONS if regions is None else regions)
    notes: list[str] = []

    valid = pd.DatetimeIndex(forecast["time"].values)
    leads = pd.TimedeltaIndex(
        forecast["lead_time"].values if "lead_time" in forecast.coords else valid - init_time
    )
    truth_times = pd.DatetimeIndex(truth["time"].values)
    keep = valid.isin(truth_times)
    if lead_times is not None:
        keep &= leads.isin(pd.TimedeltaIndex(lead_times))
    if not keep.any():
        raise InvalidInputError(
            f"no overlapping valid times: forecast {valid.min()}…{valid.max()}, "
            f"truth {truth_times.min()}…{truth_times.max()}"
        )
    idx = np.flatnonzero(keep)

    predictors = ["model"]
    if "persistence" in baselines:
        if init_state is None and init_time in truth_times:
            init_state = truth.sel(time=init_time)
        if init_state is None:
            notes.append(f"persistence not scored: no truth at init time {init_time}")
        else:
            if "time" in init_state.dims:
                init_state = init_state.sel(time=init_time)
            _check_inputs(forecast, init_state, names, "init state")
            predictors.append("persistence")
    if climatology is not None:
        _check_inputs(forecast, climatology, names, "climatology")
    if "climatology" in baselines:
        if climatology is None:
            notes.append("climatology baseline not scored: no climatology given")
        else:
            predictors.append("climatology")
    if climatology is None:
        notes.append("ACC not computed: no climatology given")
    for note in notes:
        logger.info("score_run %s: %s", init_time, note)

    fields = _fields(forecast, names)
    levels = forecast["level"] if "level" in forecast.dims else None
    truth = truth[names]
    if levels is not None:
        truth = truth.sel(level=levels)
    reducer = _RegionReducer(forecast["lat"].values, forecast["lon"].values, list(regions.values()))
    level_sel = {} if levels is None else {"level": levels}
    fc_arrays = _frames(forecast, names, level_sel)
    truth_arrays = _frames(truth, names, level_sel)
    truth_pos = pd.Index(truth_times).get_indexer(valid)
    if climatology is not None:
        clim_arrays = _frames(climatology, names, level_sel, dims=("dayofyear", "hour"))
        day_idx, hour_idx = climatology_index(climatology, valid[idx])
    if "persistence" in predictors:
        init_blocks = {
            n: _block(a[()]) for n, a in _frames(init_state, names, level_sel, ()).items()
        }

    offsets = np.cumsum([0] + [len(levels) if "level" in forecast[n].dims else 1 for n in names])
    sums = np.full((len(SUM_NAMES), len(predictors), len(fields), idx.size, len(regions)), np.nan)
    sums[0] = reducer.sum_w
    for k, i in enumerate(idx):
        for n, name in enumerate(names):
            rows = slice(offsets[n], offsets[n + 1])
            t = _block(truth_arrays[name][truth_pos[i]])
            if climatology is not None:
                key = (day_idx[k],) if hour_idx is None else (day_idx[k], hour_idx[k])
                c = _block(clim_arrays[name][key])
                if np.isnan(c).all():
                    raise InvalidInputError(
                        f"climatology of {name!r} is undefined at {valid[i]} (no archive data)"
                    )
                anom = t - c
                aa = reducer(anom, anom)
            for p, predictor in enumerate(predictors):
                out = sums[:, p, rows, k]
                if predictor == "climatology":
                    # f = c: e = −a', f' = 0.
                    out[1], out[2], out[3] = -reducer(anom), aa, reducer(np.abs(anom))
                    out[4], out[5], out[6] = 0.0, 0.0, aa
                    continue
                f = _block(fc_arrays[name][i]) if predictor == "model" else init_blocks[name]
                e = f - t
                out[1], out[2], out[3] = reducer(e), reducer(e, e), reducer(np.abs(e))
                if climatology is not None:
                    fa = anom + e  # f − c
                    out[4], out[5], out[6] = reducer(fa, anom), reducer(fa, fa), aa

    field_var = [v for v, _ in fields]
    field_level = [lv for _, lv in fields]
    extra_var, extra_level, extra_sums = [], [], []
    index = {f: j for j, f in enumerate(fields)}
    for u, v, vector in WIND_VECTORS:
        if u in names and v in names:
            for level in [lv for (n, lv) in fields if n == u]:
                ju, jv = index[(u, level)], index[(v, level)]
                block = np.full(sums.shape[:2] + sums.shape[3:], np.nan)
                block[0] = sums[0, :, ju]
                block[2] = sums[2, :, ju] + sums[2, :, jv]
                extra_var.append(vector)
                extra_level.append(level)
                extra_sums.append(block)
    if extra_sums:
        sums = np.concatenate([sums, np.stack(extra_sums, axis=2)], axis=2)
    dims = ("predictor", "field", "lead_time", "region")
    result = xr.Dataset(
        {name: (dims, sums[q]) for q, name in enumerate(SUM_NAMES)},
        coords={
            "predictor": predictors,
            "variable": ("field", field_var + extra_var),
            "level": ("field", np.asarray(field_level + extra_level, dtype=np.int32)),
            "lead_time": leads[idx].to_numpy(),
            "valid_time": ("lead_time", valid[idx].to_numpy()),
            "region": list(regions),
        },
    )
    result.attrs = {
        "init_time": init_time.strftime("%Y-%m-%dT%H:%M:%S"),
        "notes": "; ".join(notes),
        "synthetic": int(forecast.attrs.get("synthetic", 0)),
    }
    return result


def scores_from_sums(sums: xr.Dataset) -> xr.Dataset:
    """Per-init scores (`SCORES`) from additive sums, same dims as the sums.

    `rmse` here is the root of this init's MSE; `acc` is NaN where no climatology was given.
    """
    out = {}
    with np.errstate(invalid="ignore", divide="ignore"):
        for name in SCORES:
            metric = metrics.METRICS[name]
            out[name] = metric.finalize(metric.from_sums(sums))
    return xr.Dataset(out, attrs=dict(sums.attrs))


def window_totals(sums: xr.Dataset, dim: str = "init_time") -> xr.Dataset:
    """Additive totals over `dim` (init times): per score, Σ of per-init values, and the count.

    Windows merge by `merge_totals` (addition); `scores_from_totals` turns totals into scores.
    """
    out = {}
    with np.errstate(invalid="ignore", divide="ignore"):
        for name in ("mse", "bias", "mae", "acc"):
            out[f"total_{name}"] = metrics.METRICS[name].from_sums(sums).sum(dim, skipna=False)
    out["count"] = xr.full_like(out["total_mse"], sums.sizes[dim], dtype=np.int64)
    return xr.Dataset(out)


def merge_totals(*totals: xr.Dataset) -> xr.Dataset:
    """Adds window totals (the windows must be disjoint sets of init times)."""
    result = totals[0]
    for other in totals[1:]:
        result = result + other
    return result


def scores_from_totals(totals: xr.Dataset) -> xr.Dataset:
    """Window scores: means over init times of per-init values; RMSE = sqrt(mean MSE)."""
    out = {}
    for name in ("mse", "bias", "mae", "acc"):
        out[name] = totals[f"total_{name}"] / totals["count"]
    out["rmse"] = metrics.METRICS["rmse"].finalize(out["mse"])
    return xr.Dataset({name: out[name] for name in SCORES})


class _RegionReducer:
    """Weighted sums over (lat, lon) for many regions at once: Σ_ij w_i·m_r(i, j)·x_ij[·y_ij].

    Regions sharing a longitude mask form a group; each group reduces over longitude once (on
    only the rows and columns its regions touch), then over latitude with one small matrix
    product against the regions' weights.
    """

    def __init__(self, lat: np.ndarray, lon: np.ndarray, regions: Sequence[Region]) -> None:
        wlat = area_weights(lat)
        self.size = len(regions)
        groups: dict[bytes, list[int]] = {}
        lon_masks = [region.lon_mask(lon) for region in regions]
        for r, region in enumerate(regions):
            region.apply(wlat, lat, lon)  # raises if the region misses the grid
            groups.setdefault(lon_masks[r].tobytes(), []).append(r)
        self.groups = []
        sum_w = np.zeros(self.size)
        for members in groups.values():
            lon_mask = lon_masks[members[0]]
            lat_w = np.stack([wlat * regions[r].lat_mask(lat) for r in members], axis=1)
            rows = np.flatnonzero(lat_w.any(axis=1))
            rows = slice(rows[0], rows[-1] + 1)  # contiguous: a view, not a copy
            cols = None if lon_mask.all() else np.flatnonzero(lon_mask)
            self.groups.append((members, rows, cols, lat_w[rows]))
            sum_w[members] = lat_w.sum(axis=0) * lon_mask.sum()
        self.sum_w = sum_w

    def __call__(self, x: np.ndarray, y: np.ndarray | None = None) -> np.ndarray:
        """Σ w·x (or Σ w·x·y) per leading index and region: (n, lat, lon) → (n, regions)."""
        out = np.empty((x.shape[0], self.size))
        for members, rows, cols, lat_w in self.groups:
            xs = x[:, rows] if cols is None else x[:, rows][:, :, cols]
            if y is None:
                row_sums = xs.sum(axis=-1)
            else:
                ys = y[:, rows] if cols is None else y[:, rows][:, :, cols]
                row_sums = np.einsum("lij,lij->li", xs, ys)
            out[:, members] = row_sums.astype(np.float64) @ lat_w
        return out
