"""The run list, run detail and status pages render what the record holds."""

from __future__ import annotations

import time

import pytest
from django.urls import reverse

from tests.webapp.runs.factories import make_run
from webapp.runs import services
from webapp.runs.models import Product

pytestmark = pytest.mark.django_db


def test_run_list_shows_runs_and_the_synthetic_tag(client):
    run = make_run()
    response = client.get(reverse("runs:list"))
    assert response.status_code == 200
    assert f"#{run.pk}" in response.text and "SYNTHETIC" in response.text


def test_empty_run_list_says_how_to_start(client):
    assert "python -m flows.daily" in client.get(reverse("runs:list")).text


def test_detail_shows_banner_fallback_and_error(client, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    run = make_run(predictor_note="fallback: the demo checkpoint does not exist")
    services.run_mark_running(run_id=run.pk)
    (tmp_path / "runs").mkdir()
    for lead in (6, 12):
        (tmp_path / "runs" / f"t{lead}.png").write_bytes(b"png")
    services.run_publish_products(
        run_id=run.pk,
        products=[
            {
                "kind": "map",
                "variable": "2m_temperature",
                "level": None,
                "lead_hours": lead,
                "file": f"runs/t{lead}.png",
            }
            for lead in (6, 12)
        ],
    )
    services.run_mark_failed(run_id=run.pk, error=RuntimeError("render exploded"))

    page = client.get(reverse("runs:detail", args=[run.pk])).text
    assert "SYNTHETIC DATA" in page
    assert "fallback: the demo checkpoint does not exist" in page
    assert "RuntimeError" in page and "render exploded" in page
    # A failed run offers no viewer or downloads (tests/webapp/runs/test_site.py has them).
    assert "open the map viewer" not in page


def test_real_data_run_has_no_synthetic_banner(client):
    run = make_run(data_source="cds")
    assert "SYNTHETIC DATA" not in client.get(reverse("runs:detail", args=[run.pk])).text


def test_unknown_run_is_404(client):
    assert client.get(reverse("runs:detail", args=[999999])).status_code == 404


def test_status_json(client):
    run = make_run()
    services.run_mark_running(run_id=run.pk)
    services.run_update_progress(run_id=run.pk, step=1, total=2)
    data = client.get(reverse("runs:status", args=[run.pk])).json()
    assert data["status"] == "running" and (data["progress_step"], data["progress_total"]) == (1, 2)


def test_media_is_served(client, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    (tmp_path / "a.png").write_bytes(b"\x89PNG")
    assert client.get("/media/a.png").status_code == 200
    assert not Product.objects.exists()


def test_lineage_is_shown_readably(client):
    run = make_run()
    services.run_mark_running(run_id=run.pk)
    services.run_mark_succeeded(run_id=run.pk)
    services.run_record_lineage(
        run_id=run.pk,
        inputs=[{"path": "/cache/a.nc", "sha256": "ab" * 32}],
        libraries={"jax": "0.10.2", "xarray": "2026.9.0"},
    )
    services.run_record_timing(run_id=run.pk, stage="rollout_wall", seconds=12.345)
    page = client.get(reverse("runs:detail", args=[run.pk])).text
    assert "path /cache/a.nc · sha256 " + "ab" * 32 in page
    assert "jax 0.10.2 · xarray 2026.9.0" in page
    assert "time: rollout wall" in page and "12.3 s" in page


def test_run_list_filters_and_pages(client):
    import datetime as dt

    from tests.webapp.runs.factories import INIT

    runs = [make_run(init_time=INIT - dt.timedelta(hours=6 * n)) for n in range(55)]
    cds = make_run(init_time=INIT - dt.timedelta(days=30), data_source="cds")
    services.run_mark_running(run_id=runs[3].pk)
    first = client.get(reverse("runs:list")).text
    assert f"#{runs[0].pk}<" in first and f"#{runs[49].pk}<" in first
    assert f"#{runs[50].pk}<" not in first and "page 1 of 2 (56 in all)" in first
    second = client.get(reverse("runs:list"), {"page": 2}).text
    assert f"#{runs[50].pk}<" in second and f"#{cds.pk}<" in second
    running = client.get(reverse("runs:list"), {"status": "running"}).text
    assert f"#{runs[3].pk}<" in running and f"#{runs[0].pk}<" not in running
    cds_only = client.get(reverse("runs:list"), {"data_source": "cds"}).text
    assert f"#{cds.pk}<" in cds_only and f"#{runs[0].pk}<" not in cds_only
    day = client.get(reverse("runs:list"), {"init_from": "2026-11-15", "init_to": "2026-11-15"})
    assert day.text.count('class="badge') == 4
    none = client.get(reverse("runs:list"), {"trigger": "backfill"}).text
    assert 'id="no-match"' in none
    bad = client.get(reverse("runs:list"), {"init_from": "2026-11-15", "init_to": "2026-11-01"})
    assert bad.status_code == 200 and "ends (2026-11-01) before it starts" in bad.text
    assert client.get(reverse("runs:list"), {"status": "nope"}).status_code == 200


def test_cached_run_list_shows_changes_at_once(client):
    run = make_run()
    first = client.get(reverse("runs:list"))
    assert "X-Page-Cache" not in first and "Queued" in first.text
    assert client.get(reverse("runs:list"))["X-Page-Cache"] == "hit"
    services.run_mark_running(run_id=run.pk)
    services.run_update_progress(run_id=run.pk, step=1, total=2)
    fresh = client.get(reverse("runs:list"))
    assert "X-Page-Cache" not in fresh and "Running" in fresh.text and "1/2" in fresh.text


def test_status_json_is_cached_but_follows_progress(client):
    run = make_run()
    url = reverse("runs:status", args=[run.pk])
    assert "X-Page-Cache" not in client.get(url)
    assert client.get(url)["X-Page-Cache"] == "hit"
    services.run_mark_running(run_id=run.pk)
    services.run_update_progress(run_id=run.pk, step=1, total=2)
    fresh = client.get(url)
    assert "X-Page-Cache" not in fresh and fresh.json()["progress_step"] == 1


def test_a_version_ttl_serves_the_cached_page_until_it_expires(client, settings):
    """Production reuses the data version for GCF_PAGE_VERSION_TTL_S: a change shows once
    the version is read again."""
    settings.GCF_PAGE_VERSION_TTL_S = 0.5
    run = make_run()
    url = reverse("runs:status", args=[run.pk])
    time.sleep(0.6)  # a version an earlier test read has expired
    client.get(url)
    services.run_mark_running(run_id=run.pk)
    stale = client.get(url)
    assert stale["X-Page-Cache"] == "hit" and stale.json()["status"] == "queued"
    time.sleep(0.6)
    assert client.get(url).json()["status"] == "running"
