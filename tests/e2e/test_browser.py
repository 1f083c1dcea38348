"""The site in a real browser (Debian chromium via Playwright): run list, a run's maps, and an
admin rerun that the real flow completes."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from django.db import connection

from flows.daily import daily_forecast
from webapp.runs.models import ForecastRun, Product

pytestmark = [pytest.mark.slow, pytest.mark.network]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
Status = ForecastRun.Status


@pytest.fixture
def browser(monkeypatch):
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium is not installed (scripts/setup.sh installs it)")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an asyncio loop on this thread; the ORM calls the test makes
    # between page actions are still plain synchronous code.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def _wait_finished(run_id: int, timeout: float) -> ForecastRun:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = ForecastRun.objects.get(pk=run_id)
        if run.is_terminal:
            return run
        time.sleep(1)
    raise TimeoutError(f"run {run_id} not finished after {timeout} s: {run.status} {run.stage}")


def _assert_maps_loaded(page) -> None:
    """The run page links to its map viewer, whose first map loads."""
    viewer = page.get_attribute("#open-viewer", "href")
    assert viewer.endswith("/maps/")
    page.goto(page.url.split("/runs/")[0] + viewer, wait_until="domcontentloaded")
    page.wait_for_function(
        "() => { const i = document.getElementById('map-main');"
        " return i && i.complete && i.naturalWidth > 1000 && i.dataset.shown; }",
        timeout=60_000,
    )


def _wait_flow_process_exit(run_id: int, *, timeout: float) -> None:
    """Waits until the detached `python -m flows.daily --run-id N` process has exited.

    It still holds a database session while Prefect finalises the flow run; the test database
    cannot be dropped until it lets go.
    """
    needle = f"flows.daily\0--run-id\0{run_id}\0".encode()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = False
        for proc in Path("/proc").iterdir():
            try:
                alive |= proc.name.isdigit() and needle in (proc / "cmdline").read_bytes()
            except OSError:
                continue
        if not alive:
            return
        time.sleep(0.5)
    raise AssertionError(f"flow process of run {run_id} still running after {timeout} s")


def test_run_pages_and_admin_rerun(
    cycle, browser, live_server, django_user_model, settings, monkeypatch, tmp_path
):
    try:
        _run_pages_and_admin_rerun(
            live_server, browser, django_user_model, settings, monkeypatch, tmp_path
        )
    finally:
        # Under Playwright's sync API the test body runs in its own context, so its database
        # connection is not the one pytest-django closes: close it here or the test database
        # cannot be dropped at the end of the session.
        connection.close()


def _run_pages_and_admin_rerun(
    live_server, browser, django_user_model, settings, monkeypatch, screenshots: Path
):
    import prefect.settings

    settings.GCF_PREDICTOR = "persistence"
    # The rerun's flow subprocess reports to this session's Prefect API (no second server).
    settings.GCF_FLOW_LAUNCH = "subprocess"
    monkeypatch.setenv("PREFECT_API_URL", prefect.settings.PREFECT_API_URL.value())
    original_id = daily_forecast(init_time="2026-11-16T00:00:00")
    django_user_model.objects.create_superuser("admin", "admin@example.org", "s3cret-pass")
    page = browser.new_page(viewport={"width": 1400, "height": 1000})

    # Run list → the run's page with its maps.
    page.goto(live_server.url + "/runs/")
    row = page.locator("#runs tbody tr").first
    assert "Succeeded" in row.inner_text() and "SYNTHETIC" in row.inner_text()
    row.locator(f"a:has-text('#{original_id}')").click()
    page.wait_for_url(f"**/runs/{original_id}/")
    assert "SYNTHETIC DATA" in page.locator("#synthetic-banner").inner_text()
    _assert_maps_loaded(page)
    first_src = page.locator("#map-main").get_attribute("src")
    page.keyboard.press("ArrowRight")
    page.wait_for_function(
        "src => { const i = document.getElementById('map-main');"
        " return i.dataset.shown && i.getAttribute('src') !== src && i.complete; }",
        arg=first_src,
    )
    assert "T+012 h" in page.inner_text("#lead-label")
    page.screenshot(path=str(screenshots / "run_maps.png"), full_page=True)

    # Admin: log in, select the run, "Rerun selected runs".
    page.goto(live_server.url + "/admin/login/?next=/admin/runs/forecastrun/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", "s3cret-pass")
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/runs/forecastrun/")
    page.check(f"input[name=_selected_action][value='{original_id}']")
    page.select_option("select[name=action]", "rerun_selected")
    page.click("button[name=index]")
    message = page.locator(".messagelist .success").inner_text()
    assert "Started 1 rerun(s)" in message

    rerun = ForecastRun.objects.get(rerun_of_id=original_id)
    assert (
        rerun.triggered_by == ForecastRun.Trigger.ADMIN
        and rerun.triggered_by_user.username == "admin"
    )
    assert rerun.launched_via == ForecastRun.Launch.SUBPROCESS
    connection.close()
    rerun = _wait_finished(rerun.pk, timeout=240)
    assert rerun.status == Status.SUCCEEDED, (rerun.error_type, rerun.error_message)
    _wait_flow_process_exit(rerun.pk, timeout=60)
    assert rerun.prefect_flow_run_id
    assert (
        Product.objects.filter(run=rerun).count()
        == Product.objects.filter(run_id=original_id).count()
    )

    page.goto(live_server.url + f"/runs/{rerun.pk}/")
    assert f"Rerun of run #{original_id}" in page.inner_text("main")
    _assert_maps_loaded(page)
