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


def test_rerun_with_another_predictor_asks_then_freezes_it(admin_client, launched, tmp_path):
    run = make_run()
    asked = admin_client.post(
        CHANGELIST, {"action": "rerun_with_predictor", "_selected_action": [run.pk]}
    )
    assert asked.status_code == 200 and 'id="rerun-with-form"' in asked.text
    assert not ForecastRun.objects.filter(rerun_of=run).exists()
    checkpoint = tmp_path / "other.npz"
    checkpoint.write_bytes(b"weights")
    response = admin_client.post(
        CHANGELIST,
        {
            "action": "rerun_with_predictor",
            "_selected_action": [run.pk],
            "apply": "Rerun",
            "predictor_spec": str(checkpoint),
        },
        follow=True,
    )
    assert "Started 1 rerun(s)" in response.text
    new = ForecastRun.objects.get(rerun_of=run)
    assert new.predictor_spec == str(checkpoint) and new.checkpoint_name == "other.npz"
    assert len(new.config["checkpoint_sha256"]) == 64 and launched == [new.pk]
    missing = admin_client.post(
        CHANGELIST,
        {
            "action": "rerun_with_predictor",
            "_selected_action": [run.pk],
            "apply": "Rerun",
            "predictor_spec": str(tmp_path / "nope.npz"),
        },
        follow=True,
    )
    assert "nope.npz does not exist" in missing.text


def test_cancel_queued_runs_and_refuse_finished_ones(admin_client, launched):
    queued, done = make_run(), make_run()
    services.run_mark_running(run_id=done.pk)
    services.run_mark_succeeded(run_id=done.pk)
    response = admin_client.post(
        CHANGELIST,
        {"action": "cancel_selected", "_selected_action": [queued.pk, done.pk]},
        follow=True,
    )
    assert "Cancelled 1 run(s)" in response.text and "only queued or running" in response.text
    queued.refresh_from_db()
    assert queued.status == "cancelled" and queued.cancelled_by.username == "admin"
    assert queued.cancelled_at is not None
    assert LogEntry.objects.filter(change_message=f"cancelled run {queued.pk}").count() == 1


def test_backfill_form_creates_the_missing_cycles(admin_client, launched):
    import datetime as dt

    from tests.webapp.runs.factories import INIT

    like = make_run()  # INIT 00 UTC: already has a run
    url = "/admin/runs/forecastrun/backfill/"
    assert 'id="backfill-form"' in admin_client.get(url).text
    response = admin_client.post(
        url,
        {
            "start": "2026-11-15 12:00",
            "end": "2026-11-16 00:00",
            "every_hours": "6",
            "like_run": like.pk,
        },
        follow=True,
    )
    assert "Backfill started 2 run(s)" in response.text and "skipped 1" in response.text
    new = ForecastRun.objects.filter(triggered_by="backfill").order_by("init_time")
    assert [r.init_time for r in new] == [
        INIT - dt.timedelta(hours=12),
        INIT - dt.timedelta(hours=6),
    ]
    assert all(r.lineage["backfill_like_run"] == like.pk for r in new)
    assert sorted(launched) == sorted(r.pk for r in new)
    too_many = admin_client.post(
        url, {"start": "2026-10-01", "end": "2026-11-01", "every_hours": "6", "like_run": like.pk}
    )
    assert "at most 20 per backfill" in too_many.text


def test_anonymous_and_unprivileged_users_trigger_nothing(client, django_user_model, launched):
    run = make_run()
    for response in (
        client.get("/admin/runs/forecastrun/backfill/"),
        client.post(CHANGELIST, {"action": "cancel_selected", "_selected_action": [run.pk]}),
        client.post("/admin/runs/forecastrun/backfill/", {"start": "2026-11-15"}),
    ):
        assert response.status_code == 302 and "/admin/login/" in response["Location"]
    viewer = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_forecastrun"))
    client.force_login(viewer)
    assert client.get("/admin/runs/forecastrun/backfill/").status_code == 403
    client.post(CHANGELIST, {"action": "cancel_selected", "_selected_action": [run.pk]})
    run.refresh_from_db()
    assert run.status == "queued" and not launched


def test_actions_need_the_csrf_token(django_user_model, launched):
    from django.test import Client

    run = make_run()
    client = Client(enforce_csrf_checks=True)
    client.force_login(django_user_model.objects.create_superuser("root", password="pw"))
    response = client.post(CHANGELIST, {"action": "cancel_selected", "_selected_action": [run.pk]})
    assert response.status_code == 403
    run.refresh_from_db()
    assert run.status == "queued"
