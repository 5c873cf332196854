"""The demo market: SIM instruments and 24x7 history, NSE history in sessions, stable tokens, gap filling,
and where the simulator starts from."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest
from django.db import connection

from marketdata import calendar
from marketdata.demo import (
    INDEX,
    NSE_MARKET,
    SIM_INDEX,
    SIM_MARKET,
    _oi_walk,
    future_token,
    option_token,
    seed_demo_market,
)
from marketdata.models import Bar, Instrument
from marketdata.simulator import store
from marketdata.tests.factories import make_instrument

pytestmark = pytest.mark.django_db

IST = timedelta(hours=5, minutes=30)


def ist(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC) - IST


NOW = ist(2026, 12, 2, 12, 0)  # a Wednesday, NSE in session


@pytest.fixture(autouse=True)
def _fresh_calendar() -> Iterator[None]:
    calendar.reset_calendar_cache()
    yield
    calendar.reset_calendar_cache()


def bar_times(symbol: str) -> list[datetime]:
    return list(Bar.objects.filter(instrument__symbol=symbol).order_by("time").values_list("time", flat=True))


def test_the_demo_lists_a_24x7_sim_market_with_history() -> None:
    written = seed_demo_market(now=NOW, history_days=3, sim_history_days=2)
    assert written > 0
    sim = Instrument.objects.get(symbol="SIM:SIMNIFTY")
    assert (sim.instrument_token, sim.exchange, sim.instrument_type, sim.underlying) == (
        SIM_INDEX.token, "SIM", "INDEX", "SIMNIFTY")
    futures = Instrument.objects.filter(exchange="SIM", instrument_type="FUT").order_by("expiry")
    assert [f.tradingsymbol for f in futures] == ["SIMNIFTY26DECFUT", "SIMNIFTY27JANFUT"]
    assert [f.expiry for f in futures] == [date(2026, 12, 29), date(2027, 1, 26)]  # no holidays on SIM
    options = Instrument.objects.filter(exchange="SIM", instrument_type__in=["CE", "PE"])
    assert sorted({o.expiry for o in options}) == [date(2026, 12, 8), date(2026, 12, 15)]
    assert options.count() == 2 * 21 * 2

    # Every minute, day and night, up to the last complete minute.
    times = bar_times("SIM:SIMNIFTY")
    start = ist(2026, 11, 30, 0, 0)
    assert times[0] == start
    assert times[-1] == NOW - timedelta(minutes=1)
    assert len(times) == int((NOW - start).total_seconds() // 60)
    assert ist(2026, 12, 1, 2, 0) in times
    # Options of the last two SIM sessions (IST days) only.
    option_times = bar_times(options.order_by("instrument_token").first().symbol)  # type: ignore[union-attr]
    assert option_times[0] == ist(2026, 12, 1, 0, 0)


def test_nse_history_stays_inside_sessions() -> None:
    seed_demo_market(now=NOW, history_days=3, sim_history_days=1)
    times = bar_times("NSE:NIFTY 50")
    assert times
    for moment in times:
        assert calendar.is_market_open(moment, "NSE"), moment
    assert times[-1] == NOW - timedelta(minutes=1)
    assert len(times) == 375 * 2 + 165  # Monday, Tuesday, and Wednesday 09:15-11:59
    nfo = Instrument.objects.filter(exchange="NFO", instrument_type="FUT").order_by("expiry")
    assert [f.expiry for f in nfo] == [date(2026, 12, 29), date(2027, 1, 25)]  # Jan 26 is a holiday


def test_seeding_again_fills_only_the_gap_and_continues_the_prices() -> None:
    seed_demo_market(now=NOW, history_days=2, sim_history_days=1)
    last = Bar.objects.filter(instrument__symbol="SIM:SIMNIFTY").order_by("-time").first()
    assert last is not None
    assert seed_demo_market(now=NOW, history_days=2, sim_history_days=1) == 0  # idempotent
    later = NOW + timedelta(minutes=90)
    assert seed_demo_market(now=later, history_days=2, sim_history_days=1) > 0
    new = list(Bar.objects.filter(instrument__symbol="SIM:SIMNIFTY", time__gt=last.time).order_by("time"))
    assert len(new) == 90
    assert new[0].time == last.time + timedelta(minutes=1)
    assert new[0].open == last.close  # no jump where the previous run stopped
    assert new[-1].time == later - timedelta(minutes=1)


def test_contract_tokens_are_stable_and_legacy_tokens_are_rekeyed() -> None:
    legacy = make_instrument(token=9_200_000, tradingsymbol="NIFTY26120824000CE", exchange="NFO",
                             instrument_type="CE", name="NIFTY", underlying="NIFTY", expiry=date(2026, 12, 8),
                             strike=24000, lot_size=65)
    seed_demo_market(now=NOW, history_days=1, sim_history_days=1)
    legacy.refresh_from_db()
    spec = NSE_MARKET.derivatives
    assert legacy.instrument_token == option_token(spec, date(2026, 12, 8), 24000, "CE")
    assert Instrument.objects.get(symbol="NFO:NIFTY26DECFUT").instrument_token == future_token(
        spec, date(2026, 12, 29))
    tokens = list(Instrument.objects.values_list("instrument_token", flat=True))
    assert len(tokens) == len(set(tokens))
    # A contract keeps its token however the chain around it changes.
    assert option_token(spec, date(2026, 12, 8), 24000, "PE") == option_token(spec, date(2026, 12, 8), 24000, "CE") + 1
    assert option_token(SIM_MARKET.derivatives, date(2026, 12, 8), 24000, "CE") != legacy.instrument_token


def test_start_points_are_the_last_stored_bars_with_the_days_volume() -> None:
    seed_demo_market(now=NOW, history_days=2, sim_history_days=1)
    points = store.start_points([INDEX.token, 738561, SIM_INDEX.token])
    reliance = Instrument.objects.get(instrument_token=738561)
    last = Bar.objects.filter(instrument=reliance).order_by("-time").first()
    assert last is not None
    assert points[738561].price == float(last.close)
    assert points[738561].ts_ms == int(last.time.timestamp() * 1000)
    with connection.cursor() as cursor:
        cursor.execute("SELECT sum(volume) FROM marketdata_bar WHERE instrument_id = %s AND time >= %s",
                       [reliance.pk, ist(2026, 12, 2, 0, 0)])
        assert points[738561].day_volume == cursor.fetchone()[0]
    assert points[SIM_INDEX.token].oi is None
    listings = store.demo_listings(today=date(2026, 12, 2))
    assert {listing.exchange for listing in listings} == {"NSE", "NFO", "SIM"}


def test_demo_open_interest_is_stationary_over_months() -> None:
    walk = _oi_walk(np.random.default_rng(1), 120 * 375, 12_000_000, 65)
    assert np.all(walk % 65 == 0)
    assert walk.min() / 12_000_000 > 0.7
    assert walk.max() / 12_000_000 < 1.4
