"""The API against its own OpenAPI schema, on a running site, by schemathesis: generated
requests (filters, ids, coordinates) never get a 500, and every response has a documented
status code, content type and body shape."""

from __future__ import annotations

import pandas as pd
import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from tests.webapp.runs.factories import make_run
from tests.webapp.verification.factories import (  # noqa: F401
    make_forecast_run,
    shared_cache,
    var_dir,
)
from webapp.verification import services as score_services


@pytest.fixture
def api_schema(live_server, transactional_db, var_dir):  # noqa: F811
    """A site with a forecast (point series), scores and a queued run; its schema as served."""
    run = make_forecast_run(steps=2)
    row = {
        "predictor": "model", "variable": "2m_temperature", "level": 0, "lead_hours": 6,
        "region": "global", "valid_time": pd.Timestamp("2026-11-16T06", tz="UTC"),
        "sum_w": 1.0, "sum_e": 0.5, "sum_e2": 1.0, "sum_abs_e": 0.5, "sum_fa": 0.2,
        "sum_ff": 1.0, "sum_aa": 1.0,
    }  # fmt: skip
    score_services.verification_store_sums(
        run_id=run.pk, rows=[row], leads_total=2, truth_until=None
    )
    make_run()
    return schemathesis.openapi.from_url(f"{live_server.url}/api/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
# database=None: no .hypothesis/ folder left in the tree.
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_api_conforms_to_its_schema(case):
    case.call_and_validate()
