from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from options.apis.params import parse_instant
from options.pricing import IST
from options.services.analytics import compute_range
from tradeviz.errors import InvalidInput

DEFAULT_DAYS = 1


class Command(BaseCommand):
    help = (
        "Compute option strike bars and expiry metrics over history from the stored minute bars "
        "(idempotent: minutes already computed are rewritten). Default: the last IST day up to now."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--from", dest="start", help="Unix seconds or ISO-8601 (no offset: IST)")
        parser.add_argument("--to", dest="end", help="exclusive; default now")
        parser.add_argument(
            "--days", type=int, default=DEFAULT_DAYS, help="without --from: this many IST days back"
        )
        parser.add_argument(
            "--underlying",
            action="append",
            default=None,
            help="repeat for several; default every underlying with options",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            end = parse_instant(options["end"], "--to") if options["end"] else timezone.now()
            if options["start"]:
                start = parse_instant(options["start"], "--from")
            else:
                first_day = end.astimezone(IST).date() - timedelta(days=max(options["days"], 1) - 1)
                start = datetime.combine(first_day, time.min, tzinfo=IST).astimezone(UTC)
        except InvalidInput as exc:
            raise CommandError(exc.message) from exc
        if start >= end:
            raise CommandError("--from must be before --to")
        result = compute_range(start=start, end=end, underlyings=options["underlying"])
        self.stdout.write(
            f"{result.minutes} minutes, {result.strike_rows} strike rows from {start.isoformat()} to {end.isoformat()}"
        )
