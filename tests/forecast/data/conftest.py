"""Fixtures of the data tests: the local CDS (see tests/devtools/fixtures.py)."""

from tests.devtools.fixtures import local_cds, local_cds_server, make_client  # noqa: F401
