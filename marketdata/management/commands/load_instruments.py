from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from marketdata.services.instruments import InstrumentFileError, load_instruments

MAX_REJECTIONS_SHOWN = 50


class Command(BaseCommand):
    help = "Upsert the broker instrument master CSV (keyed by instrument_token). Idempotent."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"cannot read {path}: {exc}") from exc
        try:
            report = load_instruments(text=text)
        except InstrumentFileError as exc:
            raise CommandError(f"{path}: {exc}") from exc
        for line_no, reason in report.rejected[:MAX_REJECTIONS_SHOWN]:
            self.stderr.write(f"line {line_no}: rejected: {reason}")
        if len(report.rejected) > MAX_REJECTIONS_SHOWN:
            self.stderr.write(f"... and {len(report.rejected) - MAX_REJECTIONS_SHOWN} more rejected rows")
        self.stdout.write(
            f"{report.created} created, {report.updated} updated, {report.unchanged} unchanged, "
            f"{len(report.rejected)} rejected"
        )
