"""The forecaster's site in a real browser (Debian chromium via Playwright).

Two 10-day runs (40 leads) of forecast files and the truth for the first two days of one:
flip all 40 leads with the keyboard and see each map change; switch field, level, product and
region; click the map for a meteogram; compare the two runs; download the forecast file and
open it with xarray. Screenshots go to pytest's tmp dir (printed) for a person to look at.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from django.db import connection

from tests.e2e.test_browser import browser  # noqa: F401 - the chromium fixture
from tests.forecast.plots.factories import make_forecast
from tests.webapp.runs.factories import make_run
from webapp.runs import paths, services

pytestmark = [pytest.mark.slow, pytest.mark.network]

INIT = dt.datetime(2026, 11, 16, 0, tzinfo=dt.UTC)
LEADS = [6 * k for k in range(1, 41)]
CARTOPY_DIR = Path(__file__).resolve().parents[2] / "var" / "cartopy"


def _run_with_forecast(*, init: dt.datetime, shift: float, truth_leads: int = 0):
    run = make_run(grid_deg=4.0, steps=40, init_time=init, levels=3)
    services.run_mark_running(run_id=run.pk)
    forecast = make_forecast(
        steps=40,
        resolution=4.0,
        levels=(500, 700, 850),
        init_time=init.replace(tzinfo=None).isoformat(),
        shift=shift,
        seed=int(shift * 10),
    )
    path = paths.forecast_path(run.pk)
    path.parent.mkdir(parents=True, exist_ok=True)
    forecast.to_netcdf(path)
    if truth_leads:
        truth = make_forecast(
            steps=40, resolution=4.0, levels=(500, 700, 850), shift=shift + 0.35, seed=7
        )
        truth = truth.isel(time=slice(0, truth_leads)).drop_vars("lead_time")
        truth.attrs = {"source": "synthetic", "synthetic": 1}
        truth.to_netcdf(paths.run_dir(run.pk) / "truth.nc")
    services.run_mark_succeeded(run_id=run.pk)
    return run, forecast


@pytest.fixture
def site(transactional_db, live_server, settings, tmp_path, monkeypatch):
    settings.GCF_RUNS_DIR = tmp_path / "runs"
    settings.MEDIA_ROOT = tmp_path / "media"
    monkeypatch.setenv("CARTOPY_DATA_DIR", str(CARTOPY_DIR))
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    a, forecast = _run_with_forecast(init=INIT, shift=0.0, truth_leads=8)
    b, _ = _run_with_forecast(init=INIT + dt.timedelta(hours=12), shift=0.25)
    yield {"url": live_server.url, "a": a, "b": b, "forecast": forecast, "shots": tmp_path}
    connection.close()


def _shown(page, fragment: str, lead: int, pane: str = "main") -> str:
    """Waits until the pane shows a loaded map whose URL has `fragment` and ends in `lead`
    (the pane's own lead: run B's lead in the compare view)."""
    page.wait_for_function(
        """([pane, fragment, lead]) => {
            const img = document.querySelector(`[data-pane=${pane}] img`);
            return img && !img.hidden && img.complete && img.naturalWidth > 1000
                && img.dataset.shown.includes(fragment)
                && img.dataset.shown.endsWith(`&lead=${lead}`);
        }""",
        arg=[pane, fragment, lead],
        timeout=60_000,
    )
    return page.locator(f"[data-pane={pane}] img").get_attribute("src")


def test_viewer_compare_meteogram_download(site, browser):  # noqa: F811
    url, a, b, shots = site["url"], site["a"], site["b"], site["shots"]
    page = browser.new_page(viewport={"width": 1440, "height": 1000})

    page.goto(f"{url}/")
    assert "SYNTHETIC DATA" in page.inner_text("#synthetic-banner")
    page.wait_for_function(
        "() => [...document.querySelectorAll('#key-maps img')].every(i => i.complete && i.naturalWidth > 0)"
    )
    page.screenshot(path=str(shots / "home.png"), full_page=True)

    # Viewer: prefetch all 40 leads, then flip through every one with the keyboard.
    page.goto(f"{url}/runs/{a.pk}/maps/")
    page.wait_for_function(
        "() => document.getElementById('prefetch-state').textContent.startsWith('all 40')",
        timeout=120_000,
    )
    page.keyboard.press("Home")
    seen = [_shown(page, "variable=2m_temperature", 6)]
    for lead in LEADS[1:]:
        page.keyboard.press("ArrowRight")
        seen.append(_shown(page, "variable=2m_temperature", lead))
        label = page.inner_text("#lead-label")
        assert f"T+{lead:03d} h" in label and "UTC" in label
        if lead > 72:
            assert "day" in label
    assert len(set(seen)) == 40  # every key press showed a different map
    page.keyboard.press("ArrowRight")  # past the end: stays on the last lead
    _shown(page, "kind=forecast", 240)
    page.screenshot(path=str(shots / "viewer_t2m_240h.png"))
    page.keyboard.press("Home")
    _shown(page, "kind=forecast", 6)
    page.keyboard.press("End")
    _shown(page, "kind=forecast", 240)
    flips = page.evaluate("window.viewerStats.flips")
    print(f"flip times over 40 leads (ms): median {np.median(flips):.1f}, max {max(flips):.1f}")

    # Field, level, product, region.
    page.keyboard.press("Home")
    page.select_option("#sel-field", "temperature")
    page.select_option("#sel-level", "700")
    _shown(page, "variable=temperature&level=700&region=global", 6)
    page.select_option("#sel-region", "europe")
    _shown(page, "region=europe", 6)
    page.screenshot(path=str(shots / "viewer_t700_europe.png"))
    page.select_option("#sel-kind", "error")
    page.select_option("#sel-region", "global")
    _shown(page, "kind=error&variable=temperature&level=700&region=global", 6)
    page.screenshot(path=str(shots / "viewer_error_t700.png"))
    page.keyboard.press("End")  # no truth at +240 h: the viewer says so instead of a map
    page.wait_for_function(
        "() => document.querySelector('[data-pane=main] img').dataset.shown === 'none'"
    )
    assert "not arrived" in page.inner_text("[data-pane=main] .missing")
    page.keyboard.press("Home")
    page.select_option("#sel-kind", "truth")
    page.select_option("#sel-field", "mean_sea_level_pressure")
    _shown(page, "kind=truth&variable=mean_sea_level_pressure", 6)
    page.select_option("#sel-kind", "difference")
    page.select_option("#sel-other", str(b.pk))
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    _shown(page, f"kind=difference&variable=mean_sea_level_pressure&region=global&other={b.pk}", 18)
    page.screenshot(path=str(shots / "viewer_difference.png"))

    # Click the map (Europe, forecast) → a meteogram there.
    page.select_option("#sel-kind", "forecast")
    page.select_option("#sel-field", "2m_temperature")
    page.select_option("#sel-region", "europe")
    _shown(page, "kind=forecast&variable=2m_temperature&region=europe", 18)
    box = page.locator("[data-pane=main] img").bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.4, box["y"] + box["height"] * 0.5)
    page.wait_for_url("**/meteogram/?lat=*")
    lat = float(page.url.split("lat=")[1].split("&")[0])
    lon = float(page.url.split("lon=")[1].split("&")[0])
    assert 35 < lat < 75 and -12.5 < lon < 42.5
    page.wait_for_function("() => document.getElementById('meteogram').naturalWidth > 1000")
    assert page.locator("#meteogram-table tbody tr").count() == 40
    page.select_option("#sel-city", "Reading")
    page.wait_for_url("**city=Reading*")
    page.wait_for_function("() => document.getElementById('meteogram').naturalWidth > 1000")
    assert "2 m temperature (°C)" in page.locator("#meteogram-table thead").text_content()
    rows = page.locator("#meteogram-table tbody tr")
    assert "(" in rows.nth(0).inner_text()  # truth in brackets where it has arrived
    assert "(" not in rows.nth(39).inner_text()
    page.screenshot(path=str(shots / "meteogram_reading.png"), full_page=True)

    # Compare: A and B valid at the same time, and A − B.
    page.goto(f"{url}/compare/?a={a.pk}&b={b.pk}")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    _shown(page, f"/runs/{a.pk}/map.png?kind=forecast", 18, "main")
    _shown(page, f"/runs/{b.pk}/map.png?kind=forecast", 6, "b")  # B started 12 h later
    _shown(page, f"kind=difference&variable=2m_temperature&region=global&other={b.pk}", 18, "diff")
    page.keyboard.press("Home")  # A's +6 h is before B's init: said, not drawn
    page.wait_for_function(
        "() => document.querySelector('[data-pane=b] img').dataset.shown === 'none'"
    )
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    _shown(page, f"/runs/{b.pk}/map.png?kind=forecast", 6, "b")
    page.screenshot(path=str(shots / "compare.png"), full_page=True)

    # Download the forecast file from the run page and open it.
    page.goto(f"{url}/runs/{a.pk}/")
    with page.expect_download() as download_info:
        page.click("a.download[data-name='forecast.nc']")
    saved = shots / "downloaded.nc"
    download_info.value.save_as(saved)
    with xr.open_dataset(saved) as downloaded:
        assert downloaded.sizes["time"] == 40
        np.testing.assert_array_equal(
            downloaded["2m_temperature"].values, site["forecast"]["2m_temperature"].values
        )
    print(f"screenshots in {shots}")
