"""The simulator's pure core: determinism, the tick contract, depth, carry, Black-76 parity, continuity.

No database and no Redis: the universe is built from explicit listings and the calendar is a set of
open calendars per batch.
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import orjson
import pytest

from marketdata.demo import INDEX, NSE_MARKET, SIM_INDEX, SIM_MARKET, market_rows
from marketdata.simulator.engine import StartPoint, TickEngine, generate
from marketdata.simulator.model import RATE, expiry_ms, futures_fair, smile_vol, years_between
from marketdata.simulator.universe import Listing, Universe, build_universe
from options.pricing import black76_price

IST_OFFSET = timedelta(hours=5, minutes=30)
NSE_FUTURE_EXPIRIES = [date(2026, 12, 29), date(2027, 1, 25)]
NSE_OPTION_EXPIRIES = [date(2026, 12, 1), date(2026, 12, 8)]
SPOT = 24_000.0
BATCH_MS = 200
BOTH = frozenset({"NSE", "SIM"})


def ist_ms(year: int, month: int, day: int, hour: int, minute: int) -> int:
    return int((datetime(year, month, day, hour, minute, tzinfo=UTC) - IST_OFFSET).timestamp() * 1000)


MONDAY_10 = ist_ms(2026, 11, 30, 10, 0)


def make_universe(as_of_ms: int = MONDAY_10, spot: float = SPOT) -> Universe:
    rows = [
        *market_rows(NSE_MARKET, spot=spot, today=date(2026, 11, 30), future_expiries=NSE_FUTURE_EXPIRIES,
                     option_expiries=NSE_OPTION_EXPIRIES),
        *market_rows(SIM_MARKET, spot=spot, today=date(2026, 11, 30), future_expiries=NSE_FUTURE_EXPIRIES,
                     option_expiries=NSE_OPTION_EXPIRIES),
    ]
    return build_universe([Listing.of_row(r) for r in rows], spots={INDEX.token: spot, SIM_INDEX.token: spot},
                          as_of_ms=as_of_ms)


@pytest.fixture(scope="module")
def universe() -> Universe:
    return make_universe()


def run(universe: Universe, *, seed: int = 7, start_ms: int = MONDAY_10, batches: int = 50, rate: float = 500.0,
        open_calendars: frozenset[str] = BOTH, start_points: dict[int, StartPoint] | None = None) -> list[list[Any]]:
    return generate(universe, seed=seed, start_ms=start_ms, batches=batches, ticks_per_second=rate,
                    open_calendars=lambda ts: open_calendars, batch_ms=BATCH_MS, start_points=start_points)


def flat(batches: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    return [tick for batch in batches for tick in batch]


def test_universe_holds_both_markets(universe: Universe) -> None:
    symbols = {i.symbol for i in universe.instruments}
    assert {"NSE:NIFTY 50", "NSE:RELIANCE", "NFO:NIFTY26DECFUT", "NFO:NIFTY26120124000CE"} <= symbols
    assert {"SIM:SIMNIFTY", "SIM:SIMNIFTY26DECFUT", "SIM:SIMNIFTY26120124000PE"} <= symbols
    # 1 index + 4 stocks + 2 futures + 2 expiries x 21 strikes x 2 on NSE; SIM the same without stocks.
    assert len(universe.instruments) == (1 + 4 + 2 + 84) + (1 + 2 + 84)
    assert {i.calendar for i in universe.instruments} == {"NSE", "SIM"}
    sim = universe.get(SIM_INDEX.token)
    assert sim is not None
    assert (sim.exchange, sim.kind, sim.calendar) == ("SIM", "INDEX", "SIM")


def test_same_seed_and_start_give_the_same_ticks(universe: Universe) -> None:
    first = run(universe)
    assert sum(map(len, first)) == 50 * 100  # 500 ticks/s x 0.2 s per batch
    assert run(universe) == first
    assert run(universe, seed=8) != first
    assert run(universe, start_ms=MONDAY_10 + BATCH_MS) != first


def test_rate_is_ticks_per_second_over_all_instruments(universe: Universe) -> None:
    batches = run(universe, rate=7.0, batches=100)  # 20 s
    assert sum(map(len, batches)) == 140
    assert [len(b) for b in batches[:5]] == [1, 1, 2, 1, 2]  # 1.4 per batch, the fraction carried over


def test_ticks_follow_the_contract(universe: Universe) -> None:
    ticks = flat(run(universe, batches=100))
    kinds = {i.token: i for i in universe.instruments}
    seen = set()
    for batch_start, batch in zip(range(MONDAY_10, MONDAY_10 + 100 * BATCH_MS, BATCH_MS), run(universe, batches=100),
                                  strict=True):
        assert [t["ts"] for t in batch] == sorted(t["ts"] for t in batch)
        assert all(batch_start <= t["ts"] < batch_start + BATCH_MS for t in batch)
    for tick in orjson.loads(orjson.dumps(ticks)):  # what a consumer decodes
        item = kinds[tick["token"]]
        seen.add(item.kind)
        assert type(tick["token"]) is int
        assert type(tick["ts"]) is int
        assert type(tick["ltp"]) is float
        assert tick["ltp"] > 0
        if item.is_index:
            assert set(tick) == {"token", "ts", "ltp"}  # indices have no volume, OI or depth
            continue
        expected = {"token", "ts", "ltp", "volume", "bid", "bid_qty", "ask", "ask_qty", "depth"}
        if item.is_derivative:
            expected.add("oi")
            assert type(tick["oi"]) is int
            assert tick["oi"] > 0
            assert tick["oi"] % item.lot_size == 0
        assert set(tick) == expected
        assert type(tick["volume"]) is int
        assert type(tick["bid"]) is float
        assert type(tick["ask"]) is float
        assert type(tick["bid_qty"]) is int
        assert type(tick["ask_qty"]) is int
        assert set(tick["depth"]) == {"buy", "sell"}
        for side in ("buy", "sell"):
            levels = tick["depth"][side]
            assert 1 <= len(levels) <= 5
            for price, quantity, orders in levels:
                assert type(price) is float
                assert type(quantity) is int
                assert type(orders) is int
                assert quantity > 0
                assert 1 <= orders <= quantity
                if item.is_derivative:
                    assert quantity % item.lot_size == 0
    assert seen == {"INDEX", "EQ", "FUT", "CE", "PE"}


def on_tick(price: float, tick: float) -> bool:
    return abs(price / tick - round(price / tick)) < 1e-6


def test_depth_is_sorted_not_crossed_and_on_the_tick_grid(universe: Universe) -> None:
    for tick in flat(run(universe, batches=100)):
        if "depth" not in tick:
            continue
        size = universe.get(tick["token"]).tick_size  # type: ignore[union-attr]
        buy = [level[0] for level in tick["depth"]["buy"]]
        sell = [level[0] for level in tick["depth"]["sell"]]
        assert buy == sorted(buy, reverse=True)
        assert len(set(buy)) == len(buy)
        assert sell == sorted(sell)
        assert len(set(sell)) == len(sell)
        assert buy[0] < sell[0]
        assert (tick["bid"], tick["bid_qty"]) == tuple(tick["depth"]["buy"][0][:2])
        assert (tick["ask"], tick["ask_qty"]) == tuple(tick["depth"]["sell"][0][:2])
        assert tick["ltp"] in (tick["bid"], tick["ask"])  # a trade at the touch
        assert min(buy) >= size
        assert all(on_tick(p, size) for p in [*buy, *sell, tick["ltp"]])


def test_volume_is_cumulative_per_day_and_restarts_on_a_new_ist_date() -> None:
    universe = make_universe(as_of_ms=ist_ms(2026, 11, 30, 23, 58))
    start = ist_ms(2026, 11, 30, 23, 59)
    batches = run(universe, start_ms=start, batches=600, rate=200.0, open_calendars=frozenset({"SIM"}))
    midnight = ist_ms(2026, 12, 1, 0, 0)
    by_token: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for tick in flat(batches):
        if "volume" in tick:
            by_token[tick["token"]].append((tick["ts"], tick["volume"]))
    future = universe.get(next(i.token for i in universe.instruments if i.symbol == "SIM:SIMNIFTY26DECFUT"))
    assert future is not None
    series = by_token[future.token]
    before = [v for ts, v in series if ts < midnight]
    after = [v for ts, v in series if ts >= midnight]
    assert before
    assert after
    assert before == sorted(before)
    assert after == sorted(after)
    assert after[0] < before[-1]  # the day's count started again
    for values in by_token.values():
        day_one = [v for ts, v in values if ts < midnight]
        assert day_one == sorted(day_one)


def test_futures_carry_the_cost_of_carry(universe: Universe) -> None:
    engine = TickEngine(universe, seed=3, start_ms=MONDAY_10, ticks_per_second=0, batch_ms=BATCH_MS)
    near = next(i for i in universe.instruments if i.symbol == "NFO:NIFTY26DECFUT")
    spot = engine.spot(INDEX.token)
    value = engine.fair_values([near.token], MONDAY_10)[near.token]
    t = float(years_between(MONDAY_10, expiry_ms(near.expiry)))  # type: ignore[arg-type]
    assert t > 0
    assert RATE > 0
    assert value > spot
    assert value == pytest.approx(spot * math.exp(RATE * t), rel=1e-12)
    assert float(futures_fair(spot, 0.0)) == spot  # no time left, no carry
    # Published futures prices carry the basis over the index printed just before them.
    carry = value - spot
    index_ltp = None
    checked = 0
    for tick in flat(run(universe, batches=200)):
        if tick["token"] == INDEX.token:
            index_ltp = tick["ltp"]
        elif tick["token"] == near.token and index_ltp is not None:
            assert 0.9 * carry < tick["ltp"] - index_ltp < 1.1 * carry
            checked += 1
    assert checked > 10


def test_options_are_black76_on_the_forward_with_put_call_parity(universe: Universe) -> None:
    engine = TickEngine(universe, seed=3, start_ms=MONDAY_10, ticks_per_second=0, batch_ms=BATCH_MS)
    spot = engine.spot(INDEX.token)
    expiry = NSE_OPTION_EXPIRIES[0]
    t = float(years_between(MONDAY_10, expiry_ms(expiry)))
    forward = spot * math.exp(RATE * t)
    chain = [i for i in universe.instruments if i.exchange == "NFO" and i.is_option and i.expiry == expiry]
    values = engine.fair_values([i.token for i in chain], MONDAY_10)
    strikes = sorted({i.strike for i in chain})  # type: ignore[type-var]
    assert len(strikes) == 21
    for strike in strikes:
        call = next(i for i in chain if i.strike == strike and i.kind == "CE")
        put = next(i for i in chain if i.strike == strike and i.kind == "PE")
        sigma = float(smile_vol(strike, forward, t))
        assert values[call.token] == pytest.approx(float(black76_price(forward, strike, t, sigma, RATE, 1)), abs=1e-9)
        # Rounded to the tick as published, C - P = e^{-rT}(F - K) within one tick.
        c = round(values[call.token] / 0.05) * 0.05
        p = round(values[put.token] / 0.05) * 0.05
        assert abs((c - p) - math.exp(-RATE * t) * (forward - strike)) <= 0.05 + 1e-9


def test_the_smile_has_skew_curvature_and_a_term_structure() -> None:
    forward, t = 24_000.0, 7 / 365
    atm = float(smile_vol(forward, forward, t))
    assert float(smile_vol(forward * 0.95, forward, t)) > atm  # puts' side richer (skew)
    assert float(smile_vol(forward * 1.05, forward, t)) > atm - 0.02  # curvature lifts the wings too
    assert float(smile_vol(forward * 1.15, forward, t)) > float(smile_vol(forward * 1.05, forward, t))
    assert float(smile_vol(forward, forward, 7 / 365)) > float(smile_vol(forward, forward, 180 / 365))


def test_prices_continue_from_the_last_stored_bar(universe: Universe) -> None:
    last_close = 25_137.45
    points = {
        INDEX.token: StartPoint(price=last_close, ts_ms=MONDAY_10 - 60_000),
        738561: StartPoint(price=1_500.0, ts_ms=MONDAY_10 - 60_000, day_volume=1_000_000),
    }
    ticks = flat(run(universe, batches=50, start_points=points))
    index = [t["ltp"] for t in ticks if t["token"] == INDEX.token]
    assert index
    assert abs(index[0] / last_close - 1) < 0.001
    assert max(abs(p / last_close - 1) for p in index) < 0.005
    reliance = [t for t in ticks if t["token"] == 738561]
    assert abs(reliance[0]["ltp"] / 1_500.0 - 1) < 0.002
    assert reliance[0]["volume"] > 1_000_000  # the day's volume carries on
    # Options are priced off the continued index, not the default start price.
    engine = TickEngine(universe, seed=1, start_ms=MONDAY_10, ticks_per_second=0, start_points=points)
    assert engine.spot(INDEX.token) == last_close
    assert engine.last_prices()[INDEX.token] == (last_close, MONDAY_10 - 60_000)


def test_only_open_calendars_tick(universe: Universe) -> None:
    sim_tokens = {i.token for i in universe.instruments if i.calendar == "SIM"}
    ticks = flat(run(universe, open_calendars=frozenset({"SIM"})))
    assert ticks
    assert {t["token"] for t in ticks} <= sim_tokens
    assert flat(run(universe, open_calendars=frozenset())) == []


def test_expired_contracts_never_tick() -> None:
    after_expiry = expiry_ms(NSE_OPTION_EXPIRIES[0]) + 60_000
    universe = make_universe(as_of_ms=MONDAY_10)
    engine = TickEngine(universe, seed=1, start_ms=after_expiry - after_expiry % BATCH_MS, ticks_per_second=2_000,
                        batch_ms=BATCH_MS)
    start = after_expiry - after_expiry % BATCH_MS
    expired = {i.token for i in universe.instruments if i.expiry == NSE_OPTION_EXPIRIES[0]}
    ticks = [t for k in range(20) for t in engine.step(start + k * BATCH_MS, BOTH)]
    assert ticks
    assert not {t["token"] for t in ticks} & expired
    # A universe built after the expiry leaves the contract out altogether.
    assert not {i.token for i in make_universe(as_of_ms=after_expiry).instruments} & expired


def test_open_interest_evolves_in_whole_lots(universe: Universe) -> None:
    ticks = flat(run(universe, batches=300))
    future = next(i for i in universe.instruments if i.symbol == "NFO:NIFTY26DECFUT")
    series = [t["oi"] for t in ticks if t["token"] == future.token]
    assert len(set(series)) > 3
    assert all(v % future.lot_size == 0 for v in series)


def test_relisting_keeps_the_state_of_known_instruments(universe: Universe) -> None:
    engine = TickEngine(universe, seed=5, start_ms=MONDAY_10, ticks_per_second=500, batch_ms=BATCH_MS)
    for k in range(20):
        engine.step(MONDAY_10 + k * BATCH_MS, BOTH)
    before = engine.last_prices()
    spot = engine.spot(INDEX.token)
    smaller = Universe(instruments=tuple(i for i in universe.instruments if i.expiry != NSE_OPTION_EXPIRIES[0]),
                       paths=universe.paths)
    engine.set_universe(smaller)
    after = engine.last_prices()
    assert engine.spot(INDEX.token) == spot
    assert {t: after[t] for t in after} == {t: before[t] for t in after}
    assert len(after) < len(before)


def test_engine_rejects_a_batch_that_does_not_divide_a_minute(universe: Universe) -> None:
    with pytest.raises(ValueError, match="divide a minute"):
        TickEngine(universe, seed=1, start_ms=MONDAY_10, ticks_per_second=1, batch_ms=7_000)
    engine = TickEngine(universe, seed=1, start_ms=MONDAY_10, ticks_per_second=1, batch_ms=BATCH_MS)
    with pytest.raises(ValueError, match="batch grid"):
        engine.step(MONDAY_10 + 1, BOTH)


def test_intraday_volatility_is_u_shaped_on_nse(universe: Universe) -> None:
    engine = TickEngine(universe, seed=1, start_ms=MONDAY_10, ticks_per_second=0)
    path = next(i for i, p in enumerate(universe.paths) if p.token == INDEX.token)
    sim_path = next(i for i, p in enumerate(universe.paths) if p.token == SIM_INDEX.token)
    open_, lunch, close = (engine._profile(path, ist_ms(2026, 11, 30, h, m)) for h, m in ((9, 15), (12, 22), (15, 29)))
    assert open_ == pytest.approx(1.8)
    assert close == pytest.approx(1.8)
    assert lunch == pytest.approx(0.6, abs=0.01)
    assert engine._profile(sim_path, ist_ms(2026, 11, 30, 9, 15)) == 1.0
    assert np.isclose(np.mean([engine._profile(path, ist_ms(2026, 11, 30, 9, 15) + m * 60_000)
                               for m in range(375)]), 1.0, atol=0.01)


def test_open_interest_stays_near_its_level_over_a_session(universe: Universe) -> None:
    future = next(i for i in universe.instruments if i.symbol == "NFO:NIFTY26DECFUT")
    small = Universe(instruments=(universe.get(INDEX.token), future), paths=universe.paths)  # type: ignore[arg-type]
    engine = TickEngine(small, seed=4, start_ms=ist_ms(2026, 11, 30, 9, 15), ticks_per_second=4, batch_ms=1_000)
    series = [
        t["oi"] for k in range(375 * 60)
        for t in engine.step(ist_ms(2026, 11, 30, 9, 15) + k * 1_000, {"NSE"}) if t["token"] == future.token
    ]
    assert len(series) > 10_000
    assert 0.85 < series[-1] / future.base_oi < 1.15  # a few percent a day, never a runaway walk
    assert max(series) / min(series) < 1.3
