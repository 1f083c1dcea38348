"""Reading and writing forecast files: formats (NetCDF, Zarr, GRIB2), the archive, atomic writes.

`write_forecast`, `open_forecast` and `append_to_archive` are re-exported lazily, so importing
`forecast.io.atomic` alone does not pull in xarray.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from forecast.io.archive import append_to_archive, open_archive
    from forecast.io.files import open_forecast, write_forecast

_EXPORTS = {
    "write_forecast": "forecast.io.files",
    "open_forecast": "forecast.io.files",
    "append_to_archive": "forecast.io.archive",
    "open_archive": "forecast.io.archive",
}
__all__ = ["append_to_archive", "open_archive", "open_forecast", "write_forecast"]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'forecast.io' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_EXPORTS[name]), name)
