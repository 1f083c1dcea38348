"""The bridge between xarray Datasets (at the edges) and `Fields` of arrays (inside the model).

Every variable gets a canonical dim order decided by its name and rank:

* atmospheric (`forecast.variables.is_atmospheric`): `(batch, time, level, lat, lon)`;
* `year_progress*`: `(batch, time)`; `day_progress*`: `(batch, time, lon)`;
* static fields (no time axis): `(lat, lon)`;
* every other variable: `(batch, time, lat, lon)`.

`dataset_to_fields` transposes a Dataset into that order (so channel stacking is independent of
how a file happens to order its dims) and `fields_to_dataset` rebuilds a Dataset from arrays in
that order. Arrays are NumPy on the way in; jitted code turns them into `jax.Array`s.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import xarray as xr

from forecast import variables
from forecast.errors import InvalidInputError


def variable_dims(name: str, *, has_time: bool = True) -> tuple[str, ...]:
    """Canonical dims of variable `name` (see module docstring)."""
    if name.startswith("year_progress"):
        return ("batch", "time")
    if name.startswith("day_progress"):
        return ("batch", "time", "lon")
    if not has_time:
        return ("lat", "lon")
    if variables.is_atmospheric(name):
        return ("batch", "time", "level", "lat", "lon")
    return ("batch", "time", "lat", "lon")


def dims_of_array(name: str, ndim: int) -> tuple[str, ...]:
    """Canonical dims of an array of rank `ndim` holding `name` (static if rank 2 and gridded)."""
    dims = variable_dims(name, has_time=True)
    if len(dims) == ndim:
        return dims
    static = variable_dims(name, has_time=False)
    if len(static) == ndim:
        return static
    raise InvalidInputError(f"variable {name!r}: rank {ndim} fits none of {dims} / {static}")


def dataset_to_fields(dataset: xr.Dataset, names: Iterable[str] | None = None) -> dict:
    """Numpy arrays in canonical dim order for `names` (default: every data variable).

    Raises:
      InvalidInputError: a variable is missing or has unexpected dims (the message names it).
    """
    names = list(dataset.data_vars) if names is None else list(names)
    fields = {}
    for name in names:
        if name not in dataset.data_vars:
            raise InvalidInputError(f"variable {name!r} is missing from the dataset")
        array = dataset[name]
        dims = variable_dims(name, has_time="time" in array.dims)
        if "batch" in dims and "batch" not in array.dims:
            array = array.expand_dims("batch")
        if set(array.dims) != set(dims):
            raise InvalidInputError(f"variable {name!r} has dims {array.dims}, expected {dims}")
        fields[name] = np.asarray(array.transpose(*dims).values)
    return fields


def fields_to_dataset(fields: Mapping[str, np.ndarray], coords: Mapping[str, object]) -> xr.Dataset:
    """A Dataset from canonical-order arrays; `coords` supplies the coordinates to attach."""
    data_vars = {}
    for name, array in fields.items():
        array = np.asarray(array)
        data_vars[name] = (dims_of_array(name, array.ndim), array)
    dataset = xr.Dataset(data_vars)
    used = {dim for var in dataset.data_vars.values() for dim in var.dims}
    return dataset.assign_coords({k: v for k, v in coords.items() if k in used})
