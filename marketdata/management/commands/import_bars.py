from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from marketdata.services.bar_import import ImportFileError, import_bars, read_table

MAX_REJECTIONS_SHOWN = 50


class Command(BaseCommand):
    help = (
        "Import 1-minute OHLCV(+OI) bars from CSV or Parquet (symbol or token column). Valid rows are "
        "upserted (a re-import changes nothing); rejected rows are listed with the reason."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        if not path.is_file():
            raise CommandError(f"no such file: {path}")
        started = time.perf_counter()
        try:
            table = read_table(path)
            with tqdm(total=table.num_rows, unit="rows", disable=options["no_progress"], file=self.stderr) as bar:
                report = import_bars(table=table, progress=bar.update)
        except ImportFileError as exc:
            raise CommandError(str(exc)) from exc
        elapsed = time.perf_counter() - started
        for line_no, reason in report.rejected[:MAX_REJECTIONS_SHOWN]:
            self.stderr.write(f"line {line_no}: rejected: {reason}")
        if len(report.rejected) > MAX_REJECTIONS_SHOWN:
            self.stderr.write(f"... and {len(report.rejected) - MAX_REJECTIONS_SHOWN} more rejected rows")
        rate = report.rows / elapsed if elapsed > 0 else 0.0
        self.stdout.write(
            f"{report.rows} rows: {report.written} written, {report.unchanged} unchanged, "
            f"{len(report.rejected)} rejected in {elapsed:.2f}s ({rate:,.0f} rows/s)"
        )
