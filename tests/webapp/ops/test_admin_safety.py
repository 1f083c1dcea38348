"""Every admin action, whoever registers it, needs login, permission and a CSRF token.

The actions are discovered from the admin site, so actions added later (cancel, backfill...)
are covered too. Nothing may change: no new run, no log entry.
"""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.admin.models import LogEntry
from django.test import Client

from tests.webapp.runs.factories import make_run
from webapp.runs.models import ForecastRun

pytestmark = pytest.mark.django_db


def _actions() -> list[tuple[str, str]]:
    """(changelist URL, action name) of every custom admin action."""
    found = []
    for model, model_admin in admin.site._registry.items():
        for action in model_admin.actions or ():
            name = action if isinstance(action, str) else action.__name__
            url = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
            found.append((url, name))
    return found


ACTIONS = _actions()


def _post(client: Client, url: str, action: str, run: ForecastRun):
    return client.post(url, {"action": action, "_selected_action": [str(run.pk)], "index": "0"})


def _unchanged(run: ForecastRun, runs_before: int) -> None:
    assert ForecastRun.objects.count() == runs_before
    assert LogEntry.objects.count() == 0
    fresh = ForecastRun.objects.get(pk=run.pk)
    assert (fresh.status, fresh.updated_at) == (run.status, run.updated_at)


def test_there_are_actions_to_check():
    assert ("/admin/runs/forecastrun/", "rerun_selected") in ACTIONS


@pytest.mark.parametrize(("url", "action"), ACTIONS)
def test_anonymous_is_sent_to_login(url, action):
    run = make_run()
    response = _post(Client(), url, action, run)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    _unchanged(run, 1)


@pytest.mark.parametrize(("url", "action"), ACTIONS)
def test_staff_without_permission_is_refused(url, action, django_user_model):
    run = make_run()
    client = Client()
    client.force_login(django_user_model.objects.create_user("staff", password="x", is_staff=True))
    assert _post(client, url, action, run).status_code == 403
    _unchanged(run, 1)


@pytest.mark.parametrize(("url", "action"), ACTIONS)
def test_superuser_without_csrf_token_is_refused(url, action, django_user_model):
    run = make_run()
    client = Client(enforce_csrf_checks=True)
    client.force_login(django_user_model.objects.create_superuser("root", password="x"))
    response = _post(client, url, action, run)
    assert response.status_code == 403
    assert b"CSRF" in response.content
    _unchanged(run, 1)
