"""The verification pages and the run page's verification section, on a really scored run."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.webapp.verification.factories import make_forecast_run, shared_cache, var_dir  # noqa: F401
from webapp.verification import execution

pytestmark = pytest.mark.django_db


@pytest.fixture
def scored_run(var_dir):  # noqa: F811
    run = make_forecast_run(steps=4)  # to +24 h, the first lead of the history plots
    iso = [t.isoformat() for t in execution.run_valid_times(run)]
    execution.prepare_truth(run_id=run.pk, valid_times=iso)
    execution.prepare_climatology(run_id=run.pk, valid_times=iso)
    execution.execute_scoring(run_id=run.pk)
    execution.render_summary_plots()
    return run


def test_run_page_shows_scores_plots_and_error_maps(client, scored_run):
    page = client.get(reverse("runs:detail", args=[scored_run.pk])).content.decode()
    assert 'id="verification"' in page and 'id="run-headline-scores"' in page
    assert "Scored 4 of 4 leads" in page
    assert "/media/runs/" in page and "scores_geopotential_500.png" in page
    assert "truth at 4 leads" in page  # the map viewer offers truth and error maps
    scores = client.get(reverse("verification:run", args=[scored_run.pk])).content.decode()
    assert 'data-field="geopotential@500"' in scores and "SYNTHETIC DATA" in scores
    assert "+12 h" in scores and "—" in scores  # the climatology's ACC is undefined


def test_history_and_scorecard_pages(client, scored_run):
    page = client.get(reverse("verification:history")).content.decode()
    assert 'data-field="z500"' in page and f"#{scored_run.pk}" in page
    assert "history_geopotential_500_rmse.png" in page
    page = client.get(
        reverse("verification:history"), {"region": "europe", "days": "7"}
    ).content.decode()
    assert 'value="europe" selected' in page
    card = client.get(reverse("verification:scorecard")).content.decode()
    assert 'id="scorecard"' in card and "0.0%" in card  # the model here is persistence
    assert "scorecard_persistence.png" in card
    card = client.get(
        reverse("verification:scorecard"), {"baseline": "climatology", "metric": "acc"}
    ).content.decode()
    assert "model vs climatology" in card


def test_unverified_run_and_empty_pages(client, var_dir):  # noqa: F811
    run = make_forecast_run(steps=2)
    page = client.get(reverse("runs:detail", args=[run.pk])).content.decode()
    assert 'id="not-verified"' in page
    assert 'id="no-scores"' in client.get(reverse("verification:history")).content.decode()
    assert 'id="no-scores"' in client.get(reverse("verification:scorecard")).content.decode()
    assert client.get(reverse("verification:run", args=[run.pk + 100])).status_code == 404


def test_pages_without_a_climatology_baseline_and_the_window_filters(client):
    """Runs scored without a climatology (ERA5 before GCF_CLIMATOLOGY is set) have only model
    and persistence rows: every page still renders, with dashes where a score is missing."""
    import pandas as pd

    from tests.webapp.runs.factories import make_run
    from webapp.verification import services

    run = make_run()
    rows = [
        {
            "predictor": predictor, "variable": "geopotential", "level": 500, "lead_hours": 24,
            "region": region, "valid_time": pd.Timestamp("2026-11-17T00", tz="UTC"),
            "sum_w": 1.0, "sum_e": 1.0, "sum_e2": 4.0, "sum_abs_e": 1.5,
            "sum_fa": None, "sum_ff": None, "sum_aa": None,
        }
        for predictor in ("model", "persistence")
        for region in ("global", "europe")
    ]  # fmt: skip
    services.verification_store_sums(run_id=run.pk, rows=rows, leads_total=2, truth_until=None)
    history = client.get(reverse("verification:history"))
    assert history.status_code == 200 and 'data-field="z500"' in history.text
    assert '<option value="europe"' in history.text and "last 90 days" in history.text
    for days in ("30", "365", "0", "12345", "x"):
        assert client.get(reverse("verification:history"), {"days": days}).status_code == 200
    card = client.get(reverse("verification:scorecard"), {"region": "europe"})
    assert card.status_code == 200 and "0.0%" in card.text  # model and persistence agree here
    scores = client.get(reverse("verification:run", args=[run.pk]))
    assert scores.status_code == 200 and "—" in scores.text
