"""The service-facing forecast interface: a protocol, GraphCast and persistence implementations.

Every predictor turns a dataset ending at the init time into a forecast in the FORECAST LAYOUT of
docs/design.md: dims `(time, [level,] lat, lon)` with `time` = valid datetimes (init + 6 h·k,
k = 1…N), a `lead_time` coordinate along `time`, and attrs `init_time`, `predictor`,
`checkpoint`, `checkpoint_sha256`, `checkpoint_description`, `source`, `synthetic`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np
import pandas as pd
import xarray as xr

from forecast import variables
from forecast.data.layout import from_example_batch
from forecast.errors import InvalidInputError

if TYPE_CHECKING:
    from forecast.model.rollout import Rollout

logger = logging.getLogger(__name__)

STEP = pd.Timedelta(hours=6)
ProgressCallback = Callable[[int, int], None]


@runtime_checkable
class ForecastPredictor(Protocol):
    """What the pipeline calls to produce a forecast (see docs/design.md)."""

    name: str
    identity: dict[str, str]

    def forecast(
        self, inputs: xr.Dataset, *, steps: int, progress: ProgressCallback | None = None
    ) -> xr.Dataset:
        """Forecasts `steps` 6-hourly leads from the dataset's last time (the init time)."""
        ...


def init_time_of(inputs: xr.Dataset) -> pd.Timestamp:
    """The init time of `inputs` (model or example-batch layout): its last valid time."""
    model_layout = from_example_batch(inputs)
    if "time" not in model_layout.dims or model_layout.sizes["time"] == 0:
        raise InvalidInputError("input dataset has no 'time' dimension (or it is empty)")
    return pd.Timestamp(model_layout["time"].values[-1])


def to_forecast_layout(
    predictions: xr.Dataset,
    *,
    init_time: pd.Timestamp,
    predictor: str,
    identity: dict[str, str],
    source_attrs: dict,
) -> xr.Dataset:
    """Puts per-lead predictions into the forecast layout.

    Args:
      predictions: variables with a leading `time` dim of N leads (any time coordinate; the
        leads are taken to be 6 h, 12 h, …) and optionally a `batch` dim of size 1.
      init_time: the init time (last input time).
      predictor: value of the `predictor` attr.
      identity: `checkpoint`, `checkpoint_sha256`, `checkpoint_description` (may be empty).
      source_attrs: attrs of the inputs, from which `source` and `synthetic` are taken.

    Returns:
      The dataset with valid-datetime `time`, a `lead_time` coordinate and the standard attrs.
    """
    if "batch" in predictions.dims:
        predictions = predictions.isel(batch=0, drop=True)
    num_steps = predictions.sizes["time"]
    lead_times = pd.to_timedelta(np.arange(1, num_steps + 1) * STEP)
    valid_times = (init_time + lead_times).to_numpy().astype("datetime64[ns]")
    lead_values = lead_times.to_numpy().astype("timedelta64[ns]")
    result = predictions.drop_vars("time", errors="ignore").assign_coords(
        time=("time", valid_times), lead_time=("time", lead_values)
    )
    order = [d for d in ("time", "level", "lat", "lon") if d in result.dims]
    result = result.transpose(*order)
    source = str(source_attrs.get("source", "unknown"))
    synthetic = int(source_attrs.get("synthetic", 1 if source == "synthetic" else 0))
    result.attrs = {
        "init_time": init_time.strftime("%Y-%m-%dT%H:%M:%S"),
        "predictor": predictor,
        "checkpoint": identity.get("checkpoint", ""),
        "checkpoint_sha256": identity.get("checkpoint_sha256", ""),
        "checkpoint_description": identity.get("checkpoint_description", ""),
        "source": source,
        "synthetic": synthetic,
    }
    for name in result.data_vars:
        if name in variables.UNITS:
            result[name].attrs["units"] = variables.UNITS[name]
    return result


class PersistencePredictor:
    """Baseline: the init-time state at every lead.

    Every target variable present in the inputs (surface, atmospheric, precipitation) is
    repeated; precipitation therefore persists the last 6 h accumulation.
    """

    name = "persistence"

    def __init__(self, target_variables: tuple[str, ...] | None = None) -> None:
        """Args: target_variables: which variables to persist (default: all forecastable)."""
        self.target_variables = target_variables or (
            variables.TARGET_SURFACE_VARS + variables.TARGET_ATMOSPHERIC_VARS
        )
        self.identity: dict[str, str] = {}

    def forecast(
        self, inputs: xr.Dataset, *, steps: int, progress: ProgressCallback | None = None
    ) -> xr.Dataset:
        """Repeats the init-time state `steps` times (see `ForecastPredictor.forecast`)."""
        if steps < 1:
            raise InvalidInputError(f"steps must be >= 1, got {steps}")
        data = from_example_batch(inputs)
        init_time = init_time_of(data)
        present = [
            name
            for name in self.target_variables
            if name in data.data_vars and "time" in data[name].dims
        ]
        if not present:
            raise InvalidInputError(
                f"inputs hold none of the persisted variables {list(self.target_variables)}"
            )
        last = data[present].isel(time=-1, drop=True)
        for name in present:
            if bool(np.isnan(last[name].values).any()):
                raise InvalidInputError(f"variable {name!r} has NaN at init time {init_time}")
        frames = []
        for k in range(1, steps + 1):
            frames.append(last)
            if progress is not None:
                progress(k, steps)
        stacked = xr.concat(frames, dim="time")
        return to_forecast_layout(
            stacked,
            init_time=init_time,
            predictor=self.name,
            identity=self.identity,
            source_attrs=inputs.attrs,
        )


def load_predictor(
    spec: str,
    stats_dir: str | Path | None = None,
    *,
    graphs_cache_dir: str | Path | None = None,
    spill_dir: str | Path | None = None,
    grid_chunk_size: int | None = None,
) -> ForecastPredictor:
    """Returns the predictor named by `spec`.

    Args:
      spec: `"persistence"` or the path of a GraphCast checkpoint (`.npz`).
      stats_dir: directory holding `mean_by_level.nc`, `stddev_by_level.nc`,
        `diffs_stddev_by_level.nc` (required for a checkpoint).
      graphs_cache_dir: where built graphs are cached (optional).
      spill_dir: where GraphCast keeps a forecast's lead arrays as memory-mapped files, so host
        memory stays bounded for long or high-resolution rollouts (optional; see `Rollout`).
      grid_chunk_size: grid nodes per chunk of GraphCast's encoder/decoder; None decides
        from the memory available (see `forecast.model.chunking`).

    Raises:
      InvalidInputError: unknown spec or missing stats directory.
    """
    if spec == "persistence":
        return PersistencePredictor()
    if stats_dir is None:
        raise InvalidInputError(f"predictor {spec!r} needs a stats directory")
    return GraphCastPredictor.from_files(
        spec,
        stats_dir,
        graphs_cache_dir=graphs_cache_dir,
        spill_dir=spill_dir,
        grid_chunk_size=grid_chunk_size,
    )


class GraphCastPredictor:
    """GraphCast from an official-layout checkpoint, rolled out with flat memory."""

    name = "graphcast"

    def __init__(self, rollout: Rollout, identity: dict[str, str]) -> None:
        self._rollout = rollout
        self.identity = identity

    @classmethod
    def from_files(
        cls,
        checkpoint: str | Path,
        stats_dir: str | Path,
        graphs_cache_dir: str | Path | None = None,
        spill_dir: str | Path | None = None,
        grid_chunk_size: int | None = None,
    ) -> GraphCastPredictor:
        """Loads the checkpoint and stats; graphs are built on the first forecast."""
        from forecast.model.rollout import Rollout

        rollout = Rollout.from_files(
            checkpoint,
            stats_dir,
            graphs_cache_dir=graphs_cache_dir,
            spill_dir=spill_dir,
            grid_chunk_size=grid_chunk_size,
        )
        return cls(rollout, rollout.identity)

    @property
    def rollout(self) -> Rollout:
        """The underlying step-by-step rollout (checkpoint, stats, timings)."""
        return self._rollout

    def forecast_last_target(
        self, dataset: xr.Dataset, *, steps: int, progress: ProgressCallback | None = None
    ) -> xr.Dataset:
        """The reference demo's semantics (`forecast predict`): the last time is the last target.

        The two input frames end `steps` × 6 h before the dataset's last time; forcings in the
        file at the target times are used as given, missing ones are derived.

        Returns:
          The forecast in the forecast layout (init time = the last input time).

        Raises:
          InvalidInputError: missing variables/levels, too few times, NaN, wrong grid.
        """
        from forecast.data.layout import to_example_batch
        from forecast.model.extraction import extract_inputs_targets_forcings

        if steps < 1:
            raise InvalidInputError(f"steps must be >= 1, got {steps}")
        batch = to_example_batch(dataset)
        last = pd.Timestamp(np.asarray(batch["datetime"].values).reshape(-1)[-1])
        inputs, _, forcings = extract_inputs_targets_forcings(
            batch, self._rollout.checkpoint.task_config, slice("6h", STEP * steps)
        )
        if forcings.sizes["time"] != steps:
            raise InvalidInputError(
                f"too few times: {steps} steps need {steps} target times after the inputs, "
                f"the dataset has {forcings.sizes['time']}"
            )
        predictions = self._rollout.run(inputs, forcings, progress=progress)
        return to_forecast_layout(
            predictions,
            init_time=last - STEP * steps,
            predictor=self.name,
            identity=self.identity,
            source_attrs=dataset.attrs,
        )

    def forecast(
        self, inputs: xr.Dataset, *, steps: int, progress: ProgressCallback | None = None
    ) -> xr.Dataset:
        """Rolls GraphCast out `steps` leads (see `ForecastPredictor.forecast`)."""
        init_time = init_time_of(inputs)
        predictions = self._rollout.forecast_from_init(inputs, steps=steps, progress=progress)
        return to_forecast_layout(
            predictions,
            init_time=init_time,
            predictor=self.name,
            identity=self.identity,
            source_attrs=inputs.attrs,
        )
