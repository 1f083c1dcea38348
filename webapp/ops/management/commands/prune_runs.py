"""`manage.py prune_runs --older-than-days N [--products] [--apply]`: free the disk of old runs.

Dry run by default (deleting is the one thing an operator cannot undo): it prints what would
go and how much it would free; `--apply` deletes. Records, lineage and scores always stay.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from webapp.ops.retention import runs_prune_files


def _human(size: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size} B"


class Command(BaseCommand):
    help = "Remove the files of finished runs older than N days (dry run unless --apply)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--older-than-days", type=float, required=True)
        parser.add_argument(
            "--products", action="store_true", help="also remove published maps and their rows"
        )
        parser.add_argument("--apply", action="store_true", help="delete (default: dry run)")

    def handle(self, *args, older_than_days: float, products: bool, apply: bool, **options):
        if older_than_days < 0:
            raise CommandError(f"--older-than-days must be >= 0, not {older_than_days}")
        pruned = runs_prune_files(
            older_than_days=older_than_days, products=products, dry_run=not apply
        )
        verb = "removed" if apply else "would remove"
        for run in pruned:
            names = ", ".join(str(d) for d in run.directories)
            self.stdout.write(
                f"run {run.run_id} ({run.init_time:%Y-%m-%d %H:%M} UTC): {verb} {names} "
                f"({_human(run.bytes)})"
            )
        total = sum(run.bytes for run in pruned)
        summary = f"{len(pruned)} run(s): {verb} {_human(total)}"
        self.stdout.write(summary + ("" if apply else " (dry run; --apply to delete)"))
