"""Verifying an ERA5 (CDS) run: truth availability probed on the CDS, truth fetched with the real
cdsapi client from the local CDS through the same cache (a repeat makes no request), and the
climatology either user-supplied (GCF_CLIMATOLOGY) or absent (said so)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import xarray as xr
from django.conf import settings

from forecast.data.acquire import acquire_inputs, write_atomic
from forecast.predictor import PersistencePredictor
from forecast.verify.climatology import compute_climatology
from tests.devtools.fixtures import local_cds, local_cds_server, make_client  # noqa: F401
from tests.webapp.runs.factories import make_run
from tests.webapp.verification.factories import shared_cache, var_dir  # noqa: F401
from webapp.runs import execution as run_files
from webapp.runs import services as run_services
from webapp.verification import execution
from webapp.verification.models import RunVerification

pytestmark = [pytest.mark.django_db, pytest.mark.network]
INIT = dt.datetime(2026, 11, 16, 0, tzinfo=dt.UTC)


@pytest.fixture
def cds_run(var_dir, local_cds, make_client, monkeypatch):  # noqa: F811
    monkeypatch.setenv("CDSAPI_URL", local_cds.url)
    monkeypatch.setenv("CDSAPI_KEY", local_cds.key)
    run = make_run(init_time=INIT, data_source="cds", steps=4, grid_deg=10.0)
    run_services.run_mark_running(run_id=run.pk)
    inputs = acquire_inputs(
        INIT.replace(tzinfo=None),
        levels=13,
        grid_deg=10.0,
        cache_dir=Path(settings.GCF_CACHE_DIR) / "era5",
        source="cds",
        client=make_client(),
    )
    forecast = PersistencePredictor().forecast(xr.load_dataset(inputs), steps=4)
    write_atomic(forecast, run_files.forecast_path(run.pk))
    return run_services.run_mark_succeeded(run_id=run.pk)


def test_cds_run_is_verified_as_far_as_era5_reaches(cds_run, local_cds, tmp_path, monkeypatch):  # noqa: F811
    # "Now" is five days after the local CDS's last data (2026-11-16 12 UTC): two leads verifiable.
    until = execution.truth_available_until("cds", now=dt.datetime(2026, 11, 21, 12, tzinfo=dt.UTC))
    assert until == dt.datetime(2026, 11, 16, 12, tzinfo=dt.UTC)
    valid = [t.isoformat() for t in execution.run_valid_times(cds_run) if t <= until]
    assert len(valid) == 2

    truth = execution.prepare_truth(run_id=cds_run.pk, valid_times=valid)
    with xr.open_dataset(truth) as ds:
        assert ds.sizes["time"] == 3  # the init time (persistence) and 2 leads
    local_cds.reset_counts()
    execution.prepare_truth(run_id=cds_run.pk, valid_times=valid)
    assert local_cds.counts["submit"] == 0  # the same ERA5 cache: no second download

    origin = execution.prepare_climatology(run_id=cds_run.pk, valid_times=valid)
    assert origin.startswith("none: GCF_CLIMATOLOGY not set")
    result = execution.execute_scoring(run_id=cds_run.pk)
    assert result["leads"] == [6, 12] and "climatology baseline not scored" in result["notes"]
    record = RunVerification.objects.get(run=cds_run)
    assert "ACC not computed" in record.notes and record.climatology.startswith("none")

    # With a user-supplied climatology file: ACC and the climatology baseline appear.
    clim_file = tmp_path / "user_clim.nc"
    write_atomic(compute_climatology(xr.load_dataset(truth), window_days=3), clim_file)
    monkeypatch.setenv("GCF_CLIMATOLOGY", str(clim_file))
    origin = execution.prepare_climatology(run_id=cds_run.pk, valid_times=valid)
    assert origin == f"user file {clim_file}"
    result = execution.execute_scoring(run_id=cds_run.pk)
    assert result["notes"] == ""
    record.refresh_from_db()
    assert record.climatology == origin and record.notes == ""
