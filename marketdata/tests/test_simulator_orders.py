"""Order updates for the demo account: the lifecycle, the contract's fields, session rules, determinism."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import orjson
import pytest

from marketdata.simulator.engine import TickEngine
from marketdata.simulator.orders import (
    CANCELLED,
    CLOSE_MESSAGE,
    COMPLETE,
    FINAL_STATUSES,
    OPEN,
    ORDER_TRANSITIONS,
    REJECTED,
    STATUSES,
    TRIGGER_PENDING,
    OrderSimulator,
)
from marketdata.simulator.universe import Universe
from marketdata.tests.test_simulator_engine import MONDAY_10, make_universe

ACCOUNT = "DEMO-ZX1234"
STEP_MS = 15_000
CONTRACT_FIELDS = {"account", "order_id", "status", "token", "tradingsymbol", "side", "quantity", "filled_quantity",
                   "price", "average_price", "ts"}


@pytest.fixture(scope="module")
def universe() -> Universe:
    return make_universe()


def simulate(universe: Universe, *, steps: int, seed: int = 3,
             open_at: Any = lambda step: frozenset({"NSE", "SIM"})) -> list[tuple[frozenset[str], dict[str, Any]]]:
    prices = {token: ltp for token, (ltp, _) in TickEngine(universe, seed=1, start_ms=MONDAY_10,
                                                           ticks_per_second=0).last_prices().items()}
    orders = OrderSimulator(universe, account=ACCOUNT, seed=seed, start_ms=MONDAY_10)
    updates = []
    for step in range(steps):
        open_calendars = open_at(step)
        for update in orders.step(MONDAY_10 + step * STEP_MS, prices, open_calendars):
            updates.append((open_calendars, update))
    return updates


def test_updates_carry_the_contract_fields_with_their_types(universe: Universe) -> None:
    updates = [u for _, u in simulate(universe, steps=300)]
    assert len(updates) >= 300
    for update in orjson.loads(orjson.dumps(updates)):
        assert set(update) >= CONTRACT_FIELDS
        assert update["account"] == ACCOUNT
        assert isinstance(update["order_id"], str)
        assert update["order_id"].isdigit()
        assert update["status"] in STATUSES
        assert update["side"] in ("BUY", "SELL")
        assert type(update["token"]) is int
        assert type(update["quantity"]) is int
        assert type(update["filled_quantity"]) is int
        assert type(update["ts"]) is int
        assert isinstance(update["price"], float)
        assert isinstance(update["average_price"], float)
        item = universe.get(update["token"])
        assert item is not None
        assert not item.is_index
        assert update["tradingsymbol"] == item.tradingsymbol
        assert update["exchange"] == item.exchange
        assert update["quantity"] > 0
        assert update["quantity"] % (item.lot_size if item.is_derivative else 1) == 0


def test_every_order_follows_the_lifecycle(universe: Universe) -> None:
    by_order: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for _, update in simulate(universe, steps=2_000):
        by_order[update["order_id"]].append(update)
    statuses = {u["status"] for updates in by_order.values() for u in updates}
    assert statuses == set(STATUSES)  # every status shows up in a long run
    for order_id, updates in by_order.items():
        previous: str | None = None
        filled = 0
        for update in updates:
            assert update["status"] in ORDER_TRANSITIONS[previous], (order_id, previous, update["status"])
            assert update["filled_quantity"] >= filled
            assert update["filled_quantity"] <= update["quantity"]
            assert {k: update[k] for k in ("token", "side", "quantity", "account")} == {
                k: updates[0][k] for k in ("token", "side", "quantity", "account")}
            if update["filled_quantity"]:
                assert update["average_price"] > 0
            else:
                assert update["average_price"] == 0.0
            if update["status"] == COMPLETE:
                assert update["filled_quantity"] == update["quantity"]
            if update["status"] == REJECTED:
                assert update["filled_quantity"] == 0
                assert update["status_message"]
            if update["status"] == TRIGGER_PENDING:
                assert update["trigger_price"] > 0
            previous, filled = update["status"], update["filled_quantity"]
        assert all(u["status"] not in FINAL_STATUSES for u in updates[:-1])  # nothing after a final status


def test_orders_are_placed_only_while_their_exchange_is_in_session(universe: Universe) -> None:
    # NSE open for the first 100 steps of every 200, SIM always.
    def open_at(step: int) -> frozenset[str]:
        return frozenset({"NSE", "SIM"}) if step % 200 < 100 else frozenset({"SIM"})

    seen: set[str] = set()
    for open_calendars, update in simulate(universe, steps=1_000, open_at=open_at):
        item = universe.get(update["token"])
        assert item is not None
        if item.calendar in open_calendars:
            continue
        # After the close, an NSE order only gets cancelled, once, as the session ends.
        assert update["status"] == CANCELLED
        assert update["status_message"] == CLOSE_MESSAGE
        assert update["order_id"] not in seen
        seen.add(update["order_id"])
    assert seen  # some orders were still working at a close


def test_no_orders_at_all_when_every_exchange_is_closed(universe: Universe) -> None:
    assert simulate(universe, steps=50, open_at=lambda step: frozenset()) == []


def test_same_seed_same_updates(universe: Universe) -> None:
    assert simulate(universe, steps=200) == simulate(universe, steps=200)
    assert simulate(universe, steps=200) != simulate(universe, steps=200, seed=4)


def test_market_orders_fill_at_the_last_price(universe: Universe) -> None:
    updates = [u for _, u in simulate(universe, steps=500)]
    market = [u for u in updates if u["order_type"] == "MARKET" and u["status"] == COMPLETE]
    assert market
    engine = TickEngine(universe, seed=1, start_ms=MONDAY_10, ticks_per_second=0)
    prices = engine.last_prices()
    for update in market:
        assert update["average_price"] == pytest.approx(prices[update["token"]][0])
        assert update["price"] == 0.0
    assert {u["status"] for u in updates if u["order_type"] == "SL"} >= {TRIGGER_PENDING, OPEN}
