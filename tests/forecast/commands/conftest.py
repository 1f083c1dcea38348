"""Fixtures of the command tests: the local open-data server (see tests/devtools/)."""

from tests.devtools.opendata_fixtures import local_opendata, local_opendata_server  # noqa: F401
