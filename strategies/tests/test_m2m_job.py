"""The M2M job: one pass over all active strategies, idempotent per minute, stale prices carried,
the ticker service as fallback, and nothing written when Redis or the database fails."""

from __future__ import annotations

import time
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
import redis

from marketdata import ticker_client as ticker_module
from marketdata.last_prices import read_last_prices
from marketdata.ticker_client import TickerError
from strategies import m2m
from strategies.m2m import m2m_run
from strategies.models import InstrumentMark, M2MCandle, Strategy, StrategyStatus
from strategies.services import strategy_close, strategy_update
from strategies.tests.factories import IN_SESSION, WEEKEND, leg, long_future, ms, straddle
from tradeviz.redis_client import get_redis

pytestmark = [pytest.mark.django_db, pytest.mark.redis]

FRESH = ms(IN_SESSION) - 5_000


def no_ticker(tokens: list[int]) -> dict[int, Any]:
    raise TickerError("ticker service unavailable (circuit open)")


def run(now: Any = IN_SESSION, **kwargs: Any) -> Any:
    kwargs.setdefault("fetch_quotes", no_ticker)
    return m2m_run(now=now, push=False, **kwargs)


def candles(strategy: Strategy) -> list[tuple[Any, ...]]:
    return list(M2MCandle.objects.filter(strategy=strategy).order_by("time").values_list(
        "time", "open", "high", "low", "close", "realised", "unrealised", "stale_legs"))


def test_one_pass_marks_every_active_strategy(user: Any, instruments: Any, prices: Any) -> None:
    short = straddle(user, instruments)
    longf = long_future(user, instruments)
    prices({instruments["ce"]: (190.0, FRESH), instruments["pe"]: (175.0, FRESH), instruments["fut"]: (24150.0, FRESH)})
    result = run()
    minute = IN_SESSION.replace(second=0, microsecond=0) - timedelta(minutes=1)
    assert (result.minute, result.strategies, result.legs, result.stale_legs, result.candles) == (minute, 2, 3, 0, 2)
    assert result.prices == {"redis": 3, "ticker": 0, "carried": 0}
    # CE: -75 x (190 - 200) = 750; PE: -75 x (175 - 180) = 375. Future: 150 x 50 = 7500.
    assert candles(short) == [(minute, *[Decimal("1125.0000")] * 4, Decimal(0), Decimal("1125.0000"), 0)]
    assert candles(longf) == [(minute, *[Decimal("7500.0000")] * 4, Decimal(0), Decimal("7500.0000"), 0)]
    short.refresh_from_db()
    assert (short.current_m2m, short.unrealised_pnl, short.realised_pnl, short.stale_legs) == (
        Decimal("1125.0000"), Decimal("1125.0000"), Decimal(0), 0)
    assert short.m2m_updated_at == IN_SESSION
    marks = dict(InstrumentMark.objects.values_list("instrument_id", "price"))
    assert marks == {instruments["ce"].pk: Decimal("190.0000"), instruments["pe"].pk: Decimal("175.0000"),
                     instruments["fut"].pk: Decimal("24150.0000")}


def test_rerunning_a_minute_updates_its_candle_and_never_duplicates(user: Any, instruments: Any, prices: Any) -> None:
    strategy = long_future(user, instruments)
    prices({instruments["fut"]: (24150.0, FRESH)})
    run()
    prices({instruments["fut"]: (24200.0, FRESH)})      # +15,000
    run(now=IN_SESSION + timedelta(seconds=20))
    prices({instruments["fut"]: (24080.0, FRESH)})      # -3,000
    run(now=IN_SESSION + timedelta(seconds=40))
    minute = IN_SESSION.replace(second=0, microsecond=0) - timedelta(minutes=1)
    # open kept (7,500), high/low widened, close replaced.
    assert candles(strategy) == [(minute, Decimal("7500.0000"), Decimal("15000.0000"), Decimal("-3000.0000"),
                                  Decimal("-3000.0000"), Decimal(0), Decimal("-3000.0000"), 0)]


def test_the_next_minute_opens_at_the_previous_close(user: Any, instruments: Any, prices: Any) -> None:
    strategy = long_future(user, instruments)
    prices({instruments["fut"]: (24150.0, FRESH)})
    run()
    prices({instruments["fut"]: (24110.0, FRESH + 60_000)})
    run(now=IN_SESSION + timedelta(minutes=1))
    rows = candles(strategy)
    assert [(r[1], r[2], r[3], r[4]) for r in rows] == [
        (Decimal("7500.0000"),) * 4,
        (Decimal("7500.0000"), Decimal("7500.0000"), Decimal("1500.0000"), Decimal("1500.0000")),
    ]


def test_ticker_down_carries_last_prices_flags_stale_and_completes(user: Any, instruments: Any, prices: Any) -> None:
    strategy = straddle(user, instruments)
    prices({instruments["ce"]: (190.0, FRESH), instruments["pe"]: (175.0, FRESH)})
    run()
    # Ten minutes later the CE still ticks; the PE's last tick (172) is 9 minutes old; the ticker is down.
    later = IN_SESSION + timedelta(minutes=10)
    prices({instruments["ce"]: (195.0, ms(later) - 1000), instruments["pe"]: (172.0, FRESH + 60_000)})
    result = run(now=later)
    assert result.ticker_error == "ticker service unavailable (circuit open)"
    assert (result.strategies, result.stale_legs) == (1, 1)
    assert result.prices == {"redis": 1, "ticker": 0, "carried": 1}
    # CE: -75 x (195 - 200) = 375; the PE carries its newest known price: -75 x (172 - 180) = 600.
    last = candles(strategy)[-1]
    assert (last[4], last[7]) == (Decimal("975.0000"), 1)
    mark = InstrumentMark.objects.get(instrument=instruments["pe"])
    assert (mark.price, mark.stale, mark.source) == (Decimal("172.0000"), True, "carried")
    strategy.refresh_from_db()
    assert strategy.stale_legs == 1

    # Redis lost the PE altogether (flushed): the leg carries the stored mark.
    from marketdata.last_prices import LAST_PRICE_HASH
    from tradeviz.redis_client import get_redis

    get_redis().hdel(LAST_PRICE_HASH, str(instruments["pe"].instrument_token))
    result = run(now=later + timedelta(minutes=1))
    assert result.stale_legs == 1
    assert candles(strategy)[-1][4] == Decimal("975.0000")


def test_a_leg_never_priced_carries_its_entry_and_is_stale(user: Any, instruments: Any) -> None:
    strategy = long_future(user, instruments)
    result = run()
    assert (result.strategies, result.stale_legs) == (1, 1)
    assert candles(strategy)[0][4] == Decimal(0)
    assert not InstrumentMark.objects.exists()


def test_the_ticker_service_fills_in_missing_prices(user: Any, instruments: Any) -> None:
    strategy = long_future(user, instruments)
    asked: list[list[int]] = []

    def quotes(tokens: list[int]) -> dict[int, Any]:
        asked.append(tokens)
        return {instruments["fut"].instrument_token: {"ltp": 24120.0, "ts": 0}}

    result = run(fetch_quotes=quotes)
    assert asked == [[instruments["fut"].instrument_token]]
    assert (result.prices["ticker"], result.stale_legs) == (1, 0)
    assert candles(strategy)[0][4] == Decimal("3000.0000")
    assert InstrumentMark.objects.get().source == "ticker"


def test_the_circuit_opens_when_the_ticker_service_is_down_and_runs_still_complete(
    user: Any, instruments: Any, settings: Any
) -> None:
    settings.TICKER_SERVICE_URL = "http://127.0.0.1:9"  # nothing listens there
    settings.TICKER_RETRIES = 1
    ticker_module.ticker_client.cache_clear()
    breaker = ticker_module._breaker
    breaker.close()
    long_future(user, instruments)
    try:
        errors = [m2m_run(now=IN_SESSION, push=False).ticker_error for _ in range(breaker.fail_max + 1)]
        assert breaker.current_state == "open"
        assert errors[-1] == "ticker service unavailable (circuit open)"
        started = time.perf_counter()
        result = m2m_run(now=IN_SESSION, push=False)
        assert time.perf_counter() - started < 1.0
        assert (result.strategies, result.stale_legs) == (1, 1)
    finally:
        breaker.close()
        ticker_module.ticker_client.cache_clear()


def test_redis_down_fails_fast_and_writes_nothing(user: Any, instruments: Any, prices: Any, settings: Any) -> None:
    strategy = long_future(user, instruments)
    prices({instruments["fut"]: (24150.0, FRESH)})
    run()
    before = (candles(strategy), list(Strategy.objects.values()), list(InstrumentMark.objects.values()))
    # The production client (its timeouts and retries), pointed at a port where no Redis listens.
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    get_redis.cache_clear()
    try:
        started = time.perf_counter()
        with pytest.raises(redis.ConnectionError):
            m2m_run(now=IN_SESSION + timedelta(minutes=1), read_prices=read_last_prices, push=False)
        elapsed = time.perf_counter() - started
    finally:
        get_redis.cache_clear()
    assert elapsed < 1.0
    assert (candles(strategy), list(Strategy.objects.values()), list(InstrumentMark.objects.values())) == before


def test_a_failing_write_rolls_back_the_whole_run(user: Any, instruments: Any, prices: Any,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    strategy = long_future(user, instruments)
    prices({instruments["fut"]: (24150.0, FRESH)})
    monkeypatch.setattr(m2m, "_MARKS_SQL", "SELECT no_such_function()")
    with pytest.raises(Exception, match="no_such_function"):
        run()
    assert candles(strategy) == []
    strategy.refresh_from_db()
    assert (strategy.current_m2m, strategy.m2m_updated_at) == (Decimal(0), None)


def test_paused_and_closed_strategies_are_left_alone(user: Any, instruments: Any, prices: Any) -> None:
    paused = long_future(user, instruments, name="paused")
    strategy_update(strategy=paused, data={"status": StrategyStatus.PAUSED})
    closed = straddle(user, instruments, name="closed")
    strategy_close(strategy=closed)
    prices({instruments["fut"]: (24150.0, FRESH)})
    assert run().strategies == 0
    assert M2MCandle.objects.count() == 0


def test_closed_legs_count_as_realised(user: Any, instruments: Any, prices: Any) -> None:
    from strategies.services import strategy_create

    strategy = strategy_create(owner=user, name="partly closed", legs=[
        leg(instruments["fut"], "BUY", 1, "24100", exit_price="24300",
            exit_time=(IN_SESSION - timedelta(hours=1)).isoformat()),
        leg(instruments["ce"], "SELL", 2, "200"),
    ])
    prices({instruments["ce"]: (210.0, FRESH)})
    run()
    # realised 75 x 200 = 15,000; CE -150 x 10 = -1,500.
    assert candles(strategy)[0][4:7] == (Decimal("13500.0000"), Decimal("15000.0000"), Decimal("-1500.0000"))


def test_off_session_only_strategies_with_fresh_prices_get_a_candle(user: Any, instruments: Any, prices: Any) -> None:
    quiet = long_future(user, instruments, name="quiet")
    busy = straddle(user, instruments, name="busy")
    prices({instruments["ce"]: (190.0, ms(WEEKEND) - 1000), instruments["pe"]: (175.0, ms(WEEKEND) - 1000)})
    result = run(now=WEEKEND)
    assert result.strategies == 1
    assert candles(quiet) == []
    assert len(candles(busy)) == 1


def test_no_active_strategies_is_a_cheap_no_op(db: Any) -> None:
    calls: list[Any] = []
    result = m2m_run(now=IN_SESSION, read_prices=lambda t: calls.append(t) or {}, push=False)
    assert (result.strategies, result.candles, calls) == (0, 0, [])


def test_the_beat_task_runs_the_job_for_a_given_minute(user: Any, instruments: Any, prices: Any,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from strategies import tasks

    long_future(user, instruments)
    prices({instruments["fut"]: (24150.0, FRESH)})
    monkeypatch.setattr(tasks, "run_m2m", lambda now: m2m_run(now=now, push=False, fetch_quotes=no_ticker))
    assert tasks.m2m_run(now=IN_SESSION.isoformat()) == {
        "minute": "2025-12-01T04:29:00+00:00", "strategies": 1, "stale_legs": 0}
