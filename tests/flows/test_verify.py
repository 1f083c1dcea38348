"""The verify flow on real Redis, a real Celery cpu worker, a real Prefect flow run and the test
database: leads are scored as their truth arrives, re-runs are idempotent, failures recorded."""

from __future__ import annotations

import datetime as dt

import pytest

from flows.verify import verify
from tests.e2e.conftest import cycle, prefect_api, redis_server, service_env, workers  # noqa: F401
from tests.webapp.verification.factories import make_forecast_run
from webapp.runs import execution as run_files
from webapp.verification import execution
from webapp.verification.models import RunVerification, ScoreSum

pytestmark = [pytest.mark.slow, pytest.mark.network]
INIT = dt.datetime(2026, 11, 16, 0, tzinfo=dt.UTC)
LATENCY = dt.timedelta(days=5)  # the synthetic world's stand-in for ERA5T's delay


def test_leads_are_scored_as_truth_arrives_and_rescoring_is_idempotent(cycle):  # noqa: F811
    run = make_forecast_run(init_time=INIT, steps=4)
    broken = make_forecast_run(init_time=INIT + dt.timedelta(hours=12), steps=2)
    run_files.forecast_path(broken.pk).unlink()  # its forecast file is gone

    # Truth up to +12 h of the first run: two of its four leads; none of the broken run's.
    result = verify(now=(INIT + LATENCY + dt.timedelta(hours=12)).isoformat())
    assert result == {"scored": {run.pk: [6, 12]}, "failed": {}}
    record = RunVerification.objects.get(run=run)
    assert record.leads_scored == [6, 12] and record.celery_task_id
    assert "synthetic world" in record.climatology
    first = ScoreSum.objects.filter(run=run).count()
    assert first > 0

    # Five days later everything has arrived: the rest of the run, and the broken run fails
    # (recorded, the flow fails at the end) without stopping the first one.
    with pytest.raises(RuntimeError, match=f"runs \\[{broken.pk}\\]"):
        verify(now=(INIT + LATENCY + dt.timedelta(days=5)).isoformat())
    record.refresh_from_db()
    assert record.leads_scored == [6, 12, 18, 24] and record.complete
    assert ScoreSum.objects.filter(run=run).count() == 2 * first
    failure = RunVerification.objects.get(run=broken)
    assert failure.error_type and "forecast.nc" in failure.error_message
    assert (execution.summary_dir() / "history_geopotential_500_rmse.png").is_file()

    # Nothing new for the complete run: re-running the flow only retries the broken one.
    before = dict(ScoreSum.objects.filter(run=run).values_list("id", "sum_e2"))
    result = verify(now=(INIT + LATENCY + dt.timedelta(days=6)).isoformat(), run_ids=[run.pk])
    assert result == {"scored": {}, "failed": {}}
    assert dict(ScoreSum.objects.filter(run=run).values_list("id", "sum_e2")) == before
