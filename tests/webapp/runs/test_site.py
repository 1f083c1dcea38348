"""The site's pages on real forecast files: home, viewer, maps on demand, meteogram, compare,
downloads (traversal-safe), and no server paths while a run is queued."""

from __future__ import annotations

import datetime as dt
import io

import numpy as np
import pytest
import xarray as xr
from django.urls import reverse
from PIL import Image

from tests.forecast.plots.factories import make_forecast
from tests.webapp.runs.factories import INIT, make_run
from webapp.runs import paths, services, viewer
from webapp.verification.models import RunVerification

pytestmark = pytest.mark.django_db


@pytest.fixture
def stores(settings, tmp_path, monkeypatch):
    """Runs and media under tmp_path; cartopy pointed at the project's offline shapes."""
    settings.GCF_RUNS_DIR = tmp_path / "runs"
    settings.MEDIA_ROOT = tmp_path / "media"
    return tmp_path


def _succeeded_run(*, steps: int = 8, init=INIT, shift: float = 0.0, **overrides):
    run = make_run(grid_deg=5.0, steps=steps, init_time=init, **overrides)
    services.run_mark_running(run_id=run.pk)
    forecast = make_forecast(
        steps=steps,
        resolution=5.0,
        levels=(500, 850),
        init_time=init.replace(tzinfo=None).isoformat(),
        shift=shift,
    )
    path = paths.forecast_path(run.pk)
    path.parent.mkdir(parents=True, exist_ok=True)
    forecast.to_netcdf(path)
    services.run_mark_succeeded(run_id=run.pk)
    run.refresh_from_db()
    return run, forecast


def _png(response) -> Image.Image:
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"] == "image/png"
    image = Image.open(io.BytesIO(b"".join(response.streaming_content)))
    assert image.size[0] >= 1000  # sharp on a 1440-px screen
    return image


def test_home_without_runs(client, stores):
    page = client.get(reverse("runs:home")).text
    assert "No forecast yet" in page and "Next scheduled cycle" in page


def test_home_shows_the_latest_run_and_pipeline(client, stores):
    run, _ = _succeeded_run()
    queued = make_run(init_time=INIT + dt.timedelta(days=1))
    failed = make_run(init_time=INIT - dt.timedelta(days=1))
    services.run_mark_running(run_id=failed.pk)
    services.run_mark_failed(run_id=failed.pk, error=RuntimeError("disk full"))
    page = client.get(reverse("runs:home") + "?lead=24").text
    assert "SYNTHETIC DATA" in page and "persistence" in page
    assert f"{reverse('runs:map_png', args=[run.pk])}?kind=forecast" in page
    assert f"Run #{queued.pk}" in page and "disk full" in page
    assert "UTC" in page
    assert "Verification so far" not in page  # nothing scored yet
    older, _ = _succeeded_run(init=INIT - dt.timedelta(days=2))
    RunVerification.objects.create(run=older, leads_scored=[6, 12], leads_total=8)
    page = client.get(reverse("runs:home")).text
    assert "Verification so far" in page and f"run #{older.pk}</a>" in page
    assert "Scored 2 of 8 leads" in page
    state = client.get(reverse("runs:pipeline")).json()
    assert [r["id"] for r in state["active"]] == [queued.pk]
    assert set(state) >= {"queues", "workers", "error"}


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        ("kind=forecast&variable=2m_temperature&region=global&lead=6", "map_2m_temperature_006h"),
        (
            "kind=forecast&variable=temperature&level=850&region=europe&lead=48",
            "map_temperature_850hPa_europe_048h",
        ),
        (
            "kind=forecast&variable=geopotential&level=500&region=tropics&lead=12",
            "map_geopotential_500hPa_tropics_012h",
        ),
    ],
)
def test_maps_render_on_demand_then_come_from_the_cache(client, stores, query, fragment):
    run, _ = _succeeded_run()
    url = reverse("runs:map_png", args=[run.pk]) + "?" + query
    _png(client.get(url))
    cached = list((stores / "media" / "runs" / str(run.pk)).glob(f"{fragment}.png"))
    assert len(cached) == 1
    mtime = cached[0].stat().st_mtime_ns
    _png(client.get(url))
    assert cached[0].stat().st_mtime_ns == mtime  # served, not redrawn


@pytest.mark.parametrize(
    "query",
    [
        "kind=../../secret&variable=y&lead=6",  # would be media/secret_y_006h.png
        "kind=forecast&variable=../../secret&lead=6",
        "kind=forecast&variable=2m_temperature&region=../x&lead=6",
        "kind=forecast&variable=2m_temperature&lead=-6",
        "kind=forecast&variable=2m_temperature&lead=x",
    ],
)
def test_map_names_cannot_leave_the_cache(client, stores, query):
    run, _ = _succeeded_run()
    secret = stores / "media" / "secret_y_006h.png"
    secret.parent.mkdir(parents=True, exist_ok=True)
    secret.write_bytes(b"not yours")
    # A first map creates the run's cache directory (".." then resolves from it).
    url = reverse("runs:map_png", args=[run.pk])
    _png(client.get(url + "?kind=forecast&variable=2m_temperature&lead=6"))
    assert client.get(reverse("runs:map_png", args=[run.pk]) + "?" + query).status_code == 404


def test_truth_and_error_maps_only_where_truth_exists(client, stores):
    run, forecast = _succeeded_run()
    url = reverse("runs:map_png", args=[run.pk])
    assert client.get(url + "?kind=truth&variable=2m_temperature&lead=6").status_code == 404
    truth = make_forecast(steps=8, resolution=5.0, levels=(500, 850), shift=0.4, seed=3)
    truth.isel(time=slice(0, 4)).drop_vars("lead_time").to_netcdf(
        paths.run_dir(run.pk) / "truth.nc"
    )
    _png(client.get(url + "?kind=truth&variable=2m_temperature&lead=6"))
    _png(client.get(url + "?kind=error&variable=geopotential&level=500&lead=24"))
    assert client.get(url + "?kind=error&variable=2m_temperature&lead=30").status_code == 404
    page = client.get(reverse("runs:maps", args=[run.pk])).text
    assert '"truth_leads": [6, 12, 18, 24]' in page


def test_difference_against_another_run(client, stores):
    a, _ = _succeeded_run()
    b, _ = _succeeded_run(init=INIT + dt.timedelta(hours=12), shift=0.5)
    url = reverse("runs:map_png", args=[a.pk])
    _png(
        client.get(url + f"?kind=difference&variable=mean_sea_level_pressure&lead=24&other={b.pk}")
    )
    # B starts 12 h later: A's +6 h has no B counterpart.
    assert (
        client.get(
            url + f"?kind=difference&variable=2m_temperature&lead=6&other={b.pk}"
        ).status_code
        == 404
    )
    page = client.get(reverse("runs:compare") + f"?a={a.pk}&b={b.pk}").text
    assert f"run #{b.pk} (B)" in page and "Score deltas" in page
    assert 'data-offset="12"' in page


def test_download_is_the_forecast_file_and_traversal_safe(client, stores):
    run, forecast = _succeeded_run()
    response = client.get(reverse("runs:download", args=[run.pk, "forecast.nc"]))
    assert response.status_code == 200
    assert "attachment" in response["Content-Disposition"]
    saved = stores / "downloaded.nc"
    saved.write_bytes(b"".join(response.streaming_content))
    with xr.open_dataset(saved) as downloaded:
        np.testing.assert_array_equal(
            downloaded["2m_temperature"].values, forecast["2m_temperature"].values
        )
    (stores / "secret.nc").write_bytes(b"x")
    for name in ("..%2Fsecret.nc", "inputs.nc", "..", "%2e%2e"):
        assert client.get(f"/runs/{run.pk}/files/{name}").status_code == 404


def test_queued_run_shows_no_paths_and_no_files(client, stores):
    run = make_run()
    services.run_record_lineage(run_id=run.pk, forecast_path=str(stores / "runs" / "1" / "x.nc"))
    for name in ("runs:detail", "runs:maps"):
        page = client.get(reverse(name, args=[run.pk])).text
        assert str(stores) not in page and "/runs/1/x.nc" not in page
    assert client.get(reverse("runs:download", args=[run.pk, "forecast.nc"])).status_code == 404
    assert client.get(reverse("runs:map_png", args=[run.pk]) + "?lead=6").status_code == 404


def test_meteogram_by_city_and_by_point(client, stores):
    run, _ = _succeeded_run()
    page = client.get(reverse("runs:meteogram", args=[run.pk]) + "?city=Reading").text
    assert "Reading" in page and "2 m temperature (°C)" in page and "+048 h" not in page
    assert page.count("<tr>") >= 9  # header + 8 leads
    page = client.get(reverse("runs:meteogram", args=[run.pk]) + "?lat=-33.9&lon=-181").text
    assert client.get(reverse("runs:meteogram", args=[run.pk]) + "?lat=95&lon=0").status_code == 404
    image = client.get(reverse("runs:meteogram_png", args=[run.pk]) + "?lat=51.45&lon=-0.97")
    assert image.status_code == 200 and image["Content-Type"] == "image/png"


def test_compare_candidates_and_leads_valid_at_the_same_time(stores):
    a, _ = _succeeded_run(steps=8)
    later, _ = _succeeded_run(steps=8, init=INIT + dt.timedelta(hours=12))
    far, _ = _succeeded_run(steps=8, init=INIT + dt.timedelta(days=5))  # no overlap
    rerun = make_run(grid_deg=5.0, steps=8, rerun_of=a)
    services.run_mark_running(run_id=rerun.pk)
    services.run_mark_succeeded(run_id=rerun.pk)
    found = {c["id"]: c["label"] for c in viewer.run_compare_candidates(run=a)}
    assert set(found) == {later.pk, rerun.pk}
    assert "init +12 h" in found[later.pk] and "rerun of this run" in found[rerun.pk]
    assert viewer.run_lead_for_valid_time(run=a, other=later, lead=24) == 12
    assert viewer.run_lead_for_valid_time(run=a, other=later, lead=6) is None


def test_next_cycle_from_the_daily_cron(settings):
    settings.GCF_DAILY_CRON = "15 6 * * *"
    now = dt.datetime(2026, 11, 30, 7, 0, tzinfo=dt.UTC)
    assert viewer.pipeline_next_cycle(now=now)["next"] == dt.datetime(
        2026, 12, 1, 6, 15, tzinfo=dt.UTC
    )
    now = dt.datetime(2026, 11, 30, 5, 0, tzinfo=dt.UTC)
    assert viewer.pipeline_next_cycle(now=now)["next"].day == 30
    settings.GCF_DAILY_CRON = "*/30 * * * *"  # not a daily cron: shown as text, no time
    assert viewer.pipeline_next_cycle(now=now) == {"cron": "*/30 * * * *", "next": None}


def test_active_run_eta_from_its_pace(stores):
    run = make_run(steps=40)
    services.run_mark_running(run_id=run.pk)
    services.run_update_progress(run_id=run.pk, step=10, total=40)
    (active,) = viewer.pipeline_active_runs()
    assert (active["step"], active["total"], active["percent"]) == (10, 40, 25)
    run.refresh_from_db()
    # 30 steps to go at the pace of the first 10: three times the time spent so far.
    assert active["eta"] is not None and active["eta"] > run.running_at
