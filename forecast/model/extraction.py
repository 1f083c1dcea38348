"""Split a dataset into model inputs, targets and target-time forcings (SPEC §4).

Two entry points:

* `extract_inputs_targets_forcings` — the reference demo's semantics, used by
  `forecast predict`: the dataset's **last** time is the last target; the input window ends
  `max(target_lead_times)` before it.
* `extract_inputs_and_forcings_at_init` — the service's semantics: the dataset's last time
  is the init time; forcings at the N target times are derived (progress features, TISR).

Both return Datasets in the example-batch layout with a timedelta `time` axis relative to
the init time (inputs at −6 h, 0 h; targets/forcings at 6 h, 12 h, …), levels selected by
label in the task's order, and no `datetime` coordinate. Every problem found (missing
variable or level, too few times, NaN) raises `InvalidInputError` naming it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import xarray as xr

from forecast import variables
from forecast.data.layout import to_example_batch
from forecast.errors import InvalidInputError
from forecast.model.config import TaskConfig
from forecast.model.derived_forcings import add_derived_forcings
from forecast.times import STEP, STEP_HOURS


def extract_inputs_targets_forcings(
    dataset: xr.Dataset,
    task_config: TaskConfig,
    target_lead_times: slice | Sequence[pd.Timedelta | str],
) -> tuple[xr.Dataset, xr.Dataset, xr.Dataset]:
    """Inputs, targets and forcings as the reference's `extract_inputs_targets_forcings`.

    Args:
      dataset: example-batch layout (or model layout, converted), batch of 1.
      task_config: which variables/levels/window.
      target_lead_times: a label slice such as `slice("6h", "24h")` (inclusive; a missing
        start means "> 0") or a list of lead times.

    Returns:
      `(inputs, targets, forcings)`; targets hold the target variables present in the
      dataset at the lead times (missing ones are not an error: only scoring needs them),
      forcings the forcing variables at the same times.

    Raises:
      InvalidInputError: missing variables/levels, too few times, or NaN in the inputs or
        forcings.
    """
    dataset = _prepare(dataset, task_config)
    time = pd.to_timedelta(dataset["time"].values)
    if isinstance(target_lead_times, slice):
        stop = pd.Timedelta(target_lead_times.stop)
        start = pd.Timedelta(target_lead_times.start) if target_lead_times.start else None
    else:
        leads = pd.to_timedelta(list(target_lead_times))
        stop = leads.max()
    # Re-base so that the last time is the last target (lead 0 = last input time).
    rebased = time + stop - time[-1]
    dataset = dataset.assign_coords(time=rebased.to_numpy())
    if isinstance(target_lead_times, slice):
        mask = (rebased <= stop) & (
            (rebased >= start) if start is not None else (rebased > pd.Timedelta(0))
        )
        targets_ds = dataset.isel(time=np.flatnonzero(mask))
    else:
        missing = [str(lead) for lead in leads if lead not in set(rebased)]
        if missing:
            raise InvalidInputError(f"dataset has no data at lead times {missing}")
        targets_ds = dataset.sel(time=leads.to_numpy())
    if targets_ds.sizes["time"] == 0:
        raise InvalidInputError(f"too few times: the dataset has no target time in {stop}")
    inputs_ds = _input_window(dataset, task_config)
    inputs = _subset(inputs_ds, task_config.input_variables, "input")
    # Targets are only needed for verification/training: keep those the file has.
    present = [n for n in task_config.target_variables if n in targets_ds.data_vars]
    targets = _subset(targets_ds, present, "target", keep_static=False)
    forcings = _subset(targets_ds, task_config.forcing_variables, "forcing", keep_static=False)
    _check_finite(inputs, "input")
    _check_finite(forcings, "forcing")
    return inputs, targets, forcings


def extract_inputs_and_forcings_at_init(
    dataset: xr.Dataset, task_config: TaskConfig, steps: int
) -> tuple[xr.Dataset, xr.Dataset]:
    """Inputs ending at the dataset's last time and forcings at the `steps` next 6 h times.

    Forcings present in the dataset at the target times are used as given; missing ones (the
    usual case: the data end at the init time) are derived from the valid times.

    Raises:
      InvalidInputError: as `extract_inputs_targets_forcings`, or `steps` < 1.
    """
    if steps < 1:
        raise InvalidInputError(f"steps must be >= 1, got {steps}")
    batch = to_example_batch(dataset)
    datetimes = pd.DatetimeIndex(np.asarray(batch["datetime"].values).reshape(-1))
    init = datetimes[-1]
    # Re-base time on the init time; target frames present in the data are not expected.
    batch = batch.assign_coords(time=(datetimes - init).to_numpy())
    dataset = _prepare(batch, task_config)
    inputs = _subset(_input_window(dataset, task_config), task_config.input_variables, "input")
    _check_finite(inputs, "input")
    leads = pd.to_timedelta(np.arange(1, steps + 1) * STEP_HOURS, unit="h")
    target_times = init + leads
    future = xr.Dataset(
        coords={
            "time": leads.to_numpy(),
            "datetime": (("batch", "time"), target_times.to_numpy()[None]),
            "lat": batch["lat"],
            "lon": batch["lon"],
        }
    )
    future = add_derived_forcings(future, task_config.forcing_variables).drop_vars("datetime")
    forcings = _subset(future, task_config.forcing_variables, "forcing", keep_static=False)
    _check_finite(forcings, "forcing")
    return inputs, forcings


def _prepare(dataset: xr.Dataset, task_config: TaskConfig) -> xr.Dataset:
    """Steps 1–4: levels by label, derived forcings, drop `datetime`."""
    dataset = to_example_batch(dataset)
    if dataset.sizes.get("batch", 1) != 1:
        raise InvalidInputError(f"expected a batch of 1, got {dataset.sizes['batch']}")
    needs_levels = any(
        variables.is_atmospheric(n)
        for n in task_config.input_variables + task_config.target_variables
    )
    if needs_levels:
        if "level" not in dataset.coords:
            raise InvalidInputError("dataset has no 'level' coordinate")
        available = {int(v) for v in np.asarray(dataset["level"].values)}
        missing = [lv for lv in task_config.pressure_levels if lv not in available]
        if missing:
            raise InvalidInputError(f"dataset lacks pressure level(s) {missing} hPa")
        dataset = dataset.sel(level=list(task_config.pressure_levels))
    dataset = add_derived_forcings(dataset, task_config.forcing_variables)
    return dataset.drop_vars("datetime")


def _input_window(dataset: xr.Dataset, task_config: TaskConfig) -> xr.Dataset:
    """Step 6: inputs are the times in (−input_duration, 0]."""
    duration = pd.Timedelta(task_config.input_duration)
    time = pd.to_timedelta(dataset["time"].values)
    mask = (time > -duration) & (time <= pd.Timedelta(0))
    expected = int(duration / STEP)
    found = int(mask.sum())
    if found < expected:
        raise InvalidInputError(
            f"too few times: need {expected} input frames 6 h apart in the "
            f"{task_config.input_duration} window ending at the init time, found {found}"
        )
    window = dataset.isel(time=np.flatnonzero(mask))
    steps = np.diff(pd.to_timedelta(window["time"].values))
    if len(steps) and not (steps == STEP.to_timedelta64()).all():
        raise InvalidInputError(f"input times are not 6 h apart: {list(time[mask])}")
    return window


def _subset(
    dataset: xr.Dataset, names: Sequence[str], role: str, *, keep_static: bool = True
) -> xr.Dataset:
    missing = [name for name in names if name not in dataset.data_vars]
    if missing:
        raise InvalidInputError(f"{role} variable(s) {missing} missing from the dataset")
    result = dataset[list(names)]
    if not keep_static:
        static = [n for n in names if "time" not in result[n].dims]
        if static:
            raise InvalidInputError(f"{role} variable(s) {static} have no time axis")
    return result


def _check_finite(dataset: xr.Dataset, role: str) -> None:
    for name, array in dataset.data_vars.items():
        values = np.asarray(array.values)
        bad = ~np.isfinite(values)
        if bad.any():
            where = ""
            if "time" in array.dims:
                axis = array.dims.index("time")
                times = np.unique(np.nonzero(bad)[axis])
                where = f" at lead time(s) {[str(pd.Timedelta(t)) for t in array['time'].values[times]]}"
            raise InvalidInputError(f"{role} variable {name!r} has NaN/inf values{where}")
