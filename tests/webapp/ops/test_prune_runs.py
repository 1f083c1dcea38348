"""`manage.py prune_runs`: old finished runs lose their files, keep their records and lineage."""

from __future__ import annotations

import datetime as dt
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.utils import timezone

from tests.webapp.runs.factories import make_run
from webapp.runs import services
from webapp.runs.models import ForecastRun, Product

pytestmark = pytest.mark.django_db


def _run_with_files(settings, *, days_old: float, finished: bool = True) -> ForecastRun:
    midnight = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    run = make_run(init_time=midnight - dt.timedelta(days=round(days_old)))
    services.run_record_lineage(run_id=run.pk, inputs_sha256="abc", checkpoint="demo")
    if finished:
        services.run_mark_running(run_id=run.pk)
        services.run_mark_succeeded(run_id=run.pk)
    run_dir = Path(settings.GCF_RUNS_DIR) / str(run.pk)
    run_dir.mkdir(parents=True)
    (run_dir / "forecast.nc").write_bytes(b"x" * 300_000)
    (run_dir / "inputs.nc").write_bytes(b"x" * 100_000)
    media = Path(settings.MEDIA_ROOT) / "runs" / str(run.pk)
    media.mkdir(parents=True)
    (media / "t2m.png").write_bytes(b"p" * 5_000)
    Product.objects.create(
        run=run, variable="2m_temperature", lead_hours=6, file=f"runs/{run.pk}/t2m.png"
    )
    return ForecastRun.objects.get(pk=run.pk)


@pytest.fixture
def stores(settings, tmp_path):
    settings.GCF_RUNS_DIR = tmp_path / "runs"
    settings.MEDIA_ROOT = tmp_path / "media"
    return tmp_path


def _prune(*args: str) -> str:
    out = StringIO()
    call_command("prune_runs", *args, stdout=out)
    return out.getvalue()


def test_dry_run_by_default_then_apply(settings, stores):
    old = _run_with_files(settings, days_old=40)
    recent = _run_with_files(settings, days_old=2)
    running = _run_with_files(settings, days_old=60, finished=False)

    report = _prune("--older-than-days", "30")
    assert f"run {old.pk} " in report and "would remove" in report
    assert "1 run(s): would remove 390.6 KB (dry run" in report
    assert (stores / "runs" / str(old.pk) / "forecast.nc").exists()

    report = _prune("--older-than-days", "30", "--apply")
    assert "1 run(s): removed 390.6 KB" in report
    assert not (stores / "runs" / str(old.pk)).exists()
    # Its maps, record, lineage and products stay; the others are untouched.
    assert (stores / "media" / "runs" / str(old.pk) / "t2m.png").exists()
    kept = ForecastRun.objects.get(pk=old.pk)
    assert kept.status == "succeeded" and kept.lineage == old.lineage
    assert kept.products.count() == 1
    assert (stores / "runs" / str(recent.pk) / "forecast.nc").exists()
    assert (stores / "runs" / str(running.pk) / "forecast.nc").exists()

    # Nothing left to do: a second pass frees nothing.
    assert "0 run(s): removed 0 B" in _prune("--older-than-days", "30", "--apply")


def test_products_too(settings, stores):
    old = _run_with_files(settings, days_old=40)
    report = _prune("--older-than-days", "30", "--products", "--apply")
    assert "1 run(s): removed 395.5 KB" in report
    assert not (stores / "media" / "runs" / str(old.pk)).exists()
    assert not Product.objects.filter(run=old).exists()
    assert ForecastRun.objects.get(pk=old.pk).lineage == old.lineage
