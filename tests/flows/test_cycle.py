"""Which predictor and data source a cycle runs with, and when it says it fell back."""

from __future__ import annotations

import pytest

from flows import cycle


def test_configured_predictor_wins(settings):
    settings.GCF_PREDICTOR = "/models/graphcast.npz"
    assert cycle.choose_predictor() == ("/models/graphcast.npz", "")


def test_demo_checkpoint_is_used_when_present(settings, tmp_path):
    checkpoint = tmp_path / "checkpoint.npz"
    checkpoint.write_bytes(b"x")
    settings.GCF_PREDICTOR = ""
    settings.GCF_DEMO_CHECKPOINT = checkpoint
    assert cycle.choose_predictor() == (str(checkpoint), "")


def test_missing_demo_checkpoint_falls_back_to_persistence_and_says_so(settings, tmp_path, caplog):
    settings.GCF_PREDICTOR = ""
    settings.GCF_DEMO_CHECKPOINT = tmp_path / "absent.npz"
    spec, note = cycle.choose_predictor()
    assert spec == "persistence"
    assert "fallback" in note and "absent.npz" in note
    assert "fallback" in caplog.text


def test_no_cds_credentials_means_synthetic(settings, monkeypatch, tmp_path):
    settings.GCF_DATA_SOURCE = ""
    for name in ("CDSAPI_URL", "CDSAPI_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CDSAPI_RC", str(tmp_path / "no-such-rc"))
    monkeypatch.setenv("HOME", str(tmp_path))
    assert cycle.choose_data_source() == "synthetic"


def test_bad_data_source_is_named(settings):
    settings.GCF_DATA_SOURCE = "ftp"
    with pytest.raises(ValueError, match="GCF_DATA_SOURCE='ftp'"):
        cycle.choose_data_source()


def test_cycle_config_reads_settings(settings):
    settings.GCF_PREDICTOR = "persistence"
    settings.GCF_DATA_SOURCE = "synthetic"
    settings.GCF_GRID_DEG, settings.GCF_LEVELS, settings.GCF_STEPS = 5.0, 13, 3
    config = cycle.cycle_config()
    assert (config.grid_deg, config.levels, config.steps) == (5.0, 13, 3)
    assert config.data_source == "synthetic" and config.predictor_note == ""


def test_a_checkpoint_brings_its_own_grid_and_levels(settings, vectors_dir):
    settings.GCF_PREDICTOR = str(vectors_dir / "A" / "checkpoint.npz")
    settings.GCF_DATA_SOURCE = "synthetic"
    settings.GCF_GRID_DEG, settings.GCF_LEVELS = 1.0, 37
    config = cycle.cycle_config()
    assert (config.grid_deg, config.levels) == (4.0, 13)


def test_non_checkpoint_specs_have_no_grid():
    assert cycle.checkpoint_grid("persistence") == (None, None)
    assert cycle.checkpoint_grid("tests.e2e.predictors:failing") == (None, None)


OPERATIONAL = "stats/demo_operational/checkpoint.npz"


def test_an_operational_checkpoint_runs_on_open_data_by_default(settings):
    settings.GCF_PREDICTOR, settings.GCF_DATA_SOURCE = OPERATIONAL, ""
    settings.GCF_OPENDATA_URL = "http://127.0.0.1:1/forecasts"
    config = cycle.cycle_config()
    assert config.data_source == "opendata"
    assert config.opendata_url == "http://127.0.0.1:1/forecasts"
    assert (config.grid_deg, config.levels) == (4.0, 13)


def test_an_era5_trained_checkpoint_stays_on_era5(settings, monkeypatch, tmp_path):
    settings.GCF_PREDICTOR, settings.GCF_DATA_SOURCE = "stats/demo/checkpoint.npz", ""
    monkeypatch.setenv("CDSAPI_URL", "http://127.0.0.1:1/api")
    monkeypatch.setenv("CDSAPI_KEY", "00000000-0000-4000-8000-000000000000")
    assert cycle.cycle_config().data_source == "cds"
    assert cycle.cycle_config().opendata_url == ""


def test_open_data_refuses_a_checkpoint_that_reads_precipitation(settings):
    from forecast.errors import InvalidInputError

    settings.GCF_PREDICTOR = "stats/demo/checkpoint.npz"
    with pytest.raises(InvalidInputError, match="reads total_precipitation_6hr"):
        cycle.cycle_config(source="opendata")
