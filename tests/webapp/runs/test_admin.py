"""The admin's "Rerun selected runs" action: permission-checked, linked runs, a count."""

from __future__ import annotations

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission

from tests.webapp.runs.factories import make_run
from webapp.runs import services
from webapp.runs.models import ForecastRun

pytestmark = pytest.mark.django_db
CHANGELIST = "/admin/runs/forecastrun/"


@pytest.fixture
def launched(monkeypatch):
    """Records launches instead of spawning flows (the browser test launches the real one)."""
    calls = []
    monkeypatch.setattr(services, "run_launch_flow", lambda *, run: calls.append(run.pk))
    return calls


def _rerun(client, *runs):
    return client.post(
        CHANGELIST,
        {"action": "rerun_selected", "_selected_action": [r.pk for r in runs]},
        follow=True,
    )


def test_superuser_reruns_two_runs(admin_client, launched):
    first, second = make_run(), make_run()
    response = _rerun(admin_client, first, second)
    assert "Started 2 rerun(s)" in response.text
    reruns = ForecastRun.objects.filter(rerun_of__isnull=False)
    assert {r.rerun_of_id for r in reruns} == {first.pk, second.pk}
    assert all(
        r.triggered_by == "admin" and r.triggered_by_user.username == "admin" for r in reruns
    )
    assert sorted(launched) == sorted(r.pk for r in reruns)
    assert LogEntry.objects.filter(change_message__startswith="rerun of run").count() == 2


def test_staff_without_the_rerun_permission_cannot(client, django_user_model, launched):
    user = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_forecastrun"))
    client.force_login(user)
    run = make_run()
    response = _rerun(client, run)
    assert "rerun_selected" not in response.text
    assert not ForecastRun.objects.filter(rerun_of=run).exists() and not launched


def test_staff_with_the_rerun_permission_can(client, django_user_model, launched):
    user = django_user_model.objects.create_user("ops", password="pw", is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_forecastrun", "rerun_forecastrun"])
    )
    client.force_login(user)
    run = make_run()
    assert "Started 1 rerun(s)" in _rerun(client, run).text
    assert ForecastRun.objects.filter(rerun_of=run).count() == 1
