from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.core.management import CommandError, call_command

from marketdata.models import Bar, Instrument
from marketdata.services.bar_import import import_bars, read_table
from marketdata.tests.factories import make_instrument

pytestmark = pytest.mark.django_db

HEADER = "symbol,time,open,high,low,close,volume,oi\n"
GOOD = [
    "NSE:TESTCO,2026-11-23T09:15:00+05:30,100,101,99.5,100.5,10,",
    "nse:testco,2026-11-23 09:16:00,100.5,102,100,101.75,20,5",  # naive = IST
    "NSE:TESTCO,1795405620,101.75,103,101,102,30,",  # epoch seconds = 09:17 IST
]


@pytest.fixture
def instrument() -> Instrument:
    return make_instrument()


def write(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "bars.csv"
    path.write_text(HEADER + "\n".join(lines) + "\n")
    return path


def stored(instrument: Instrument) -> list[tuple[datetime, Decimal, Decimal, Decimal, Decimal, int, int | None]]:
    return list(
        Bar.objects.filter(instrument=instrument).order_by("time").values_list(
            "time", "open", "high", "low", "close", "volume", "oi")
    )


def test_valid_rows_are_stored_with_times_in_utc(tmp_path: Path, instrument: Instrument) -> None:
    report = import_bars(table=read_table(write(tmp_path, GOOD)))
    assert (report.rows, report.written, report.unchanged, report.rejected) == (3, 3, 0, [])
    rows = stored(instrument)
    assert [r[0] for r in rows] == [datetime(2026, 11, 23, 3, 45 + k, tzinfo=UTC) for k in range(3)]
    assert rows[1][1:] == (Decimal("100.5"), Decimal("102"), Decimal("100"), Decimal("101.75"), 20, 5)
    assert rows[0][6] is None


def test_reimport_changes_nothing_and_a_correction_updates(tmp_path: Path, instrument: Instrument) -> None:
    path = write(tmp_path, GOOD)
    import_bars(table=read_table(path))
    again = import_bars(table=read_table(path))
    assert (again.written, again.unchanged) == (0, 3)
    corrected = [*GOOD[:2], "NSE:TESTCO,1795405620,101.75,103,101,102.5,30,"]
    report = import_bars(table=read_table(write(tmp_path, corrected)))
    assert (report.written, report.unchanged) == (1, 2)
    assert stored(instrument)[2][4] == Decimal("102.5")
    assert Bar.objects.filter(instrument=instrument).count() == 3


def test_bad_rows_are_reported_and_good_rows_kept(tmp_path: Path, instrument: Instrument) -> None:
    bad = [
        "NSE:UNKNOWN,2026-11-23T09:20:00+05:30,1,1,1,1,1,",
        "NSE:TESTCO,yesterday,1,1,1,1,1,",
        "NSE:TESTCO,2026-11-23T09:21:00+05:30,abc,1,1,1,1,",
        "NSE:TESTCO,2026-11-23T09:22:00+05:30,10,9,8,10,1,",
        "NSE:TESTCO,2026-11-23T09:23:00+05:30,-1,1,-2,1,1,",
        "NSE:TESTCO,2026-11-23T09:24:30+05:30,1,1,1,1,1,",
        "NSE:TESTCO,2026-11-23T09:25:00+05:30,1,1,1,1,-4,",
        "NSE:TESTCO,2026-11-23T09:15:00+05:30,100,101,99.5,100.5,11,",  # same minute as line 2
    ]
    report = import_bars(table=read_table(write(tmp_path, GOOD + bad)))
    assert report.rejected == [
        (2, "duplicate of a later row for the same minute"),
        (5, "unknown symbol or token"),
        (6, "unparseable time"),
        (7, "missing or non-numeric price"),
        (8, "high/low inconsistent with open/close"),
        (9, "prices must be positive"),
        (10, "time is not on a minute boundary"),
        (11, "volume must be a non-negative number"),
    ]
    rows = stored(instrument)
    assert len(rows) == 3
    assert rows[0][5] == 11  # the later duplicate won


def test_parquet_with_token_column(tmp_path: Path, instrument: Instrument) -> None:
    table = pa.table({
        "instrument_token": [instrument.instrument_token] * 2,
        "timestamp": pa.array([datetime(2026, 11, 23, 3, 45, tzinfo=UTC), datetime(2026, 11, 23, 3, 46, tzinfo=UTC)],
                              pa.timestamp("s", tz="UTC")),
        "open": [1.0, 2.0], "high": [2.0, 3.0], "low": [0.5, 1.5], "close": [2.0, 2.5], "volume": [5, 6],
    })
    path = tmp_path / "bars.parquet"
    pq.write_table(table, path)
    report = import_bars(table=read_table(path))
    assert (report.written, report.rejected) == (2, [])
    assert [r[4] for r in stored(instrument)] == [Decimal("2"), Decimal("2.5")]


def test_missing_columns_and_unreadable_files_fail_cleanly(tmp_path: Path, instrument: Instrument) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("symbol,time,open,close\nNSE:TESTCO,2026-11-23T09:15:00+05:30,1,1\n")
    with pytest.raises(CommandError, match="missing columns: high, low"):
        call_command("import_bars", str(path), "--no-progress")
    with pytest.raises(CommandError, match="no such file"):
        call_command("import_bars", str(tmp_path / "nope.csv"))
    assert Bar.objects.count() == 0


def test_command_reports_counts(tmp_path: Path, instrument: Instrument, capsys: pytest.CaptureFixture[str]) -> None:
    call_command("import_bars", str(write(tmp_path, GOOD)), "--no-progress")
    assert "3 rows: 3 written, 0 unchanged, 0 rejected" in capsys.readouterr().out


def test_a_replaced_bar_forgets_the_tick_metadata_it_was_built_from(tmp_path: Path, instrument: Instrument) -> None:
    import_bars(table=read_table(write(tmp_path, GOOD)))
    Bar.objects.filter(instrument=instrument).update(first_tick_ms=1, last_tick_ms=2, day_volume=3)
    corrected = [*GOOD[:2], "NSE:TESTCO,1795405620,101.75,103,101,102.5,30,"]
    import_bars(table=read_table(write(tmp_path, corrected)))
    rows = list(Bar.objects.filter(instrument=instrument).order_by("time").values_list(
        "first_tick_ms", "last_tick_ms", "day_volume"))
    assert rows == [(1, 2, 3), (1, 2, 3), (None, None, None)]
