from __future__ import annotations

import csv
import io
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from marketdata.models import Instrument
from marketdata.services.instruments import REQUIRED_COLUMNS, InstrumentFileError, load_instruments

pytestmark = pytest.mark.django_db

ROWS = [
    ["256265", "1001", "NIFTY 50", "NIFTY 50", "24000", "", "0", "0.05", "0", "EQ", "INDICES", "NSE"],
    ["738561", "2885", "RELIANCE", "RELIANCE INDUSTRIES", "1420.5", "", "0", "0.1", "1", "EQ", "NSE", "NSE"],
    ["9100000", "", "NIFTY26DECFUT", "NIFTY", "24100", "2026-12-29", "0", "0.05", "65", "FUT", "NFO-FUT", "NFO"],
    ["9200000", "", "NIFTY26120124000CE", "NIFTY", "110", "2026-12-01", "24000", "0.05", "65", "CE", "NFO-OPT",
     "NFO"],
]


def csv_text(rows: list[list[str]], columns: tuple[str, ...] = REQUIRED_COLUMNS) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    writer.writerows(rows)
    return out.getvalue()


def test_load_maps_types_underlyings_and_symbols() -> None:
    report = load_instruments(text=csv_text(ROWS))
    assert (report.created, report.updated, report.unchanged, report.rejected) == (4, 0, 0, [])
    index = Instrument.objects.get(instrument_token=256265)
    assert (index.symbol, index.instrument_type, index.underlying) == ("NSE:NIFTY 50", "INDEX", "NIFTY")
    stock = Instrument.objects.get(instrument_token=738561)
    assert (stock.instrument_type, stock.underlying, stock.tick_size, stock.lot_size) == (
        "EQ", "RELIANCE", Decimal("0.1"), 1)
    option = Instrument.objects.get(instrument_token=9200000)
    assert (option.symbol, option.underlying, option.strike, option.lot_size) == (
        "NFO:NIFTY26120124000CE", "NIFTY", Decimal("24000"), 65)


def test_reload_is_idempotent_and_updates_changes() -> None:
    load_instruments(text=csv_text(ROWS))
    again = load_instruments(text=csv_text(ROWS))
    assert (again.created, again.updated, again.unchanged) == (0, 0, 4)

    changed = [row[:] for row in ROWS]
    changed[2][8] = "75"  # lot size change by circular
    report = load_instruments(text=csv_text(changed))
    assert (report.created, report.updated, report.unchanged) == (0, 1, 3)
    assert Instrument.objects.get(instrument_token=9100000).lot_size == 75
    assert Instrument.objects.count() == 4


def test_bad_rows_are_rejected_with_reasons_and_good_rows_kept() -> None:
    bad = [
        ["x", "", "BAD", "", "", "", "", "0.05", "1", "EQ", "NSE", "NSE"],
        ["5", "", "OPT", "NIFTY", "", "", "", "0.05", "1", "CE", "NFO-OPT", "NFO"],
        ["6", "", "WEIRD", "", "", "", "", "0.05", "1", "BOND", "NSE", "NSE"],
        ["7", "", "NEG", "", "", "", "", "0.05", "-5", "EQ", "NSE", "NSE"],
        ["8", "", "RELIANCE", "", "", "", "", "0.05", "1", "EQ", "NSE", "NSE"],  # symbol of token 738561
    ]
    report = load_instruments(text=csv_text(ROWS + bad))
    assert report.created == 4
    assert [line for line, _ in report.rejected] == [6, 7, 8, 9, 10]
    reasons = dict(report.rejected)
    assert reasons[6] == "instrument_token is not an integer: 'x'"
    assert reasons[7] == "options need an expiry and a positive strike"
    assert reasons[8] == "instrument_type must be EQ, FUT, CE or PE, not 'BOND'"
    assert reasons[9] == "lot_size must be positive"
    assert reasons[10] == "NSE:RELIANCE already used by token 738561 in this file"
    assert not Instrument.objects.filter(instrument_token__in=[5, 6, 7, 8]).exists()


def test_missing_columns_fail_the_whole_file() -> None:
    with pytest.raises(InstrumentFileError, match="missing columns: lot_size"):
        load_instruments(text=csv_text([], tuple(c for c in REQUIRED_COLUMNS if c != "lot_size")))
    assert Instrument.objects.count() == 0


def test_management_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "instruments.csv"
    path.write_text(csv_text(ROWS))
    call_command("load_instruments", str(path))
    assert "4 created, 0 updated, 0 unchanged, 0 rejected" in capsys.readouterr().out
    with pytest.raises(CommandError, match="cannot read"):
        call_command("load_instruments", str(tmp_path / "missing.csv"))
