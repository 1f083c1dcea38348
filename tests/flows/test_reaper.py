"""`python -m flows.reaper`: one pass that resumes runs whose flow died and fails silent ones."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from flows import reaper
from tests.webapp.runs.factories import make_run
from tests.webapp.runs.test_services import RecordingLauncher
from webapp.runs import services
from webapp.runs.models import ForecastRun

pytestmark = pytest.mark.django_db


def test_one_pass_resumes_an_orphan_and_fails_a_silent_run(settings, capsys):
    settings.GCF_FLOW_LAUNCHER = "tests.webapp.runs.test_services.RecordingLauncher"
    RecordingLauncher.launched = []
    orphan, silent = make_run(), make_run()
    for run in (orphan, silent):
        services.run_claim(run_id=run.pk, flow_run_id=f"flow-{run.pk}")
    now = timezone.now()
    ForecastRun.objects.filter(pk=orphan.pk).update(flow_heartbeat_at=now - dt.timedelta(minutes=5))
    ForecastRun.objects.filter(pk=silent.pk).update(
        flow_heartbeat_at=now - dt.timedelta(days=1), heartbeat_at=now - dt.timedelta(days=1)
    )
    # The silent run's flow is dead too, but it was resumed once already: closed instead.
    ForecastRun.objects.filter(pk=silent.pk).update(lineage={"resumed": ["earlier"]})

    assert reaper.main([]) == 0

    assert RecordingLauncher.launched == [orphan.pk]
    silent.refresh_from_db()
    assert silent.status == ForecastRun.Status.FAILED and silent.error_type == "FlowLost"
    out = capsys.readouterr().out
    assert f"{orphan.pk}: 'resumed'" in out and f"{silent.pk}: 'closed'" in out
