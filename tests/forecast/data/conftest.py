"""Fixtures of the data tests: the local CDS and the local open-data server (see tests/devtools/)."""

from tests.devtools.fixtures import local_cds, local_cds_server, make_client  # noqa: F401
from tests.devtools.opendata_fixtures import (  # noqa: F401
    local_opendata,
    local_opendata_server,
    opendata_client,
)
