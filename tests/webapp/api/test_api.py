"""The JSON API: filters and pagination, a run's detail, products, scores (display units)
and point forecast, errors as JSON, the OpenAPI schema."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from tests.webapp.runs.factories import INIT, make_run
from tests.webapp.verification.factories import (  # noqa: F401
    make_forecast_run,
    shared_cache,
    var_dir,
)
from webapp.runs import services
from webapp.verification import services as score_services

pytestmark = pytest.mark.django_db


def _sums(**overrides) -> dict:
    row = {
        "predictor": "model", "variable": "geopotential", "level": 500, "lead_hours": 6,
        "region": "global", "valid_time": pd.Timestamp("2026-11-16T06", tz="UTC"),
        "sum_w": 1.0, "sum_e": 98.0665, "sum_e2": 4 * 98.0665**2, "sum_abs_e": 98.0665,
        "sum_fa": 1.0, "sum_ff": 1.0, "sum_aa": 1.0,
    }  # fmt: skip
    return {**row, **overrides}


def test_run_list_filters_and_paginates(client):
    runs = [make_run(init_time=INIT - dt.timedelta(hours=6 * n)) for n in range(5)]
    services.run_mark_running(run_id=runs[0].pk)
    cds = make_run(init_time=INIT - dt.timedelta(days=3), data_source="cds")
    page = client.get("/api/runs/", {"limit": 2}).json()
    assert page["count"] == 6 and [r["id"] for r in page["items"]] == [runs[0].pk, runs[1].pk]
    assert page["items"][0]["init_time"] == "2026-11-16T00:00:00Z"  # UTC, ISO 8601
    second = client.get("/api/runs/", {"limit": 2, "offset": 2}).json()
    assert [r["id"] for r in second["items"]] == [runs[2].pk, runs[3].pk]
    running = client.get("/api/runs/", {"status": "running"}).json()
    assert [r["id"] for r in running["items"]] == [runs[0].pk]
    assert [r["id"] for r in client.get("/api/runs/", {"data_source": "cds"}).json()["items"]] == [
        cds.pk
    ]
    window = client.get("/api/runs/", {"init_from": "2026-11-15", "init_to": "2026-11-15"})
    assert window.json()["count"] == 4  # 18, 12, 06, 00 UTC on the 15th
    # Cached for everyone until a run changes.
    assert client.get("/api/runs/", {"limit": 2})["X-Page-Cache"] == "hit"
    services.run_mark_running(run_id=runs[1].pk)
    fresh = client.get("/api/runs/", {"limit": 2})
    assert "X-Page-Cache" not in fresh and fresh.json()["items"][1]["status"] == "running"
    bad = client.get("/api/runs/", {"status": "exploded"})
    assert bad.status_code == 422 and "detail" in bad.json()


def test_run_detail_and_missing_run(client):
    run = make_run()
    rerun = services.run_request_rerun(run=run, launch=False)
    body = client.get(f"/api/runs/{run.pk}/").json()
    assert body["id"] == run.pk and body["reruns"] == [rerun.pk]
    assert body["config"]["predictor_spec"] == "persistence"
    assert body["url"] == f"/runs/{run.pk}/" and body["point_url"].endswith("/point/")
    missing = client.get("/api/runs/999999/")
    assert missing.status_code == 404 and "no forecast run 999999" in missing.json()["detail"]


def test_products_have_names_units_and_valid_times(client, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "t12.png").write_bytes(b"png")
    run = make_run()
    services.run_publish_products(
        run_id=run.pk,
        products=[
            {"kind": "map", "variable": "2m_temperature", "level": None, "lead_hours": 12,
             "file": "runs/t12.png"},
        ],
    )  # fmt: skip
    (product,) = client.get(f"/api/runs/{run.pk}/products/").json()
    assert product["name"] == "2 m temperature" and product["units"] == "°C"
    assert product["valid_time"] == "2026-11-16T12:00:00Z" and product["url"].endswith("t12.png")


def test_scores_are_in_display_units_per_truth(client):
    run = make_run()
    score_services.verification_store_sums(
        run_id=run.pk, rows=[_sums()], leads_total=2, truth_until=None
    )
    body = client.get(f"/api/runs/{run.pk}/scores/").json()
    (field,) = body["fields"]
    assert field["name"] == "500 hPa geopotential height" and field["units"] == "dam"
    (lead,) = field["predictors"]["model"]
    # RMSE 2·98.0665 m²/s² of geopotential (20 m of height) is 2 dam; bias 1 dam; ACC unitless.
    assert lead["rmse"] == pytest.approx(2.0) and lead["bias"] == pytest.approx(1.0)
    assert lead["acc"] == pytest.approx(1.0) and lead["valid_time"] == "2026-11-16T06:00:00Z"
    other = client.get(f"/api/runs/{run.pk}/scores/", {"truth_source": "ifs_analysis"}).json()
    assert other["fields"] == []
    assert client.get(f"/api/runs/{run.pk}/scores/", {"truth_source": "x"}).status_code == 422


def test_point_forecast_in_display_units(client, var_dir):  # noqa: F811
    run = make_forecast_run(steps=2)
    response = client.get(f"/api/runs/{run.pk}/point/", {"lat": 48.2, "lon": 16.4})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["lead_hours"] == [6, 12] and body["method"] == "bilinear"
    assert body["valid_times"][0] == "2026-11-16T06:00:00Z"
    series = {s["variable"]: s for s in body["series"]}
    t2m = series["2m_temperature"]
    assert t2m["units"] == "°C" and t2m["name"] == "2 m temperature"
    assert all(-60 < v < 50 for v in t2m["values"])  # °C, not K
    assert series["mean_sea_level_pressure"]["units"] == "hPa"
    assert 900 < series["mean_sea_level_pressure"]["values"][0] < 1100
    off = client.get(f"/api/runs/{run.pk}/point/", {"lat": 95, "lon": 0})
    assert off.status_code == 422
    queued = make_run()
    no_file = client.get(f"/api/runs/{queued.pk}/point/", {"lat": 0, "lon": 0})
    assert no_file.status_code == 404 and "no forecast file" in no_file.json()["detail"]


def test_openapi_schema_lists_every_endpoint(client):
    schema = client.get("/api/openapi.json").json()
    assert set(schema["paths"]) == {
        "/api/runs/",
        "/api/runs/{run_id}/",
        "/api/runs/{run_id}/products/",
        "/api/runs/{run_id}/scores/",
        "/api/runs/{run_id}/point/",
    }
