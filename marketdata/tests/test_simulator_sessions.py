"""Session rules against the real market calendar (holidays seeded by the migrations)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest

from marketdata import calendar
from marketdata.models import TradingHoliday
from marketdata.services.calendar import trading_holiday_save
from marketdata.simulator import NSE_CHART_SYMBOL, SIM_CHART_SYMBOL, default_chart_symbol
from marketdata.simulator.engine import TickEngine
from marketdata.simulator.sessions import SessionGate
from marketdata.tests.test_simulator_engine import BATCH_MS, ist_ms, make_universe
from tradeviz.errors import DataUnavailable

pytestmark = pytest.mark.django_db

RATE = 100


@pytest.fixture(autouse=True)
def _fresh_calendar() -> Iterator[None]:
    calendar.reset_calendar_cache()
    yield
    calendar.reset_calendar_cache()


def play(start_ms: int, minutes: int) -> list[tuple[str, dict[str, Any]]]:
    """(exchange, tick) over `minutes` from `start_ms`, the gate asking the calendar for each batch."""
    universe = make_universe(as_of_ms=start_ms)
    gate = SessionGate(universe.calendars)
    engine = TickEngine(universe, seed=11, start_ms=start_ms, ticks_per_second=RATE, batch_ms=BATCH_MS)
    ticks: list[tuple[str, dict[str, Any]]] = []
    for k in range(minutes * 60_000 // BATCH_MS):
        ts = start_ms + k * BATCH_MS
        for tick in engine.step(ts, gate.open_calendars(ts)):
            ticks.append((universe.get(tick["token"]).exchange, tick))  # type: ignore[union-attr]
    return ticks


def exchanges(ticks: list[tuple[str, dict[str, Any]]]) -> set[str]:
    return {exchange for exchange, _ in ticks}


def test_no_nse_ticks_before_the_open() -> None:
    ticks = play(ist_ms(2026, 11, 30, 8, 0), 3)  # a Monday
    assert ticks
    assert exchanges(ticks) == {"SIM"}


def test_nse_ticks_only_from_0915_and_never_at_or_after_1530() -> None:
    ticks = play(ist_ms(2026, 11, 30, 9, 14), 2)
    assert exchanges(ticks) == {"NSE", "NFO", "SIM"}
    first_nse = min(t["ts"] for e, t in ticks if e != "SIM")
    assert ist_ms(2026, 11, 30, 9, 15) <= first_nse < ist_ms(2026, 11, 30, 9, 15) + 1_000

    ticks = play(ist_ms(2026, 11, 30, 15, 29), 2)
    assert exchanges(ticks) == {"NSE", "NFO", "SIM"}
    assert max(t["ts"] for e, t in ticks if e != "SIM") < ist_ms(2026, 11, 30, 15, 30)
    assert max(t["ts"] for e, t in ticks if e == "SIM") >= ist_ms(2026, 11, 30, 15, 30)  # SIM carries on


def test_no_nse_ticks_on_a_holiday() -> None:
    ticks = play(ist_ms(2026, 1, 26, 11, 0), 2)  # Republic Day, a Monday
    assert ticks
    assert exchanges(ticks) == {"SIM"}


def test_no_nse_ticks_on_a_weekend() -> None:
    ticks = play(ist_ms(2026, 11, 29, 11, 0), 2)  # a Sunday
    assert ticks
    assert exchanges(ticks) == {"SIM"}


def test_sim_ticks_in_the_middle_of_the_night() -> None:
    start = ist_ms(2026, 12, 1, 2, 0)
    assert SessionGate(["NSE", "SIM"]).open_calendars(start) == frozenset({"SIM"})
    ticks = play(start, 1)
    assert len(ticks) == RATE * 60
    assert exchanges(ticks) == {"SIM"}


def test_a_holiday_added_while_running_stops_nse_ticks_from_the_next_minute(
    django_capture_on_commit_callbacks: Any,
) -> None:
    gate = SessionGate(["NSE", "SIM"])
    minute = ist_ms(2026, 12, 2, 11, 0)  # a regular Wednesday
    assert gate.open_calendars(minute) == frozenset({"NSE", "SIM"})
    with django_capture_on_commit_callbacks(execute=True):
        trading_holiday_save(holiday=TradingHoliday(exchange="NSE", date=date(2026, 12, 2), description="Test closure"),
                             source="admin:test")
    # Within the same minute the answer stands; the next minute asks the calendar again.
    assert gate.open_calendars(minute + 30_000) == frozenset({"NSE", "SIM"})
    assert gate.open_calendars(minute + 60_000) == frozenset({"SIM"})


def test_a_year_without_holiday_data_is_closed_not_open() -> None:
    def unknown_year(instant: datetime, exchange: str) -> bool:
        if exchange == "NSE":
            raise DataUnavailable("no holidays")
        return True

    gate = SessionGate(["NSE", "SIM"], is_open=unknown_year)
    assert gate.open_calendars(ist_ms(2031, 6, 3, 11, 0)) == frozenset({"SIM"})


def test_default_chart_symbol_follows_the_nse_session() -> None:
    def at(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
        return datetime.fromtimestamp(ist_ms(year, month, day, hour, minute) / 1000, tz=UTC)

    assert default_chart_symbol(at(2026, 11, 30, 10, 0)) == NSE_CHART_SYMBOL == "NSE:NIFTY 50"
    assert default_chart_symbol(at(2026, 11, 30, 8, 0)) == SIM_CHART_SYMBOL == "SIM:SIMNIFTY"
    assert default_chart_symbol(at(2026, 11, 30, 15, 30)) == SIM_CHART_SYMBOL
    assert default_chart_symbol(at(2026, 11, 29, 11, 0)) == SIM_CHART_SYMBOL  # Sunday
    assert default_chart_symbol(at(2026, 1, 26, 11, 0)) == SIM_CHART_SYMBOL  # holiday
    assert default_chart_symbol(at(2035, 6, 5, 11, 0)) == SIM_CHART_SYMBOL  # no holiday data for 2035
