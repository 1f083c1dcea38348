"""Retention of old runs' files: the records, lineage and scores stay, the bulky files go.

A finished run's directory (`var/runs/<id>/`: inputs and forecast NetCDF, GBs at 0.25°) is
only needed to re-render or re-score it; its products (`var/media/runs/<id>/`: maps, MBs)
are what its page shows. Pruning removes the former by default and, when asked, the latter
with their Product rows. Runs still queued or running are never touched.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
from pathlib import Path

from django.db import transaction
from django.utils import timezone

from webapp.runs.models import ForecastRun, Product
from webapp.runs.paths import media_dir, run_dir


@dataclasses.dataclass(frozen=True)
class PrunedRun:
    """What pruning one run removes (or would remove): directories and their size in bytes."""

    run_id: int
    init_time: dt.datetime
    directories: list[Path]
    bytes: int


def _size(path: Path) -> int:
    if not path.exists():
        return 0
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def runs_prune_files(
    *, older_than_days: float, products: bool = False, dry_run: bool = True
) -> list[PrunedRun]:
    """Removes the files of finished runs whose init time is older than `older_than_days`.

    Args:
      older_than_days: runs initialised before now minus this many days are pruned.
      products: also remove the run's published maps and their Product rows (its page then
        shows the record, lineage and scores, without maps).
      dry_run: only report what would be removed.

    Returns:
      One entry per run with files to remove (runs whose files are already gone are skipped).
    """
    cutoff = timezone.now() - dt.timedelta(days=older_than_days)
    runs = ForecastRun.objects.filter(
        init_time__lt=cutoff, status__in=ForecastRun.TERMINAL
    ).order_by("init_time", "id")
    pruned = []
    for run in runs.only("id", "init_time"):
        directories = [run_dir(run.pk)] + ([media_dir(run.pk)] if products else [])
        directories = [d for d in directories if d.exists()]
        if not directories:
            continue
        pruned.append(
            PrunedRun(run.pk, run.init_time, directories, sum(_size(d) for d in directories))
        )
        if dry_run:
            continue
        if products:
            # Rows first: a page never links to a file already gone for good.
            with transaction.atomic():
                Product.objects.filter(run_id=run.pk).delete()
        for directory in directories:
            shutil.rmtree(directory)
    return pruned
