"""Reading GRIB from the CDS with eccodes/cfgrib, refusing corrupt files instead of skipping.

cfgrib logs "skipping corrupted Message" and returns whatever it could decode, which would turn
a damaged download into silently missing fields. Every message is decoded with eccodes first;
any failure raises `InvalidInputError` naming the file, the message and its byte offset.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import xarray as xr

from forecast.errors import InvalidInputError


def check_grib(path: Path | str) -> int:
    """Decode every message header of a GRIB file.

    Args:
        path: the file.

    Returns:
        The number of messages.

    Raises:
        InvalidInputError: if the file has no message or any message is corrupt/truncated.
    """
    import eccodes

    path = Path(path)
    count = 0
    with open(path, "rb") as handle:
        while True:
            offset = handle.tell()
            try:
                message = eccodes.codes_grib_new_from_file(handle)
            except eccodes.CodesInternalError as exc:
                raise InvalidInputError(
                    f"{path}: corrupt GRIB message #{count + 1} near byte {offset}: "
                    f"{type(exc).__name__}: {exc}"
                ) from None
            if message is None:
                break
            try:
                eccodes.codes_get_values(message)  # decodes the data section too
            except eccodes.CodesInternalError as exc:
                raise InvalidInputError(
                    f"{path}: GRIB message #{count + 1} has undecodable data: {exc}"
                ) from None
            finally:
                eccodes.codes_release(message)
            count += 1
    if count == 0:
        raise InvalidInputError(f"{path}: no GRIB message found (empty or not a GRIB file)")
    return count


def open_grib(path: Path | str) -> list[xr.Dataset]:
    """The GRIB file as in-memory datasets, one per hypercube cfgrib can build.

    Raises:
        InvalidInputError: corrupt file (see `check_grib`) or one cfgrib cannot read.
    """
    import cfgrib

    path = Path(path)
    check_grib(path)
    try:
        # indexpath="": no .idx files beside cache entries (read-only dirs, concurrent readers).
        with warnings.catch_warnings():
            # cfgrib's internal xr.merge warns about xarray's future defaults; not ours to fix.
            warnings.simplefilter("ignore", FutureWarning)
            datasets = cfgrib.open_datasets(str(path), backend_kwargs={"indexpath": ""})
        return [ds.load() for ds in datasets]
    except Exception as exc:  # cfgrib raises many types for malformed content
        raise InvalidInputError(f"{path}: cfgrib cannot read it: {exc}") from None
