"""A local stand-in for ECMWF's real-time open-data server (see `server`)."""

from devtools.local_opendata.server import Faults, LocalOpenData

__all__ = ["Faults", "LocalOpenData"]
