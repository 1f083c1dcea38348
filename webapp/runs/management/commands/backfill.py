"""Runs the daily cycle for every init time in a range that has no good run yet."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Backfill forecast cycles: manage.py backfill 2026-11-01T00 2026-11-03T18"

    def add_arguments(self, parser) -> None:
        parser.add_argument("start", help="first init time (ISO 8601, UTC)")
        parser.add_argument("end", help="last init time (ISO 8601, UTC), inclusive")
        parser.add_argument("--every-hours", type=int, default=6)

    def handle(self, *args, start: str, end: str, every_hours: int, **options) -> None:
        from webapp.runs.launcher import get_launcher

        try:
            # A bad range fails before any flow starts.
            outcome = get_launcher().backfill(start=start, end=end, every_hours=every_hours)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        for init_time, result in outcome.items():
            self.stdout.write(f"{init_time}: {result}")
        failed = [k for k, v in outcome.items() if isinstance(v, str)]
        if failed:
            raise CommandError(f"{len(failed)} of {len(outcome)} cycle(s) failed")
