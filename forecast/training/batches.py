"""Training examples drawn from a dataset archive: random init times, lazily read windows.

In the spirit of xbatcher: the archive (NetCDF, or a Zarr store such as WeatherBench 2's or
ARCO-ERA5's) is opened lazily (stored in one-frame chunks by `write_synthetic_archive`), the
trainer draws the next batch in a background thread while the current step runs (prefetch),
and each example reads only
its window — the two input frames
ending at an init time t and the K target frames t + 6 h … t + K·6 h — which
`forecast.model.extraction` splits into inputs, targets and forcings (deriving the progress
features; TISR comes from the archive). Examples stack along `batch`. Only init times whose
whole window lies inside the archive (and inside the requested time span) are drawn.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from forecast.errors import InvalidInputError
from forecast.model.config import TaskConfig
from forecast.model.derived_forcings import (
    DERIVED_PROGRESS_VARS,
    day_progress,
    progress_sin_cos,
    seconds_since_epoch,
    year_progress,
)
from forecast.model.extraction import extract_inputs_targets_forcings
from forecast.model.predictor_base import Fields
from forecast.model.xarray_jax import dataset_to_fields
from forecast.times import STEP


@dataclasses.dataclass(frozen=True)
class Batch:
    """One training batch as numpy `Fields` (canonical dims, batch first).

    Attributes:
        inputs: the input window (statics without batch/time axes).
        targets: the K target frames.
        forcings: the forcings at the K target times.
        init_times: the init time of each example.
    """

    inputs: Fields
    targets: Fields
    forcings: Fields
    init_times: tuple[pd.Timestamp, ...]


def open_archive(path: str | Path) -> xr.Dataset:
    """Opens an archive lazily (nothing is read until a window is asked for).

    NetCDF or Zarr, in the model layout or WeatherBench 2's / ARCO-ERA5's (`latitude`
    descending, `longitude`, CDS short names…): names and orders are standardised lazily
    (`forecast.data.convert.standardize`).

    Raises:
        InvalidInputError: the path is missing or is not a readable NetCDF/Zarr archive.
    """
    from forecast.data.convert import standardize

    path = Path(path)
    if not path.exists():
        raise InvalidInputError(f"archive not found: {path}")
    try:
        # Lazily indexed backend arrays: each read touches only the frames it asks for (the
        # archive stores few frames per chunk); dask graphs would cost more than the read here.
        if path.suffix == ".zarr" or (path / ".zgroup").exists() or (path / "zarr.json").exists():
            archive = xr.open_zarr(path, chunks=None)
        else:
            archive = xr.open_dataset(path)
    except (OSError, ValueError, ImportError) as exc:
        raise InvalidInputError(f"archive {path} is unreadable: {exc}") from exc
    return standardize(archive, origin=str(path))


class ArchiveBatches:
    """Draws windows of `rollout_steps` targets from an archive.

    Args:
        archive: model layout, datetime `time` axis, 6-hourly (gaps are allowed: windows that
            straddle one are never drawn).
        task_config: the task (variables, levels, input duration).
        rollout_steps: K, the number of 6 h targets per example.
        start, end: restrict init times and windows to this span (inclusive), e.g. to hold
            out validation dates.

    Raises:
        InvalidInputError: no complete window fits, or the archive lacks a variable.
    """

    def __init__(
        self,
        archive: xr.Dataset,
        task_config: TaskConfig,
        *,
        rollout_steps: int,
        start: str | pd.Timestamp | None = None,
        end: str | pd.Timestamp | None = None,
    ) -> None:
        if rollout_steps < 1:
            raise InvalidInputError(f"rollout_steps must be >= 1, got {rollout_steps}")
        needed = set(task_config.input_variables) | set(task_config.target_variables)
        needed |= set(task_config.forcing_variables)
        missing = sorted(needed - set(archive.data_vars) - DERIVED_PROGRESS_VARS)
        if missing:
            raise InvalidInputError(f"archive lacks variable(s) {missing} the task needs")
        self.archive = archive
        self.task_config = task_config
        self.rollout_steps = rollout_steps
        self._input_frames = int(pd.Timedelta(task_config.input_duration) / STEP)
        times = pd.DatetimeIndex(archive["time"].values)
        self._times = times.to_numpy()
        self._index = pd.Index(times)
        self._level_positions = self._levels(archive, task_config)
        self._static = {n for n in archive.data_vars if "time" not in archive[n].dims}
        window = self._offsets()
        span = (times >= pd.Timestamp(start)) if start is not None else np.ones(times.size, bool)
        if end is not None:
            span &= times <= pd.Timestamp(end)
        allowed = set(times[span])
        self.init_times = pd.DatetimeIndex(
            [t for t in times if all((t + offset) in allowed for offset in window)]
        )
        if self.init_times.size == 0:
            raise InvalidInputError(
                f"no complete window of {self._input_frames} input and {rollout_steps} target "
                f"frames 6 h apart in the archive between {start} and {end}"
            )

    @staticmethod
    def _levels(archive: xr.Dataset, task_config: TaskConfig) -> np.ndarray | None:
        if "level" not in archive.coords:
            return None
        available = [int(v) for v in archive["level"].values]
        missing = [lv for lv in task_config.pressure_levels if lv not in available]
        if missing:
            raise InvalidInputError(f"archive lacks pressure level(s) {missing} hPa")
        return np.array([available.index(lv) for lv in task_config.pressure_levels])

    def _offsets(self) -> list[pd.Timedelta]:
        first = -(self._input_frames - 1)
        return [STEP * k for k in range(first, self.rollout_steps + 1)]

    def example(self, init_time: pd.Timestamp) -> tuple[Fields, Fields, Fields]:
        """Inputs, targets and forcings of one window (batch of 1).

        Reads each variable's frames straight into canonical numpy arrays and derives the
        progress features with `derived_forcings`: the same result as
        `extraction.extract_inputs_targets_forcings` on the window (a test holds them
        equal), without its xarray overhead, which would dominate a CPU training step.
        """
        positions = self._positions(init_time)
        task = self.task_config
        n_in = self._input_frames
        frames: dict[str, np.ndarray] = {}
        names = set(task.input_variables) | set(task.target_variables)
        names |= set(task.forcing_variables)
        for name in sorted(names - DERIVED_PROGRESS_VARS):
            frames[name] = self._read(name, positions)
        seconds = seconds_since_epoch(self._times[positions])
        lon = self.archive["lon"].values
        for base, values in (
            ("year_progress", year_progress(seconds)[None]),
            ("day_progress", day_progress(seconds, lon)[None]),
        ):
            sin, cos = progress_sin_cos(values)
            frames |= {base: values, f"{base}_sin": sin, f"{base}_cos": cos}

        def pick(names: Sequence[str], times: slice | None) -> Fields:
            out = {}
            for name in names:
                values = frames[name]
                out[name] = values if name in self._static else values[:, times]
            return out

        inputs = pick(task.input_variables, slice(0, n_in))
        targets = pick(task.target_variables, slice(n_in, None))
        forcings = pick(task.forcing_variables, slice(n_in, None))
        for role, fields in (("input", inputs), ("forcing", forcings), ("target", targets)):
            for name, values in fields.items():
                if not np.all(np.isfinite(values)):
                    raise InvalidInputError(
                        f"{role} variable {name!r} has NaN/inf values in the window at {init_time}"
                    )
        return inputs, targets, forcings

    def example_via_extraction(self, init_time: pd.Timestamp) -> tuple[Fields, Fields, Fields]:
        """`example` computed by the inference path's `extraction` (slow; the reference)."""
        window = self.archive.isel(time=self._positions(init_time)).load()
        inputs, targets, forcings = extract_inputs_targets_forcings(
            window, self.task_config, slice("6h", STEP * self.rollout_steps)
        )
        task = self.task_config
        return (
            dataset_to_fields(inputs, task.input_variables),
            dataset_to_fields(targets, task.target_variables),
            dataset_to_fields(forcings, task.forcing_variables),
        )

    def _positions(self, init_time: pd.Timestamp) -> np.ndarray:
        positions = self._index.get_indexer([init_time + o for o in self._offsets()])
        if np.any(positions < 0):
            raise InvalidInputError(f"archive has no complete window at init time {init_time}")
        return positions

    def _read(self, name: str, positions: np.ndarray) -> np.ndarray:
        """One variable's frames in canonical dims, levels in task order (statics: (lat, lon))."""
        array = self.archive[name]
        if "time" not in array.dims:
            return np.asarray(array.transpose("lat", "lon").values, dtype=np.float32)
        # One contiguous read of the window (windows are consecutive frames), then select.
        lo, hi = int(positions.min()), int(positions.max()) + 1
        block = array.isel(time=slice(lo, hi))
        if "level" in array.dims:
            block = block.isel(level=self._level_positions).transpose("time", "level", "lat", "lon")
        else:
            block = block.transpose("time", "lat", "lon")
        values = np.asarray(block.values, dtype=np.float32)[positions - lo]
        return values[None]

    def batch(self, init_times: Sequence[pd.Timestamp]) -> Batch:
        """The examples at `init_times`, stacked along `batch` (statics from the first)."""
        examples = [self.example(pd.Timestamp(t)) for t in init_times]
        stacked = []
        for part in range(3):
            fields = {}
            for name, first in examples[0][part].items():
                if name in self._static:
                    fields[name] = first  # no batch axis
                else:
                    fields[name] = np.concatenate([e[part][name] for e in examples], axis=0)
            stacked.append(fields)
        return Batch(*stacked, init_times=tuple(pd.Timestamp(t) for t in init_times))

    def sample(self, rng: np.random.Generator, batch_size: int) -> Batch:
        """A batch of `batch_size` windows at random init times (without replacement)."""
        count = min(batch_size, self.init_times.size)
        chosen = rng.choice(self.init_times.size, size=count, replace=False)
        return self.batch([self.init_times[i] for i in sorted(chosen)])

    def evenly_spaced(self, count: int) -> list[pd.Timestamp]:
        """`count` init times spread evenly over the span (a fixed validation set)."""
        picks = np.linspace(0, self.init_times.size - 1, num=min(count, self.init_times.size))
        return [self.init_times[int(round(i))] for i in picks]
