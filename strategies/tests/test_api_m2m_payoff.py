"""/api/v1/strategies/{id}/m2m (UDF-like candle arrays) and /payoff (curves, breakevens, extremes, greeks)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from strategies.models import M2MCandle
from strategies.services import strategy_create
from strategies.tests.conftest import make_instrument
from strategies.tests.factories import leg, long_future, straddle

pytestmark = pytest.mark.django_db

BASE = "/api/v1/strategies/"
# Monday 1 December 2025, 09:15 IST.
OPEN = datetime(2025, 12, 1, 3, 45, tzinfo=UTC)


def write_candles(strategy: Any, closes: list[float], start: datetime = OPEN) -> None:
    previous = closes[0]
    rows = []
    for k, close in enumerate(closes):
        rows.append(M2MCandle(strategy=strategy, time=start + timedelta(minutes=k), open=previous,
                              high=max(previous, close) + 1, low=min(previous, close) - 1, close=close,
                              realised=10, unrealised=close - 10, stale_legs=k % 2))
        previous = close
    M2MCandle.objects.bulk_create(rows)


def epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def test_one_minute_candles_as_arrays(auth_client: Any, user: Any, instruments: Any) -> None:
    strategy = long_future(user, instruments)
    write_candles(strategy, [100, 110, 105])
    body = auth_client.get(f"{BASE}{strategy.pk}/m2m?from={epoch(OPEN)}&to={epoch(OPEN) + 180}").json()
    assert body == {
        "s": "ok",
        "t": [epoch(OPEN), epoch(OPEN) + 60, epoch(OPEN) + 120],
        "o": [100.0, 100.0, 110.0], "h": [101.0, 111.0, 111.0], "l": [99.0, 99.0, 104.0],
        "c": [100.0, 110.0, 105.0], "realised": [10.0, 10.0, 10.0], "unrealised": [90.0, 100.0, 95.0],
        "stale": [0, 1, 0],
    }


def test_coarser_resolutions_aggregate_minutes_in_nse_buckets(auth_client: Any, user: Any, instruments: Any) -> None:
    strategy = long_future(user, instruments)
    write_candles(strategy, [100, 110, 105, 90, 95, 120, 130])  # 09:15 … 09:21
    body = auth_client.get(f"{BASE}{strategy.pk}/m2m?from={epoch(OPEN)}&to={epoch(OPEN) + 3600}&resolution=5").json()
    assert body["t"] == [epoch(OPEN), epoch(OPEN) + 300]
    assert (body["o"], body["h"], body["l"], body["c"]) == ([100.0, 95.0], [111.0, 131.0], [89.0, 94.0], [95.0, 130.0])
    assert body["stale"] == [1, 1]


def test_from_is_inclusive_and_to_exclusive(auth_client: Any, user: Any, instruments: Any) -> None:
    strategy = long_future(user, instruments)
    write_candles(strategy, [1, 2, 3])
    body = auth_client.get(f"{BASE}{strategy.pk}/m2m?from={epoch(OPEN) + 60}&to={epoch(OPEN) + 120}").json()
    assert body["c"] == [2.0]


def test_no_candles_is_no_data(auth_client: Any, user: Any, instruments: Any) -> None:
    strategy = long_future(user, instruments)
    assert auth_client.get(f"{BASE}{strategy.pk}/m2m").json() == {"s": "no_data"}
    assert auth_client.get(f"{BASE}{strategy.pk}/m2m/").json() == {"s": "no_data"}


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("resolution=7S", "Unsupported resolution '7S'."),
        ("from=abc", "from must be Unix seconds"),
        ("from=1&to=1764560700", "from is out of range"),
        ("from=1764560700&to=1764560000", "to must be after from"),
    ],
)
def test_bad_m2m_queries_are_400(auth_client: Any, user: Any, instruments: Any, query: str, message: str) -> None:
    strategy = long_future(user, instruments)
    response = auth_client.get(f"{BASE}{strategy.pk}/m2m?{query}")
    assert response.status_code == 400
    assert response.json()["error"]["message"] == message


# --- payoff -------------------------------------------------------------------------------------------


def test_short_straddle_payoff(auth_client: Any, user: Any, instruments: Any, prices: Any) -> None:
    strategy = straddle(user, instruments)
    # Spot from the index; option marks for their implied volatility.
    prices({instruments["index"]: (24000.0, 0), instruments["ce"]: (200.0, 0), instruments["pe"]: (180.0, 0)})
    body = auth_client.get(f"{BASE}{strategy.pk}/payoff?points=161").json()
    assert (body["underlying"], body["spot"], body["spot_source"]) == ("TESTNIFTY", 24000.0, "last_price")
    assert body["prices"][0] == 21600.0
    assert body["prices"][-1] == 26400.0
    assert 24000.0 in body["prices"]
    # Premium 380 x 75 = 28,500 at the strike; breakevens 24000 ± 380.
    assert body["expiry_pnl"][body["prices"].index(24000.0)] == 28500.0
    assert body["breakevens"] == [23620.0, 24380.0]
    assert (body["max_profit"], body["max_profit_unbounded"]) == (28500.0, False)
    assert (body["max_loss"], body["max_loss_unbounded"]) == (None, True)
    # Today the short straddle is worth less than at expiry at the strike (time value still to decay).
    t0_at_strike = body["t0_pnl"][body["prices"].index(24000.0)]
    assert -2000 < t0_at_strike < 28500.0
    greeks = body["greeks"]
    # Nearly delta-neutral (75 units a side): the carry puts the forward above the strike, so slightly short.
    assert -30 < greeks["delta"] < 0
    assert greeks["gamma"] < 0
    assert greeks["vega"] < 0
    assert greeks["theta"] > 0
    assert [leg_["iv"] is not None for leg_ in body["legs"]] == [True, True]
    assert len(body["prices"]) == len(body["expiry_pnl"]) == len(body["t0_pnl"])


def test_long_futures_payoff(auth_client: Any, user: Any, instruments: Any, prices: Any) -> None:
    strategy = long_future(user, instruments)
    body = auth_client.get(f"{BASE}{strategy.pk}/payoff?spot=24000&lower=23000&upper=25000&points=5").json()
    assert body["prices"] == [23000.0, 23500.0, 24000.0, 24500.0, 25000.0]
    # At expiry the future is the spot: 150 x (S - 24100).
    assert body["expiry_pnl"] == [-165000.0, -90000.0, -15000.0, 60000.0, 135000.0]
    assert body["breakevens"] == [24100.0]
    assert (body["max_profit"], body["max_profit_unbounded"]) == (None, True)
    # Bounded below: the future can fall to zero.
    assert (body["max_loss_unbounded"], body["max_loss"]) == (False, -3615000.0)
    assert body["greeks"]["delta"] == pytest.approx(150 * 1.0053, abs=0.2)
    assert body["greeks"]["gamma"] == 0.0
    assert body["greeks"]["vega"] == 0.0
    # Today the future trades above spot by the carry.
    assert body["t0_pnl"][2] > body["expiry_pnl"][2]


def test_spot_backed_out_of_a_futures_price(auth_client: Any, user: Any, instruments: Any, prices: Any) -> None:
    strategy = long_future(user, instruments)
    prices({instruments["fut"]: (24130.0, 0)})
    body = auth_client.get(f"{BASE}{strategy.pk}/payoff").json()
    assert body["spot_source"] == "futures"
    assert 23900 < body["spot"] < 24130


def test_closed_legs_shift_the_curve_by_their_realised_pnl(auth_client: Any, user: Any, instruments: Any) -> None:
    strategy = strategy_create(owner=user, name="x", legs=[
        leg(instruments["fut"], "BUY", 1, "24000"),
        leg(instruments["ce"], "SELL", 1, "200", exit_price="150", exit_time="2025-11-29T04:00:00Z"),
    ])
    body = auth_client.get(f"{BASE}{strategy.pk}/payoff?spot=24000&lower=23000&upper=25000&points=3").json()
    assert body["realised"] == 3750.0
    assert body["expiry_pnl"] == [-75000.0 + 3750.0, 3750.0, 75000.0 + 3750.0]


def test_a_strategy_without_open_legs_is_flat(auth_client: Any, user: Any) -> None:
    strategy = strategy_create(owner=user, name="empty")
    body = auth_client.get(f"{BASE}{strategy.pk}/payoff?lower=1&upper=2&points=3").json()
    assert (body["expiry_pnl"], body["breakevens"], body["underlying"]) == ([0.0, 0.0, 0.0], [], None)


def test_legs_on_two_underlyings_cannot_be_drawn(auth_client: Any, user: Any, instruments: Any) -> None:
    other = make_instrument(tradingsymbol="OTHERFUT", instrument_type="FUT", underlying="OTHER",
                            expiry=instruments["fut"].expiry)
    strategy = strategy_create(owner=user, name="mixed", legs=[
        leg(instruments["fut"], "BUY", 1, "1"), leg(other, "BUY", 1, "1")])
    response = auth_client.get(f"{BASE}{strategy.pk}/payoff")
    assert response.status_code == 400
    assert response.json()["error"]["details"] == {"underlying": ["OTHER", "TESTNIFTY"]}


def test_without_any_price_the_payoff_asks_for_a_spot(auth_client: Any, user: Any, instruments: Any) -> None:
    strategy = straddle(user, instruments)
    response = auth_client.get(f"{BASE}{strategy.pk}/payoff")
    assert response.status_code == 422
    assert response.json()["error"]["message"] == "No price for TESTNIFTY; pass ?spot=."


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("spot=-5", "spot must be a positive number"),
        ("spot=abc", "spot must be a number"),
        ("spot=100&points=1", "points must be 2..2001"),
        ("spot=100&points=x", "points must be an integer"),
        ("spot=100&lower=200&upper=100", "need 0 < lower < upper"),
    ],
)
def test_bad_payoff_queries_are_400(auth_client: Any, user: Any, instruments: Any, query: str, message: str) -> None:
    strategy = long_future(user, instruments)
    response = auth_client.get(f"{BASE}{strategy.pk}/payoff?{query}")
    assert response.status_code == 400
    assert response.json()["error"]["message"] == message


def test_candle_values_are_stored_at_price_precision(user: Any, instruments: Any) -> None:
    strategy = long_future(user, instruments)
    write_candles(strategy, [1.23456])
    assert M2MCandle.objects.get().close == Decimal("1.2346")
