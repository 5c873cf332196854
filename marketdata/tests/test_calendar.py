"""The calendar service: seeded data, sessions, trading minutes, missing years, SIM, cache invalidation."""

from __future__ import annotations

import importlib.metadata
import logging
import time as clock
from collections.abc import Iterator
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from marketdata import calendar
from marketdata.models import SpecialSession, TradingHoliday
from marketdata.services.calendar import (
    admin_source,
    offline_calendar_rows,
    seed_exchange_holidays,
    special_session_save,
    trading_holiday_delete,
    trading_holiday_save,
)
from tradeviz.errors import DataUnavailable, InvalidInput
from tradeviz.redis_client import get_redis

pytestmark = pytest.mark.django_db

IST = ZoneInfo("Asia/Kolkata")

# NSE trading holidays (weekdays) per the exchange circulars.
NSE_2025 = [
    date(2025, 2, 26),
    date(2025, 3, 14),
    date(2025, 3, 31),
    date(2025, 4, 10),
    date(2025, 4, 14),
    date(2025, 4, 18),
    date(2025, 5, 1),
    date(2025, 8, 15),
    date(2025, 8, 27),
    date(2025, 10, 2),
    date(2025, 10, 21),
    date(2025, 10, 22),
    date(2025, 11, 5),
    date(2025, 12, 25),
]
NSE_2026 = [
    date(2026, 1, 15),
    date(2026, 1, 26),
    date(2026, 3, 3),
    date(2026, 3, 26),
    date(2026, 3, 31),
    date(2026, 4, 3),
    date(2026, 4, 14),
    date(2026, 5, 1),
    date(2026, 5, 28),
    date(2026, 6, 26),
    date(2026, 9, 14),
    date(2026, 10, 2),
    date(2026, 10, 20),
    date(2026, 11, 10),
    date(2026, 11, 24),
    date(2026, 12, 25),
]
UNSEEDED_YEAR = 2031
# Seeded rows name the package version they came from (pinned in requirements.lock).
HOLIDAYS_SOURCE = f"holidays {importlib.metadata.version('holidays')} financial_holidays(XNSE)"
PMC_SOURCE = f"pandas_market_calendars {importlib.metadata.version('pandas_market_calendars')} XNSE"


def ist(*args: int) -> datetime:
    return datetime(*args, tzinfo=IST)  # type: ignore[misc]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


@pytest.fixture(autouse=True)
def fresh_calendar_cache(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Tests roll the database back; the process cache must not carry rows across them."""
    calendar.reset_calendar_cache()
    yield
    calendar.reset_calendar_cache()


# --- seeded data ------------------------------------------------------------------------------------


def test_seeded_2025_holidays_match_the_nse_circular() -> None:
    rows = TradingHoliday.objects.filter(exchange="NSE", date__year=2025).order_by("date")
    assert [r.date for r in rows] == NSE_2025
    assert rows.get(date=date(2025, 10, 21)).description == "Diwali Lakshmi Puja"
    assert rows.get(date=date(2025, 10, 21)).source == HOLIDAYS_SOURCE


def test_seeded_2026_holidays_include_the_ad_hoc_election_closure() -> None:
    rows = TradingHoliday.objects.filter(exchange="NSE", date__year=2026).order_by("date")
    assert [r.date for r in rows] == NSE_2026
    election = rows.get(date=date(2026, 1, 15))
    assert election.description == "Maharashtra municipal corporation elections"
    assert election.source == PMC_SOURCE


def test_seeded_muhurat_sessions() -> None:
    sessions = SpecialSession.objects.filter(exchange="NSE").order_by("date")
    assert [(s.date, s.open_time, s.close_time) for s in sessions] == [
        (date(2024, 11, 1), time(18, 0), time(19, 0)),
        (date(2025, 10, 21), time(13, 45), time(14, 45)),
    ]


def test_only_weekdays_are_seeded_and_2027_is_provisional() -> None:
    assert not [h for h in TradingHoliday.objects.all() if h.date.weekday() >= 5]
    assert TradingHoliday.objects.filter(exchange="NSE", date__year=2027).count() == 9


def test_the_two_offline_sources_differ_where_documented() -> None:
    holidays_pkg, _ = offline_calendar_rows(exchange="NSE", years=[2025, 2026], source="holidays")
    pmc, pmc_sessions = offline_calendar_rows(
        exchange="NSE", years=[2025, 2026], source="pandas_market_calendars"
    )
    holidays_dates = {row.date for row in holidays_pkg}
    pmc_dates = {row.date for row in pmc}
    # holidays follows the circular (Laxmi Pujan is a holiday); pmc models it as a Muhurat-only day.
    assert holidays_dates - pmc_dates == {date(2025, 10, 21)}
    # pmc knows the ad-hoc closure announced after the 2026 circular.
    assert pmc_dates - holidays_dates == {date(2026, 1, 15)}
    assert [(s.date, s.open_time, s.close_time) for s in pmc_sessions] == [
        (date(2025, 10, 21), time(13, 45), time(14, 45))
    ]


def test_reseeding_is_idempotent_and_keeps_admin_corrections() -> None:
    corrected = TradingHoliday.objects.get(exchange="NSE", date=date(2025, 3, 14))
    corrected.description = "Holi (corrected)"
    corrected.source = admin_source("ops")
    corrected.save()

    counts = seed_exchange_holidays(exchange="NSE", years=range(2024, 2028), source="merged")

    assert (counts.inserted, counts.updated, counts.kept_admin) == (0, 0, 1)
    assert counts.unchanged == TradingHoliday.objects.filter(date__year__gte=2024).count() - 1 + 2
    assert (
        TradingHoliday.objects.get(exchange="NSE", date=date(2025, 3, 14)).description == "Holi (corrected)"
    )


def test_seeding_after_a_deleted_row_restores_it() -> None:
    TradingHoliday.objects.filter(exchange="NSE", date=date(2025, 8, 15)).delete()
    counts = seed_exchange_holidays(exchange="NSE", years=[2025], source="merged")
    assert (counts.inserted, counts.updated) == (1, 0)
    assert (
        TradingHoliday.objects.get(exchange="NSE", date=date(2025, 8, 15)).description == "Independence Day"
    )


# --- days and sessions ------------------------------------------------------------------------------


def test_regular_session_bounds_in_utc() -> None:
    assert calendar.session_bounds(date(2026, 1, 2), "NSE") == (
        utc(2026, 1, 2, 3, 45),
        utc(2026, 1, 2, 10, 0),
    )
    assert calendar.session_bounds(date(2026, 1, 2), "NFO") == (
        utc(2026, 1, 2, 3, 45),
        utc(2026, 1, 2, 10, 0),
    )


def test_holidays_and_weekends_have_no_session() -> None:
    assert calendar.session_bounds(date(2026, 1, 26)) is None  # Republic Day, Monday
    assert calendar.session_bounds(date(2026, 1, 24)) is None  # Saturday
    assert calendar.is_trading_day(date(2026, 1, 26)) is False
    assert calendar.is_trading_day(date(2026, 1, 25)) is False
    assert calendar.is_trading_day(date(2026, 1, 27)) is True


def test_muhurat_session_overrides_the_holiday() -> None:
    day = date(2025, 10, 21)
    assert calendar.session_bounds(day) == (utc(2025, 10, 21, 8, 15), utc(2025, 10, 21, 9, 15))
    assert calendar.is_trading_day(day) is True
    assert calendar.is_regular_trading_day(day) is False
    info = calendar.describe_day(day)
    assert (info.kind, info.description) == ("special", "Muhurat trading (Diwali)")


def test_next_and_previous_trading_day_across_holidays_and_weekends() -> None:
    assert calendar.next_trading_day(date(2025, 10, 17)) == date(2025, 10, 20)  # Fri → Mon
    assert calendar.next_trading_day(date(2025, 10, 20)) == date(2025, 10, 21)  # Muhurat counts
    assert calendar.next_trading_day(date(2025, 10, 20), regular_only=True) == date(2025, 10, 23)
    assert calendar.previous_trading_day(date(2026, 1, 27)) == date(2026, 1, 23)  # over Mon 26 holiday
    assert calendar.previous_trading_day(date(2026, 1, 16)) == date(2026, 1, 14)  # over election day
    assert calendar.next_trading_day(date(2025, 12, 31)) == date(2026, 1, 1)  # across years


def test_sessions_in_range_skips_closed_days() -> None:
    sessions = calendar.sessions_in_range(date(2025, 10, 17), date(2025, 10, 24), "NSE")
    assert [s.date for s in sessions] == [
        date(2025, 10, 17),
        date(2025, 10, 20),
        date(2025, 10, 21),
        date(2025, 10, 23),
        date(2025, 10, 24),
    ]
    first_date, first_open, first_close = sessions[0]
    assert (first_date, first_open, first_close) == (
        date(2025, 10, 17),
        utc(2025, 10, 17, 3, 45),
        utc(2025, 10, 17, 10, 0),
    )
    assert (sessions[2].open, sessions[2].close) == (utc(2025, 10, 21, 8, 15), utc(2025, 10, 21, 9, 15))


def test_trading_minutes_between() -> None:
    minutes = calendar.trading_minutes_between
    assert minutes(ist(2026, 1, 2, 9, 15), ist(2026, 1, 2, 15, 30)) == 375
    assert minutes(ist(2026, 1, 2, 0, 0), ist(2026, 1, 3, 0, 0)) == 375
    # Friday 15:00 → Tuesday 09:45 over a weekend and the Republic Day Monday: 30 + 30.
    assert minutes(ist(2026, 1, 23, 15, 0), ist(2026, 1, 27, 9, 45)) == 60
    # Holi week: four full days.
    assert minutes(ist(2026, 3, 2, 0, 0), ist(2026, 3, 7, 0, 0)) == 4 * 375
    # Diwali week 2025: Mon full, Tue Muhurat hour, Wed holiday, Thu and Fri full.
    assert minutes(ist(2025, 10, 20, 0, 0), ist(2025, 10, 25, 0, 0)) == 3 * 375 + 60
    assert minutes(ist(2026, 1, 2, 12, 0), ist(2026, 1, 2, 12, 0)) == 0
    assert minutes(ist(2026, 1, 2, 13, 0), ist(2026, 1, 2, 12, 0)) == 0
    assert minutes(ist(2026, 1, 2, 9, 15, 30), ist(2026, 1, 2, 9, 17)) == 1
    assert minutes(utc(2026, 1, 2, 3, 45), utc(2026, 1, 2, 4, 45), "NFO") == 60


def test_is_market_open_at_the_edges() -> None:
    assert calendar.is_market_open(ist(2026, 1, 2, 9, 14, 59)) is False
    assert calendar.is_market_open(ist(2026, 1, 2, 9, 15)) is True
    assert calendar.is_market_open(ist(2026, 1, 2, 15, 29, 59)) is True
    assert calendar.is_market_open(ist(2026, 1, 2, 15, 30)) is False


def test_session_holidays_and_corrections_strings() -> None:
    assert calendar.session_holidays_string("NSE", [2025]) == (
        "20250226,20250314,20250331,20250410,20250414,20250418,20250501,20250815,20250827,"
        "20251002,20251022,20251105,20251225"
    )
    assert calendar.session_corrections_string("NSE", [2024, 2025]) == "1800-1900:20241101;1345-1445:20251021"
    assert calendar.session_holidays_string("SIM", [UNSEEDED_YEAR]) == ""


# --- missing data, bad input ------------------------------------------------------------------------


def test_a_year_without_holidays_raises_naming_exchange_and_year() -> None:
    with pytest.raises(DataUnavailable) as raised:
        calendar.is_trading_day(date(UNSEEDED_YEAR, 1, 2))
    assert raised.value.details == {"exchange": "NSE", "year": UNSEEDED_YEAR}
    assert f"NSE in {UNSEEDED_YEAR}" in raised.value.message
    with pytest.raises(DataUnavailable):
        calendar.session_bounds(date(UNSEEDED_YEAR, 1, 4), "NFO")  # a Saturday still needs the data
    with pytest.raises(DataUnavailable):
        calendar.session_holidays_string("NSE", [2025, UNSEEDED_YEAR])
    with pytest.raises(DataUnavailable):
        calendar.next_trading_day(date(2027, 12, 31))
    with pytest.raises(DataUnavailable):
        calendar.trading_minutes_between(ist(2027, 12, 31, 9, 0), ist(2028, 1, 3, 16, 0))


def test_bse_has_no_data_and_says_so() -> None:
    with pytest.raises(DataUnavailable) as raised:
        calendar.is_trading_day(date(2026, 1, 2), "BFO")
    assert raised.value.details == {"exchange": "BSE", "year": 2026}


def test_bad_input() -> None:
    with pytest.raises(InvalidInput):
        calendar.is_trading_day(date(2026, 1, 2), "XYZ")
    with pytest.raises(InvalidInput):
        calendar.trading_minutes_between(datetime(2026, 1, 2, 9, 15), ist(2026, 1, 2, 10, 0))


# --- SIM --------------------------------------------------------------------------------------------


def test_sim_trades_every_day_all_day_without_holiday_data() -> None:
    saturday = date(UNSEEDED_YEAR, 1, 4)
    assert calendar.is_trading_day(saturday, "SIM") is True
    assert calendar.is_trading_day(date(2026, 1, 26), "SIM") is True  # an NSE holiday
    assert calendar.session_bounds(saturday, "SIM") == (
        utc(UNSEEDED_YEAR, 1, 3, 18, 30),
        utc(UNSEEDED_YEAR, 1, 4, 18, 30),
    )
    assert calendar.next_trading_day(saturday, "SIM") == date(UNSEEDED_YEAR, 1, 5)
    assert calendar.trading_minutes_between(ist(UNSEEDED_YEAR, 1, 4), ist(UNSEEDED_YEAR, 1, 6), "SIM") == 2880
    assert len(calendar.sessions_in_range(date(UNSEEDED_YEAR, 1, 1), date(UNSEEDED_YEAR, 1, 31), "SIM")) == 31


# --- cache and invalidation -------------------------------------------------------------------------

PLAIN_TUESDAY = date(2027, 2, 9)


def test_a_change_in_another_process_is_seen_within_the_check_interval(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(calendar, "VERSION_CHECK_INTERVAL_SECONDS", 0.3)
    assert calendar.is_trading_day(PLAIN_TUESDAY) is True

    # Another process: writes the row and bumps the shared version; this process's cache is untouched.
    TradingHoliday.objects.create(exchange="NSE", date=PLAIN_TUESDAY, description="Declared", source="test")
    get_redis().incr(calendar.VERSION_KEY)

    assert calendar.is_trading_day(PLAIN_TUESDAY) is True  # still cached: no database read per call
    clock.sleep(0.35)
    assert calendar.is_trading_day(PLAIN_TUESDAY) is False


def test_a_holiday_saved_through_the_service_takes_effect_without_clearing_caches(
    django_capture_on_commit_callbacks: Any,
) -> None:
    assert calendar.is_trading_day(PLAIN_TUESDAY) is True
    assert calendar.previous_trading_day(date(2027, 2, 10)) == PLAIN_TUESDAY
    before = int(get_redis().get(calendar.VERSION_KEY) or 0)

    with django_capture_on_commit_callbacks(execute=True):
        holiday = trading_holiday_save(
            holiday=TradingHoliday(exchange="NFO", date=PLAIN_TUESDAY, description="Declared"),
            source="admin:ops",
        )

    assert (holiday.exchange, holiday.source) == ("NSE", "admin:ops")
    assert int(get_redis().get(calendar.VERSION_KEY)) == before + 1
    assert calendar.is_trading_day(PLAIN_TUESDAY) is False
    assert calendar.previous_trading_day(date(2027, 2, 10)) == date(2027, 2, 8)

    with django_capture_on_commit_callbacks(execute=True):
        trading_holiday_delete(holiday=holiday)
    assert calendar.is_trading_day(PLAIN_TUESDAY) is True


def test_a_special_session_saved_through_the_service_opens_a_saturday(
    django_capture_on_commit_callbacks: Any,
) -> None:
    saturday = date(2027, 2, 13)
    assert calendar.session_bounds(saturday) is None
    with django_capture_on_commit_callbacks(execute=True):
        special_session_save(
            session=SpecialSession(
                exchange="NSE",
                date=saturday,
                open_time=time(9, 15),
                close_time=time(15, 30),
                description="DR drill",
            ),
            source="admin:ops",
        )
    assert calendar.session_bounds(saturday) == (utc(2027, 2, 13, 3, 45), utc(2027, 2, 13, 10, 0))


def test_redis_down_keeps_the_cached_calendar_and_logs(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(calendar, "VERSION_CHECK_INTERVAL_SECONDS", 0.0)
    assert calendar.is_trading_day(PLAIN_TUESDAY) is True

    unreachable = redis.Redis(
        host="127.0.0.1", port=1, socket_connect_timeout=0.2, socket_timeout=0.2, retry=Retry(NoBackoff(), 0)
    )
    monkeypatch.setattr(calendar, "get_redis", lambda: unreachable)
    TradingHoliday.objects.create(exchange="NSE", date=PLAIN_TUESDAY, description="Declared", source="test")

    with caplog.at_level(logging.WARNING, logger="marketdata.calendar"):
        assert calendar.is_trading_day(PLAIN_TUESDAY) is True
        assert calendar.is_trading_day(PLAIN_TUESDAY) is True  # backed off: one warning, not one per call
    warnings = [r for r in caplog.records if "keeping cached holidays" in r.getMessage()]
    assert len(warnings) == 1


def test_cached_lookups_are_fast_enough_for_ticks() -> None:
    calendar.is_market_open(ist(2026, 1, 2, 10, 0))
    calls = 20_000
    started = clock.perf_counter()
    for _ in range(calls):
        calendar.is_market_open(ist(2026, 1, 2, 10, 0))
    per_call = (clock.perf_counter() - started) / calls
    assert per_call < 50e-6


# --- admin ------------------------------------------------------------------------------------------


@pytest.fixture
def admin_client_ops(client: Any, django_user_model: Any) -> Any:
    admin = django_user_model.objects.create_superuser(
        username="ops", password="ops-pass-1", email="ops@example.com"
    )
    client.force_login(admin)
    return client


def test_admin_lists_holidays_by_exchange_and_year(admin_client_ops: Any) -> None:
    response = admin_client_ops.get("/admin/marketdata/tradingholiday/?exchange__exact=NSE&year=2025")
    assert response.status_code == 200
    assert len(response.context["cl"].result_list) == len(NSE_2025)
    for page in ("specialsession", "corporateaction", "calendarfetchrun"):
        assert admin_client_ops.get(f"/admin/marketdata/{page}/").status_code == 200
    assert admin_client_ops.get("/admin/marketdata/calendarfetchrun/add/").status_code == 403


def test_a_holiday_added_in_admin_takes_effect_everywhere(
    admin_client_ops: Any, django_capture_on_commit_callbacks: Any
) -> None:
    assert calendar.is_trading_day(PLAIN_TUESDAY) is True
    before = int(get_redis().get(calendar.VERSION_KEY) or 0)
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client_ops.post(
            "/admin/marketdata/tradingholiday/add/",
            {"exchange": "NSE", "date": PLAIN_TUESDAY.isoformat(), "description": "Declared by circular"},
        )
    assert response.status_code == 302
    holiday = TradingHoliday.objects.get(exchange="NSE", date=PLAIN_TUESDAY)
    assert (holiday.description, holiday.source) == ("Declared by circular", "admin:ops")
    assert int(get_redis().get(calendar.VERSION_KEY)) == before + 1
    assert calendar.is_trading_day(PLAIN_TUESDAY) is False

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client_ops.post(
            f"/admin/marketdata/tradingholiday/{holiday.pk}/delete/", {"post": "yes"}
        )
    assert response.status_code == 302
    assert calendar.is_trading_day(PLAIN_TUESDAY) is True


def test_admin_rejects_a_duplicate_holiday(admin_client_ops: Any) -> None:
    response = admin_client_ops.post(
        "/admin/marketdata/tradingholiday/add/",
        {"exchange": "NSE", "date": "2025-08-15", "description": "again"},
    )
    assert response.status_code == 200  # the form comes back with the error
    assert TradingHoliday.objects.filter(exchange="NSE", date=date(2025, 8, 15)).count() == 1
