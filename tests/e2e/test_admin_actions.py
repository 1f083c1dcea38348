"""Admin actions in a real browser (Debian chromium via Playwright) on the real service (Redis,
Celery workers, Prefect, flow subprocesses): log in, rerun with another predictor, backfill a
range, cancel a run, and watch each reach its end state; an anonymous user, or a request
without the CSRF token, triggers nothing."""

from __future__ import annotations

import time

import pytest
from django.db import connection
from django.urls import reverse

from flows.daily import daily_forecast
from tests.e2e.test_browser import (  # noqa: F401  (the browser fixture)
    _wait_finished,
    _wait_flow_process_exit,
    browser,
)
from webapp.runs.models import ForecastRun

pytestmark = [pytest.mark.slow, pytest.mark.network]
Status = ForecastRun.Status
CHANGELIST = "/admin/runs/forecastrun/"


def test_admin_rerun_backfill_cancel_and_anonymous_refused(
    cycle,
    browser,  # noqa: F811 - the fixture imported above
    live_server,
    django_user_model,
    settings,
    monkeypatch,
    tmp_path,
):
    try:
        _admin_actions(live_server, browser, django_user_model, settings, monkeypatch, tmp_path)
    finally:
        # The test body runs in Playwright's context: close its own connection (see
        # test_browser.py) so the test database can be dropped.
        connection.close()


def _login(page, base: str) -> None:
    page.goto(base + "/admin/login/?next=" + CHANGELIST)
    page.fill("#id_username", "admin")
    page.fill("#id_password", "s3cret-pass")
    page.click("input[type=submit]")
    page.wait_for_url("**" + CHANGELIST)


def _select_and_act(page, run_ids: list[int], action: str) -> None:
    for run_id in run_ids:
        page.check(f"input[name=_selected_action][value='{run_id}']")
    page.select_option("select[name=action]", action)
    page.click("button[name=index]")


def _admin_actions(live_server, browser, django_user_model, settings, monkeypatch, tmp_path):  # noqa: F811
    import prefect.settings

    settings.GCF_PREDICTOR = "persistence"
    settings.GCF_FLOW_LAUNCH = "subprocess"
    monkeypatch.setenv("PREFECT_API_URL", prefect.settings.PREFECT_API_URL.value())
    original_id = daily_forecast(init_time="2026-11-16T00:00:00")
    django_user_model.objects.create_superuser("admin", "admin@example.org", "s3cret-pass")
    base = live_server.url

    # Anonymous: every admin door leads to the login page, nothing is created.
    anonymous = browser.new_context()
    page = anonymous.new_page()
    page.goto(base + "/admin/runs/forecastrun/backfill/")
    assert "/admin/login/" in page.url
    refused = page.request.post(
        base + CHANGELIST,
        form={"action": "cancel_selected", "_selected_action": str(original_id)},
        max_redirects=0,
    )
    assert refused.status == 403  # no CSRF cookie/token: refused before any login check
    anonymous.close()
    assert ForecastRun.objects.count() == 1

    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    _login(page, base)

    # Logged in but without the CSRF token: refused too.
    forged = page.request.post(
        base + CHANGELIST,
        form={"action": "cancel_selected", "_selected_action": str(original_id)},
        max_redirects=0,
    )
    assert forged.status == 403

    # Rerun with another predictor: the intermediate page asks which.
    _select_and_act(page, [original_id], "rerun_with_predictor")
    page.fill("#id_predictor_spec", "persistence")
    page.screenshot(path=str(tmp_path / "rerun_with.png"), full_page=True)
    page.click("input[name=apply]")
    assert "Started 1 rerun(s)" in page.locator(".messagelist .success").inner_text()
    rerun = ForecastRun.objects.get(rerun_of_id=original_id)
    assert rerun.triggered_by_user.username == "admin"

    # Backfill two cycles before the original, with its configuration.
    page.click("#backfill-link")
    page.fill("#id_start", "2026-11-15 12:00")
    page.fill("#id_end", "2026-11-15 18:00")
    page.select_option("#id_like_run", str(original_id))
    page.screenshot(path=str(tmp_path / "backfill_form.png"), full_page=True)
    page.click("input[name=_backfill]")
    assert "Backfill started 2 run(s)" in page.locator(".messagelist .success").inner_text()
    backfilled = list(
        ForecastRun.objects.filter(triggered_by=ForecastRun.Trigger.BACKFILL).order_by("init_time")
    )
    assert [r.init_time.hour for r in backfilled] == [12, 18]
    assert all(r.lineage.get("backfill_like_run") == original_id for r in backfilled)

    # Cancel the first backfilled run while it is queued or running.
    victim = backfilled[0]
    assert ForecastRun.objects.get(pk=victim.pk).status in (Status.QUEUED, Status.RUNNING)
    page.goto(base + CHANGELIST)
    _select_and_act(page, [victim.pk], "cancel_selected")
    assert "Cancelled 1 run(s)" in page.locator(".messagelist .success").inner_text()

    connection.close()
    for run in (rerun, backfilled[1]):
        done = _wait_finished(run.pk, timeout=400)
        assert done.status == Status.SUCCEEDED, (run.pk, done.error_type, done.error_message)
    for run in (rerun, *backfilled):
        _wait_flow_process_exit(run.pk, timeout=120)
    victim.refresh_from_db()
    assert victim.status == Status.CANCELLED and victim.cancelled_by.username == "admin"
    assert "cancelled by admin" in victim.error_message
    from django.contrib.admin.models import LogEntry

    messages = set(LogEntry.objects.values_list("change_message", flat=True))
    assert f"cancelled run {victim.pk}" in messages
    assert f"rerun of run {original_id} with persistence (subprocess)" in messages

    # The admin list and the site's run list show the end states.
    page.goto(base + CHANGELIST)
    time.sleep(0.5)
    page.screenshot(path=str(tmp_path / "admin_after.png"), full_page=True)
    page.goto(base + reverse("runs:list") + "?trigger=backfill")
    listing = page.locator("#runs").inner_text()
    assert "Cancelled" in listing and "Succeeded" in listing
    page.screenshot(path=str(tmp_path / "run_list_backfill.png"), full_page=True)
    print(f"screenshots in {tmp_path}")
    context.close()
