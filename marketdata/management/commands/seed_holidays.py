"""`manage.py seed_holidays`: re-seed holidays and special sessions from the offline packages."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from marketdata.models import FetchJob
from marketdata.services.calendar import (
    DEFAULT_OFFLINE_SOURCE,
    DEFAULT_SEED_YEARS,
    OFFLINE_SOURCES,
    offline_calendar_rows,
    seed_exchange_holidays,
)
from marketdata.services.calendar_fetch import record_job_run
from tradeviz.errors import DomainError


def parse_years(text: str) -> list[int]:
    """ "2024-2027" or "2025,2026" → years."""
    years: set[int] = set()
    try:
        for part in text.split(","):
            first, _, last = part.strip().partition("-")
            years.update(range(int(first), int(last or first) + 1))
    except ValueError as exc:
        raise CommandError(f"--years: expected e.g. 2024-2027 or 2025,2026, got {text!r}") from exc
    return sorted(years)


class Command(BaseCommand):
    help = (
        "Upsert trading holidays and Muhurat sessions from the offline packages (idempotent; never "
        "deletes; rows corrected in admin are kept). See docs/calendar.md."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--exchange", default="NSE")
        parser.add_argument(
            "--years",
            default=f"{DEFAULT_SEED_YEARS.start}-{DEFAULT_SEED_YEARS.stop - 1}",
            help="e.g. 2024-2027",
        )
        parser.add_argument("--source", default=DEFAULT_OFFLINE_SOURCE, choices=OFFLINE_SOURCES)
        parser.add_argument(
            "--dry-run", action="store_true", help="Print what the source holds; write nothing."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        years = parse_years(options["years"])
        try:
            if options["dry_run"]:
                holidays, sessions = offline_calendar_rows(
                    exchange=options["exchange"], years=years, source=options["source"]
                )
                for row in holidays:
                    self.stdout.write(
                        f"{row.exchange} {row.date.isoformat()} {row.description}  [{row.source}]"
                    )
                for session in sessions:
                    self.stdout.write(
                        f"{session.exchange} {session.date.isoformat()} session "
                        f"{session.open_time:%H:%M}-{session.close_time:%H:%M} {session.description}"
                    )
                return
            counts = seed_exchange_holidays(
                exchange=options["exchange"], years=years, source=options["source"]
            )
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        record_job_run(
            job=FetchJob.SEED_HOLIDAYS,
            counts=counts,
            details={"exchange": options["exchange"], "years": years, "source": options["source"]},
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"{options['exchange']} {years[0]}-{years[-1]} from {options['source']}: "
                f"{counts.inserted} inserted, {counts.updated} updated, {counts.unchanged} unchanged, "
                f"{counts.kept_admin} kept (admin)"
            )
        )
