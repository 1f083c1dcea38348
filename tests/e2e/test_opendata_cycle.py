"""A real-time cycle from IFS open data end to end, then both verification tiers.

Real Redis, real Celery workers, real Prefect flow runs, the real `ecmwf-opendata` and
`cdsapi` clients: the open-data poll finds the newest published cycle on the local open-data
server and runs the operational-layout checkpoint from it to published maps; the IFS analyses
of its valid times are published later and score it (tier 1); ERA5T from the local CDS
arrives days later and scores it again (tier 2). Both tiers are stored and shown.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.conf import settings
from django.test import Client

from devtools.local_cds import LocalCds
from devtools.local_opendata import LocalOpenData
from flows.opendata import opendata_poll
from flows.verify import verify
from webapp.runs.models import ForecastRun, Product
from webapp.verification.models import ScoreSum

pytestmark = [pytest.mark.slow, pytest.mark.network]
# The server's clock: the 06 UTC cycle is the newest published (7 h delay).
NOW = dt.datetime(2026, 11, 20, 15)
INIT = dt.datetime(2026, 11, 20, 6)


@pytest.fixture
def opendata_server():
    with LocalOpenData(grid_deg=2.0, now=NOW) as server:
        yield server


@pytest.fixture
def era5t(monkeypatch):
    """The local CDS, configured for this process (the verify flow's truth step runs here)."""
    with LocalCds(available_until=INIT - dt.timedelta(days=1)) as cds:
        monkeypatch.setenv("CDSAPI_URL", cds.url)
        monkeypatch.setenv("CDSAPI_KEY", cds.key)
        yield cds


def _aware(value: dt.datetime) -> str:
    return value.replace(tzinfo=dt.UTC).isoformat()


def test_open_data_cycle_then_tier_one_then_tier_two(cycle, opendata_server, era5t, monkeypatch):
    monkeypatch.setattr(settings, "GCF_OPENDATA_URL", opendata_server.url)
    monkeypatch.setattr(settings, "GCF_OPENDATA_PREDICTOR", "stats/demo_operational/checkpoint.npz")

    # The poll: nothing new before 06 UTC is out, then the 06 UTC cycle once published.
    run_id = opendata_poll(now=_aware(NOW))
    run = ForecastRun.objects.get(pk=run_id)
    assert run.status == ForecastRun.Status.SUCCEEDED, (run.error_type, run.error_message)
    assert run.init_time == INIT.replace(tzinfo=dt.UTC)
    assert run.data_source == "opendata" and run.get_data_source_display().startswith("IFS")
    assert run.config["opendata_url"] == opendata_server.url
    # The local server's fields are marked as test products: the run says it is synthetic.
    assert run.synthetic
    assert "ifs-opendata" in run.lineage["input_origin"]
    assert "statics from opendata" in run.lineage["input_origin"]
    assert run.grid_deg == 4.0 and run.predictor_name == "graphcast"
    assert Product.objects.filter(run=run, kind="map").exists()
    # Polling again starts nothing new: the cycle has its run.
    assert opendata_poll(now=_aware(NOW)) == run_id
    assert ForecastRun.objects.count() == 1

    # Tier 1: the analyses of the valid times (12 and 18 UTC) are published by 01 UTC.
    opendata_server.now = INIT + dt.timedelta(hours=19)
    result = verify(now=_aware(opendata_server.now), truth_source="ifs_analysis")
    assert result["scored"] == {run_id: [6, 12]}, result
    tier1 = ScoreSum.objects.filter(run=run, truth_source="ifs_analysis", predictor="model")
    assert tier1.filter(variable="geopotential", level=500, region="global").count() == 2
    assert not tier1.filter(variable="total_precipitation_6hr").exists()  # no analysis of it
    assert not ScoreSum.objects.filter(run=run, truth_source="era5").exists()

    # Tier 2: ERA5T arrives (days later) and the run is scored again, stored beside tier 1.
    era5t.available_until = INIT + dt.timedelta(days=1)
    result = verify(now=_aware(INIT + dt.timedelta(days=6)), truth_source="era5")
    assert result["scored"] == {run_id: [6, 12]}, result
    tier2 = ScoreSum.objects.filter(run=run, truth_source="era5", predictor="model")
    assert tier2.filter(variable="geopotential", level=500, region="global").count() == 2
    assert tier2.filter(variable="total_precipitation_6hr").exists()
    # Same synthetic world behind both servers: the two truths agree to packing precision.
    pairs = {
        (row.variable, row.level, row.lead_hours): row.sum_e2
        for row in tier2.filter(region="global", variable="2m_temperature")
    }
    for row in tier1.filter(region="global", variable="2m_temperature"):
        assert row.sum_e2 == pytest.approx(
            pairs[(row.variable, row.level, row.lead_hours)], rel=0.05
        )

    # Both tiers on the run's score page, side by side and labelled; the run page names the source.
    page = Client().get(f"/verification/runs/{run_id}/").content.decode()
    table = page[page.index('id="by-truth"') : page.index("</table>", page.index('id="by-truth"'))]
    assert "vs IFS analysis (ECMWF open data)" in table and "vs ERA5 reanalysis" in table
    # Each headline field at each lead has a number under both truths (no "—").
    z500 = re.findall(
        r"geopotential 500 hPa</td><td>\+(\d+) h</td><td>([^<]+)</td><td>([^<]+)</td>", table
    )
    assert [lead for lead, *_ in z500] == ["6", "12"]
    assert all(float(a) > 0 and float(b) > 0 for _, a, b in z500)
    detail = Client().get(f"/runs/{run_id}/").content.decode()
    assert "Synthetic world via IFS open data (real time)" in detail
