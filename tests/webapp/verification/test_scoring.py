"""Scoring a run (the body of `score_run_task`): truth through the cache, climatology, sums
upserted idempotently, window scores from the database equal to forecast.verify's."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from forecast.verify import evaluation
from tests.webapp.verification.factories import (  # noqa: F401
    INIT,
    make_forecast_run,
    shared_cache,
    var_dir,
)
from webapp.runs import execution as run_files
from webapp.runs.models import Product
from webapp.verification import execution, selectors, services
from webapp.verification.models import RunVerification, ScoreSum

pytestmark = pytest.mark.django_db


def _score(run, valid_times):
    iso = [t.isoformat() for t in valid_times]
    execution.prepare_truth(run_id=run.pk, valid_times=iso)
    origin = execution.prepare_climatology(run_id=run.pk, valid_times=iso)
    return origin, execution.execute_scoring(run_id=run.pk, task_id="task-1")


def test_partial_then_full_scoring_is_idempotent(var_dir):  # noqa: F811
    run = make_forecast_run(steps=4)
    valid = execution.run_valid_times(run)
    origin, result = _score(run, valid[:2])
    assert "synthetic world" in origin
    assert result["leads"] == [6, 12]
    record = RunVerification.objects.get(run=run)
    assert record.leads_scored == [6, 12] and record.leads_total == 4 and not record.complete
    # 3 predictors × (11 variables' fields + 14 wind vectors) × 7 regions per lead.
    per_lead = 3 * (5 + 6 * 13 + 1 + 13) * 7
    assert ScoreSum.objects.filter(run=run).count() == 2 * per_lead
    # Error maps of the verified leads are the run's products now; score plots are on disk.
    maps = Product.objects.filter(run=run, kind=Product.Kind.ERROR_MAP)
    assert sorted(set(maps.values_list("lead_hours", flat=True))) == [6, 12]
    assert record.plots and all(
        (run_files.media_dir(run.pk).parent.parent / p).is_file() for p in record.plots.values()
    )

    _score(run, valid[2:])
    before = dict(ScoreSum.objects.filter(run=run).values_list("id", "sum_e2"))
    _score(run, valid)  # everything again: same rows, same values
    after = dict(ScoreSum.objects.filter(run=run).values_list("id", "sum_e2"))
    assert before == after and len(after) == 4 * per_lead
    record.refresh_from_db()
    assert record.leads_scored == [6, 12, 18, 24] and record.complete


def test_stored_scores_equal_the_science_library(var_dir):  # noqa: F811
    run = make_forecast_run(steps=3)
    valid = execution.run_valid_times(run)
    _score(run, valid)
    forecast = xr.load_dataset(run_files.forecast_path(run.pk))
    truth = xr.load_dataset(execution.truth_path(run.pk))
    clim = xr.load_dataset(execution.climatology_path(run.pk))
    sums = evaluation.score_run(forecast, truth, climatology=clim)
    expected = evaluation.scores_from_sums(sums)
    for variable, level in [("geopotential", 500), ("2m_temperature", 0), ("10m_wind_vector", 0)]:
        scores = selectors.window_scores(
            variable=variable, level=level, region="europe", runs=[run.pk]
        )
        j = int(
            np.flatnonzero(
                (expected["variable"] == variable).values & (expected["level"] == level).values
            )[0]
        )
        for predictor in ("model", "persistence", "climatology"):
            for k, hours in enumerate((6, 12, 18)):
                got = scores[predictor][hours]
                want = expected.sel(predictor=predictor, region="europe").isel(field=j, lead_time=k)
                for metric in ("rmse", "bias", "mae", "acc"):
                    w = float(want[metric])
                    if np.isnan(w):
                        assert got[metric] is None, (variable, predictor, metric)
                    else:
                        assert got[metric] == pytest.approx(w, rel=1e-9, abs=1e-12), (
                            variable,
                            predictor,
                            metric,
                        )
    # The model here is persistence: the two rows agree, and the climatology has no ACC.
    z500 = selectors.window_scores(variable="geopotential", level=500, runs=[run.pk])
    assert z500["model"][12]["rmse"] == pytest.approx(z500["persistence"][12]["rmse"])
    assert z500["climatology"][12]["acc"] is None and z500["model"][12]["acc"] > 0


def test_window_over_runs_is_the_mean_of_per_run_scores_and_rmse_roots_last(var_dir):  # noqa: F811
    runs = [
        make_forecast_run(init_time=INIT + dt.timedelta(hours=12 * n), steps=2) for n in range(3)
    ]
    for run in runs:
        _score(run, execution.run_valid_times(run))
    window = selectors.window_scores(variable="temperature", level=850)
    per_run = [
        selectors.window_scores(variable="temperature", level=850, runs=[r.pk]) for r in runs
    ]
    for lead in (6, 12):
        mses = [p["model"][lead]["mse"] for p in per_run]
        accs = [p["model"][lead]["acc"] for p in per_run]
        assert window["model"][lead]["n"] == 3
        assert window["model"][lead]["mse"] == pytest.approx(np.mean(mses), rel=1e-12)
        assert window["model"][lead]["rmse"] == pytest.approx(np.sqrt(np.mean(mses)), rel=1e-12)
        assert window["model"][lead]["acc"] == pytest.approx(np.mean(accs), rel=1e-12)
    # A window of UTC init days selects runs (runs 0 and 1 share a day).
    later = selectors.window_scores(
        variable="temperature", level=850, init_from=runs[2].init_time.date()
    )
    assert later["model"][6]["n"] == 1
    first_day = selectors.window_scores(
        variable="temperature", level=850, init_to=runs[1].init_time.date()
    )
    assert first_day["model"][6]["n"] == 2
    assert first_day["model"][6]["mse"] == pytest.approx(
        np.mean([p["model"][6]["mse"] for p in per_run[:2]]), rel=1e-12
    )
    # Re-scoring a run replaces its day's aggregates, never adds to them.
    _score(runs[0], execution.run_valid_times(runs[0]))
    again = selectors.window_scores(variable="temperature", level=850)
    assert again["model"][6] == pytest.approx(window["model"][6])
    # History: one point per run at each lead; scorecard: % change against persistence is 0.
    history = selectors.verification_history(variable="temperature", level=850, lead_hours=(6, 12))
    assert [len(v) for v in history.values()] == [3, 3, 3, 3]
    card = selectors.scorecard(baseline="persistence")
    assert card and all(v == pytest.approx(0.0, abs=1e-9) for v in card.values())


def test_failure_is_recorded_and_undefined_sums_stored_as_null(var_dir):  # noqa: F811
    run = make_forecast_run(steps=2)
    services.verification_record_failure(run_id=run.pk, error=FileNotFoundError("truth.nc missing"))
    record = RunVerification.objects.get(run=run)
    assert record.error_type == "FileNotFoundError"
    row = {
        "predictor": "model", "variable": "x", "level": 0, "lead_hours": 6, "region": "global",
        "valid_time": pd.Timestamp("2026-11-16T06", tz="UTC"), "sum_w": 1.0, "sum_e": float("nan"),
        "sum_e2": 1.0, "sum_abs_e": 1.0, "sum_fa": None, "sum_ff": None, "sum_aa": None,
    }  # fmt: skip
    services.verification_store_sums(run_id=run.pk, rows=[row], leads_total=2, truth_until=None)
    stored = ScoreSum.objects.get(run=run, variable="x")
    assert stored.sum_e is None and stored.sum_fa is None
    record.refresh_from_db()
    assert record.error_type == ""  # a later success clears it
    scores = selectors.window_scores(variable="x", level=0, runs=[run.pk])["model"][6]
    assert scores["bias"] is None and scores["acc"] is None and scores["rmse"] == 1.0


def _row(**overrides) -> dict:
    row = {
        "predictor": "model", "variable": "x", "level": 0, "lead_hours": 6, "region": "global",
        "valid_time": pd.Timestamp("2026-11-16T06", tz="UTC"), "sum_w": 2.0, "sum_e": 1.0,
        "sum_e2": 8.0, "sum_abs_e": 2.0, "sum_fa": 1.0, "sum_ff": 1.0, "sum_aa": 4.0,
    }  # fmt: skip
    return {**row, **overrides}


def test_truth_sources_are_kept_apart(var_dir):  # noqa: F811
    run = make_forecast_run(steps=2)
    services.verification_store_sums(run_id=run.pk, rows=[_row()], leads_total=2, truth_until=None)
    services.verification_store_sums(
        run_id=run.pk,
        rows=[_row(sum_e2=2.0)],
        leads_total=2,
        truth_until=None,
        truth_source="ifs_analysis",
    )
    assert ScoreSum.objects.filter(run=run).count() == 2
    era5 = selectors.window_scores(variable="x", level=0)["model"][6]
    ifs = selectors.window_scores(variable="x", level=0, truth_source="ifs_analysis")["model"][6]
    assert era5["rmse"] == 2.0 and ifs["rmse"] == 1.0 and era5["n"] == ifs["n"] == 1
    assert era5["acc"] == pytest.approx(0.5) and era5["bias"] == 0.5
    per_run = selectors.run_scores(run=run, truth_source="ifs_analysis")
    assert per_run[("x", 0)]["model"][6]["rmse"] == 1.0
    assert selectors.regions_scored() == ["global"]
    with pytest.raises(ValueError, match="truth source 'cds'"):
        services.verification_store_sums(
            run_id=run.pk, rows=[_row(truth_source="cds")], leads_total=2, truth_until=None
        )


def test_bulk_stores_refresh_the_planner_statistics(var_dir, monkeypatch):  # noqa: F811
    from django.db import connection

    run = make_forecast_run(steps=2)
    monkeypatch.setattr(services, "BULK_ROWS", 2)
    analyzed = []
    real = services.database_analyze
    monkeypatch.setattr(
        services,
        "database_analyze",
        lambda *, tables: (analyzed.append(tables), real(tables=tables)),
    )
    rows = [_row(lead_hours=6), _row(lead_hours=12)]
    services.verification_store_sums(run_id=run.pk, rows=rows, leads_total=2, truth_until=None)
    assert analyzed == [["verification_scoresum", "verification_scoreday"]]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT last_analyze FROM pg_stat_user_tables WHERE relname = 'verification_scoreday'"
            )
            assert cursor.fetchone()[0] is not None
