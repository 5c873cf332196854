"""Expiry rules (Thursday → Tuesday on 2025-09-01, holiday moves), listed labelling, nearest-N, checks."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from itertools import count
from typing import Any

import pytest

from marketdata import calendar
from marketdata.corporate_actions import expiry_marks
from marketdata.expiries import (
    ExpiryInfo,
    ExpiryMismatch,
    RuleExpiry,
    check_listed_against_rule,
    days_to_expiry,
    expiries_for_underlying,
    generate_expiries,
    monthly_expiry,
    next_rule_expiries,
    nominal_monthly_expiry,
)
from marketdata.models import Instrument, TradingHoliday
from marketdata.services.calendar import trading_holiday_save
from tradeviz.errors import DataUnavailable, InvalidInput, NotFound

pytestmark = pytest.mark.django_db

_tokens = count(9_000_000)


@pytest.fixture(autouse=True)
def fresh_calendar_cache() -> Iterator[None]:
    calendar.reset_calendar_cache()
    yield
    calendar.reset_calendar_cache()


def make_contract(underlying: str, expiry: date, instrument_type: str, *, active: bool = True) -> Instrument:
    token = next(_tokens)
    return Instrument.objects.create(
        instrument_token=token,
        tradingsymbol=f"{underlying}{expiry:%y%m%d}{instrument_type}{token}",
        exchange="NFO",
        segment="NFO-OPT" if instrument_type != "FUT" else "NFO-FUT",
        instrument_type=instrument_type,
        underlying=underlying,
        expiry=expiry,
        strike=Decimal("22000") if instrument_type != "FUT" else None,
        lot_size=65,
        is_active=active,
    )


def list_options(underlying: str, *expiries: date) -> None:
    for expiry in expiries:
        make_contract(underlying, expiry, "CE")
        make_contract(underlying, expiry, "PE")


def list_futures(underlying: str, *expiries: date) -> None:
    for expiry in expiries:
        make_contract(underlying, expiry, "FUT")


def rules(items: list[RuleExpiry]) -> list[tuple[date, str]]:
    return [(r.expiry, r.label) for r in items]


# --- rules ------------------------------------------------------------------------------------------


def test_monthly_weekday_switches_from_thursday_to_tuesday_in_september_2025() -> None:
    assert nominal_monthly_expiry(2025, 8) == date(2025, 8, 28)  # last Thursday
    assert nominal_monthly_expiry(2025, 9) == date(2025, 9, 30)  # last Tuesday
    assert nominal_monthly_expiry(2026, 2) == date(2026, 2, 24)


def test_nifty_weeklies_across_the_switch() -> None:
    generated = generate_expiries(underlying="NIFTY", start=date(2025, 8, 18), end=date(2025, 9, 10))
    assert rules(generated) == [
        (date(2025, 8, 21), "weekly"),
        (date(2025, 8, 28), "monthly"),
        (date(2025, 9, 2), "weekly"),
        (date(2025, 9, 9), "weekly"),
    ]


def test_thursday_weekly_on_a_holiday_moves_to_wednesday_before_the_switch() -> None:
    generated = generate_expiries(underlying="NIFTY", start=date(2025, 4, 7), end=date(2025, 4, 20))
    assert rules(generated) == [(date(2025, 4, 9), "weekly"), (date(2025, 4, 17), "weekly")]
    assert generated[0].nominal == date(2025, 4, 10)  # Mahavir Jayanti


def test_tuesday_weekly_on_diwali_moves_to_monday_despite_the_muhurat_session() -> None:
    generated = generate_expiries(underlying="NIFTY", start=date(2025, 10, 13), end=date(2025, 10, 31))
    assert rules(generated) == [
        (date(2025, 10, 14), "weekly"),
        (date(2025, 10, 20), "weekly"),
        (date(2025, 10, 28), "monthly"),
    ]


def test_nifty_2026_march_april_with_holiday_moves() -> None:
    generated = generate_expiries(underlying="NIFTY", start=date(2026, 3, 1), end=date(2026, 4, 30))
    assert rules(generated) == [
        (date(2026, 3, 2), "weekly"),  # Holi on Tuesday 3 March
        (date(2026, 3, 10), "weekly"),
        (date(2026, 3, 17), "weekly"),
        (date(2026, 3, 24), "weekly"),
        (date(2026, 3, 30), "monthly"),  # Mahavir Jayanti on the last Tuesday, 31 March
        (date(2026, 4, 7), "weekly"),
        (date(2026, 4, 13), "weekly"),  # Ambedkar Jayanti on Tuesday 14 April
        (date(2026, 4, 21), "weekly"),
        (date(2026, 4, 28), "monthly"),
    ]


def test_holiday_shifted_monthlies() -> None:
    assert monthly_expiry(2026, 3) == date(2026, 3, 30)
    assert monthly_expiry(2026, 11) == date(2026, 11, 23)  # Guru Nanak Jayanti, Tuesday 24 November
    assert monthly_expiry(2025, 10) == date(2025, 10, 28)
    assert monthly_expiry(2024, 10) == date(2024, 10, 31)  # Muhurat day 1 Nov 2024 is after it


def test_monthly_only_underlyings() -> None:
    for underlying in ("BANKNIFTY", "FINNIFTY", "MIDCPNIFTY", "RELIANCE"):
        generated = generate_expiries(underlying=underlying, start=date(2026, 3, 1), end=date(2026, 5, 31))
        assert rules(generated) == [
            (date(2026, 3, 30), "monthly"),
            (date(2026, 4, 28), "monthly"),
            (date(2026, 5, 26), "monthly"),
        ]


def test_a_nominal_date_after_the_range_can_move_into_it() -> None:
    generated = generate_expiries(underlying="BANKNIFTY", start=date(2026, 3, 30), end=date(2026, 3, 30))
    assert rules(generated) == [(date(2026, 3, 30), "monthly")]


def test_next_rule_expiries_counts_from_as_of_inclusive() -> None:
    nearest = next_rule_expiries(underlying="NIFTY", as_of=date(2026, 3, 2), count=3)
    assert rules(nearest) == [
        (date(2026, 3, 2), "weekly"),
        (date(2026, 3, 10), "weekly"),
        (date(2026, 3, 17), "weekly"),
    ]


def test_rules_need_holiday_data() -> None:
    with pytest.raises(DataUnavailable):
        generate_expiries(underlying="NIFTY", start=date(2031, 1, 1), end=date(2031, 1, 31))


def test_a_holiday_added_later_changes_the_next_rule_expiry(django_capture_on_commit_callbacks: Any) -> None:
    as_of = date(2027, 2, 1)
    assert [e.expiry for e in expiries_for_underlying(underlying="NIFTY", as_of=as_of, limit=1)] == [
        date(2027, 2, 2)
    ]
    with django_capture_on_commit_callbacks(execute=True):
        trading_holiday_save(
            holiday=TradingHoliday(exchange="NSE", date=date(2027, 2, 2)), source="admin:ops"
        )
    nearest = expiries_for_underlying(underlying="NIFTY", as_of=as_of, limit=2)
    assert [(e.expiry, e.label, e.days_to_expiry, e.source) for e in nearest] == [
        (date(2027, 2, 1), "weekly", 0, "rule"),
        (date(2027, 2, 9), "weekly", 8, "rule"),
    ]


# --- listed expiries --------------------------------------------------------------------------------

AS_OF = date(2026, 3, 2)
NIFTY_WEEKLIES = (date(2026, 3, 2), date(2026, 3, 10), date(2026, 3, 17), date(2026, 3, 24))
NIFTY_MONTHLIES = (date(2026, 3, 30), date(2026, 4, 28), date(2026, 5, 26))
NIFTY_LONG_DATED = (date(2026, 6, 30), date(2026, 12, 29), date(2031, 6, 24))


@pytest.fixture
def nifty_master() -> None:
    list_options("NIFTY", *NIFTY_WEEKLIES, *NIFTY_MONTHLIES, *NIFTY_LONG_DATED)
    list_futures("NIFTY", *NIFTY_MONTHLIES)
    # Expired and inactive contracts are not listed expiries.
    list_options("NIFTY", date(2026, 2, 24))
    make_contract("NIFTY", date(2026, 4, 7), "CE", active=False)


def test_listed_expiries_are_labelled_and_nearest_first(nifty_master: None) -> None:
    listed = expiries_for_underlying(underlying="nifty", as_of=AS_OF, limit=100)
    assert [(e.expiry, e.label, e.days_to_expiry, e.source, e.has_futures) for e in listed] == [
        (date(2026, 3, 2), "weekly", 0, "listed", False),
        (date(2026, 3, 10), "weekly", 8, "listed", False),
        (date(2026, 3, 17), "weekly", 15, "listed", False),
        (date(2026, 3, 24), "weekly", 22, "listed", False),
        (date(2026, 3, 30), "monthly", 28, "listed", True),
        (date(2026, 4, 28), "monthly", 57, "listed", True),
        (date(2026, 5, 26), "monthly", 85, "listed", True),
        (date(2026, 6, 30), "monthly", 120, "listed", False),  # quarterly: no futures, rule date
        (date(2026, 12, 29), "monthly", 302, "listed", False),
        (date(2031, 6, 24), "monthly", 1940, "listed", False),  # no holiday data: last listed of its month
    ]
    assert all(e.contract_expiry == e.expiry for e in listed)


def test_nearest_n(nifty_master: None) -> None:
    nearest = expiries_for_underlying(underlying="NIFTY", as_of=date(2026, 3, 11), limit=3)
    assert [(e.expiry, e.label) for e in nearest] == [
        (date(2026, 3, 17), "weekly"),
        (date(2026, 3, 24), "weekly"),
        (date(2026, 3, 30), "monthly"),
    ]


def test_a_listed_expiry_on_a_new_holiday_is_reported_on_the_previous_trading_day(
    nifty_master: None, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        trading_holiday_save(
            holiday=TradingHoliday(exchange="NSE", date=date(2026, 3, 24)), source="admin:ops"
        )
    listed = expiries_for_underlying(underlying="NIFTY", as_of=AS_OF, limit=5)
    assert listed[3] == ExpiryInfo(
        expiry=date(2026, 3, 23),
        label="weekly",
        days_to_expiry=21,
        source="listed",
        has_futures=False,
        contract_expiry=date(2026, 3, 24),
    )
    assert check_listed_against_rule(underlying="NIFTY", as_of=AS_OF) == [
        ExpiryMismatch(
            date(2026, 3, 23), "moved_by_holiday", "listed for 2026-03-24, a holiday; effective 2026-03-23"
        )
    ]


def test_label_without_futures_uses_the_holiday_adjusted_rule() -> None:
    list_options("FINNIFTY", date(2026, 3, 30), date(2026, 3, 24))
    listed = expiries_for_underlying(underlying="FINNIFTY", as_of=AS_OF, source="listed")
    assert [(e.expiry, e.label, e.has_futures) for e in listed] == [
        (date(2026, 3, 24), "weekly", False),
        (date(2026, 3, 30), "monthly", False),
    ]


def test_rule_fallback_when_nothing_is_listed() -> None:
    result = expiries_for_underlying(underlying="BANKNIFTY", as_of=AS_OF, limit=3)
    assert result == [
        ExpiryInfo(date(2026, 3, 30), "monthly", 28, "rule", False, None),
        ExpiryInfo(date(2026, 4, 28), "monthly", 57, "rule", False, None),
        ExpiryInfo(date(2026, 5, 26), "monthly", 85, "rule", False, None),
    ]
    assert expiries_for_underlying(underlying="BANKNIFTY", as_of=AS_OF, source="listed") == []


def test_stock_with_only_futures_listed_uses_rules_and_reports_futures() -> None:
    list_futures("RELIANCE", date(2026, 3, 30))
    result = expiries_for_underlying(underlying="RELIANCE", as_of=AS_OF, limit=2)
    assert [(e.expiry, e.source, e.has_futures) for e in result] == [
        (date(2026, 3, 30), "rule", True),
        (date(2026, 4, 28), "rule", False),
    ]


def test_unknown_underlying_and_bad_arguments() -> None:
    with pytest.raises(NotFound):
        expiries_for_underlying(underlying="NOSUCH", as_of=AS_OF)
    with pytest.raises(InvalidInput):
        expiries_for_underlying(underlying="NIFTY", as_of=AS_OF, limit=0)
    with pytest.raises(InvalidInput):
        expiries_for_underlying(underlying="NIFTY", as_of=AS_OF, source="guess")


def test_days_to_expiry() -> None:
    assert days_to_expiry(date(2026, 3, 30), date(2026, 3, 2)) == 28
    assert days_to_expiry(date(2026, 3, 2), date(2026, 3, 2)) == 0
    assert days_to_expiry(date(2026, 3, 1), date(2026, 3, 2)) == -1


# --- check against the rules ------------------------------------------------------------------------


def test_check_agrees_with_a_correct_master(nifty_master: None) -> None:
    assert check_listed_against_rule(underlying="NIFTY", as_of=AS_OF) == []


def test_check_reports_missing_and_off_rule_expiries(nifty_master: None) -> None:
    Instrument.objects.filter(underlying="NIFTY", expiry=date(2026, 3, 17)).delete()
    list_options("NIFTY", date(2026, 3, 12))  # a Thursday: off the rules since September 2025
    list_options("NIFTY", date(2026, 9, 22))  # long-dated but not the last Tuesday of September
    assert check_listed_against_rule(underlying="NIFTY", as_of=AS_OF) == [
        ExpiryMismatch(date(2026, 3, 12), "not_in_rule", "listed weekly expiry off the rules"),
        ExpiryMismatch(date(2026, 3, 17), "missing_from_listed", "rule weekly expiry not listed"),
        ExpiryMismatch(date(2026, 9, 22), "not_in_rule", "long-dated expiry is not the month's rule date"),
    ]


def test_check_without_listed_expiries_is_empty() -> None:
    assert check_listed_against_rule(underlying="BANKNIFTY", as_of=AS_OF) == []


# --- timescale marks --------------------------------------------------------------------------------


def test_expiry_marks_for_udf() -> None:
    marks = expiry_marks(underlying="BANKNIFTY", start=date(2026, 3, 1), end=date(2026, 4, 30))
    assert marks == [
        {
            "id": "expiry-BANKNIFTY-20260330",
            "time": int(datetime(2026, 3, 30, tzinfo=UTC).timestamp()),
            "color": "#1565C0",
            "label": "M",
            "tooltip": ["BANKNIFTY monthly expiry", "2026-03-30"],
        },
        {
            "id": "expiry-BANKNIFTY-20260428",
            "time": int(datetime(2026, 4, 28, tzinfo=UTC).timestamp()),
            "color": "#1565C0",
            "label": "M",
            "tooltip": ["BANKNIFTY monthly expiry", "2026-04-28"],
        },
    ]


def test_expiry_marks_skip_years_without_holiday_data(nifty_master: None) -> None:
    marks = expiry_marks(underlying="NIFTY", start=date(2031, 6, 1), end=date(2031, 6, 30))
    assert [(m["id"], m["label"]) for m in marks] == [("expiry-NIFTY-20310624", "M")]  # the listed one only
