"""The local Climate Data Store: the current CDS API on 127.0.0.1, filled from the synthetic world."""

from devtools.local_cds.server import DEFAULT_KEY, Faults, LocalCds

__all__ = ["DEFAULT_KEY", "Faults", "LocalCds"]
