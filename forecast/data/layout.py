"""Conversions between the model ("archive") layout and DeepMind's example-batch layout.

See docs/design.md: the model layout has a datetime `time` axis and no `batch`; the example-batch
layout has `batch`, a timedelta `time` axis and a `datetime(batch, time)` coordinate.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from forecast.errors import InvalidInputError


def is_example_batch(dataset: xr.Dataset) -> bool:
    """Whether `dataset` is in the example-batch layout (has a `datetime` coordinate)."""
    return "datetime" in dataset.coords


def to_example_batch(dataset: xr.Dataset) -> xr.Dataset:
    """Model layout → example-batch layout (batch of 1, time as offsets from the first time)."""
    if is_example_batch(dataset):
        return dataset
    if "time" not in dataset.dims:
        raise InvalidInputError("dataset has no 'time' dimension")
    times = pd.DatetimeIndex(dataset["time"].values)
    result = dataset.assign_coords(time=(times - times[0]).to_numpy())
    time_dependent = [name for name in result.data_vars if "time" in result[name].dims]
    result = result.assign(
        {
            name: result[name].expand_dims("batch").transpose("batch", "time", ...)
            for name in time_dependent
        }
    )
    datetime = xr.DataArray(times.to_numpy()[None, :], dims=("batch", "time"))
    return result.assign_coords(datetime=datetime)


def from_example_batch(dataset: xr.Dataset) -> xr.Dataset:
    """Example-batch layout (batch of 1) → model layout with a datetime `time` axis."""
    if not is_example_batch(dataset):
        return dataset
    if dataset.sizes.get("batch", 1) != 1:
        raise InvalidInputError(f"expected a batch of 1, got {dataset.sizes['batch']}")
    datetimes = np.asarray(dataset["datetime"].values).reshape(-1)
    result = dataset.drop_vars("datetime")
    if "batch" in result.dims:
        result = result.isel(batch=0, drop=True)
    return result.assign_coords(time=datetimes)
