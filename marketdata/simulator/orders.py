"""Order updates for the demo trading account: a deterministic stream of orders through their lifecycle.

Each `step` (every SIMULATOR_ORDER_INTERVAL_SECONDS) either places a new order on an instrument
whose exchange is in session or moves one working order on. Lifecycle (ORDER_TRANSITIONS):

    new             → OPEN | TRIGGER_PENDING | REJECTED
    TRIGGER_PENDING → OPEN (triggered) | COMPLETE | CANCELLED
    OPEN            → OPEN (partly filled) | COMPLETE | CANCELLED
    COMPLETE, CANCELLED, REJECTED are final.

filled_quantity never decreases; COMPLETE means filled_quantity == quantity; average_price is the
volume-weighted fill price (0 until something fills); quantities are whole lots. Orders still
working when their exchange closes are cancelled at the first step after the close (as brokers
cancel day orders). Pure: prices come in as an argument, nothing is published here.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from marketdata.simulator.model import round_to_tick, tick_decimals
from marketdata.simulator.universe import SimInstrument, Universe

OPEN = "OPEN"
TRIGGER_PENDING = "TRIGGER_PENDING"
COMPLETE = "COMPLETE"
CANCELLED = "CANCELLED"
REJECTED = "REJECTED"
STATUSES = (OPEN, TRIGGER_PENDING, COMPLETE, CANCELLED, REJECTED)
FINAL_STATUSES = frozenset({COMPLETE, CANCELLED, REJECTED})
ORDER_TRANSITIONS: dict[str | None, frozenset[str]] = {
    None: frozenset({OPEN, TRIGGER_PENDING, REJECTED}),
    TRIGGER_PENDING: frozenset({OPEN, COMPLETE, CANCELLED}),
    OPEN: frozenset({OPEN, COMPLETE, CANCELLED}),
}
BUY = "BUY"
SELL = "SELL"
MARKET = "MARKET"
LIMIT = "LIMIT"
STOP_LOSS = "SL"

MAX_WORKING_ORDERS = 5
ADVANCE_PROBABILITY = 0.55
# New orders: the share of each outcome (cumulative thresholds).
REJECT_SHARE = 0.08
MARKET_SHARE = 0.45
LIMIT_SHARE = 0.85  # the rest are stop-loss orders
MAX_LOTS = 5
MAX_SHARES = 50
LIMIT_OFFSET_TICKS = 6
STOP_OFFSET_TICKS = (5, 20)
STOP_LIMIT_SLACK_TICKS = 2
# Moving a working order on: the share of each outcome.
TRIGGERED_SHARE = 0.6
STOP_FILLED_SHARE = 0.8  # the rest of triggered-pending moves are cancellations
PARTIAL_FILL_SHARE = 0.35
FILL_SHARE = 0.75  # the rest of open-order moves are cancellations
REJECT_REASONS = (
    "Insufficient funds. Required margin exceeds available margin.",
    "Quantity exceeds the freeze limit for this contract.",
    "Price is outside the day's circuit limits.",
)
CLOSE_MESSAGE = "Cancelled at the close of the session."
ORDER_ID_SEQUENCE_DIGITS = 5


@dataclass
class _Order:
    order_id: str
    instrument: SimInstrument
    side: str
    quantity: int
    order_type: str
    product: str
    price: float
    trigger_price: float
    status: str | None = None
    filled: int = 0
    filled_value: float = 0.0


class OrderSimulator:
    def __init__(self, universe: Universe, *, account: str, seed: int, start_ms: int) -> None:
        self.account = account
        self.universe = universe
        self.rng = np.random.default_rng([seed, start_ms, 1])
        # Numeric ids like a broker's, unique across restarts (the start second leads).
        self._id_prefix = str(start_ms // 1000)
        self._sequence = 0
        self._working: list[_Order] = []

    def set_universe(self, universe: Universe) -> None:
        self.universe = universe

    @property
    def working(self) -> int:
        return len(self._working)

    def step(self, ts_ms: int, prices: Mapping[int, float], open_calendars: Collection[str]) -> list[dict[str, Any]]:
        """The order updates of one step at `ts_ms`, in order."""
        updates: list[dict[str, Any]] = []
        for order in [o for o in self._working if o.instrument.calendar not in open_calendars]:
            updates.append(self._update(order, CANCELLED, ts_ms, message=CLOSE_MESSAGE))
        tradable = [
            item for item in self.universe.instruments
            if not item.is_index and item.calendar in open_calendars and item.token in prices
            and (item.expiry_ms is None or ts_ms < item.expiry_ms)
        ]
        roll = self.rng.random()
        if self._working and (len(self._working) >= MAX_WORKING_ORDERS or roll < ADVANCE_PROBABILITY):
            order = self._working[int(self.rng.integers(len(self._working)))]
            updates.extend(self._advance(order, ts_ms))
        elif tradable:
            updates.extend(self._place(tradable, prices, ts_ms))
        return updates

    def _place(self, tradable: list[SimInstrument], prices: Mapping[int, float], ts_ms: int) -> list[dict[str, Any]]:
        weights = np.array([item.weight for item in tradable])
        item = tradable[int(self.rng.choice(len(tradable), p=weights / weights.sum()))]
        ltp = float(prices[item.token])
        side = BUY if self.rng.random() < 0.5 else SELL
        quantity = (
            item.lot_size * int(self.rng.integers(1, MAX_LOTS + 1)) if item.is_derivative
            else int(self.rng.integers(1, MAX_SHARES + 1))
        )
        product = ("NRML" if self.rng.random() < 0.5 else "MIS") if item.is_derivative else (
            "CNC" if self.rng.random() < 0.5 else "MIS")
        direction = -1 if side == BUY else 1
        tick = item.tick_size
        outcome = self.rng.random()
        self._sequence += 1
        order_id = f"{self._id_prefix}{self._sequence:0{ORDER_ID_SEQUENCE_DIGITS}d}"
        if REJECT_SHARE <= outcome < MARKET_SHARE:
            order = _Order(order_id, item, side, quantity, MARKET, product, 0.0, 0.0)
            return [self._update(order, OPEN, ts_ms), self._fill(order, quantity, ltp, ts_ms)]
        if outcome < LIMIT_SHARE:  # a limit order a few ticks from the market, or a rejected one
            offset = int(self.rng.integers(0, LIMIT_OFFSET_TICKS + 1))
            order = _Order(order_id, item, side, quantity, LIMIT, product,
                           self._price(item, ltp + direction * offset * tick), 0.0)
            if outcome < REJECT_SHARE:
                reason = REJECT_REASONS[int(self.rng.integers(len(REJECT_REASONS)))]
                return [self._update(order, REJECTED, ts_ms, message=reason)]
            return [self._update(order, OPEN, ts_ms)]
        # A stop-loss: a BUY stop triggers above the market, a SELL stop below.
        away = int(self.rng.integers(STOP_OFFSET_TICKS[0], STOP_OFFSET_TICKS[1] + 1))
        trigger = self._price(item, ltp - direction * away * tick)
        price = self._price(item, trigger - direction * STOP_LIMIT_SLACK_TICKS * tick)
        order = _Order(order_id, item, side, quantity, STOP_LOSS, product, price, trigger)
        return [self._update(order, TRIGGER_PENDING, ts_ms)]

    def _advance(self, order: _Order, ts_ms: int) -> list[dict[str, Any]]:
        roll = self.rng.random()
        if order.status == TRIGGER_PENDING:
            if roll < TRIGGERED_SHARE:
                return [self._update(order, OPEN, ts_ms)]
            if roll < STOP_FILLED_SHARE:
                return [self._fill(order, order.quantity - order.filled, order.price, ts_ms)]
            return [self._update(order, CANCELLED, ts_ms)]
        remaining = order.quantity - order.filled
        unit = order.instrument.lot_size if order.instrument.is_derivative else 1
        if roll < PARTIAL_FILL_SHARE and remaining > unit:
            part = unit * int(self.rng.integers(1, remaining // unit))
            return [self._fill(order, part, order.price, ts_ms)]
        if roll < FILL_SHARE:
            return [self._fill(order, remaining, order.price, ts_ms)]
        return [self._update(order, CANCELLED, ts_ms)]

    def _price(self, item: SimInstrument, value: float) -> float:
        return round(float(round_to_tick(max(value, item.tick_size), item.tick_size)), tick_decimals(item.tick_size))

    def _fill(self, order: _Order, quantity: int, price: float, ts_ms: int) -> dict[str, Any]:
        order.filled += quantity
        order.filled_value += quantity * price
        return self._update(order, COMPLETE if order.filled >= order.quantity else OPEN, ts_ms)

    def _update(self, order: _Order, status: str, ts_ms: int, *, message: str | None = None) -> dict[str, Any]:
        assert status in ORDER_TRANSITIONS.get(order.status, frozenset()), (order.status, status)
        order.status = status
        if status in FINAL_STATUSES:
            if order in self._working:
                self._working.remove(order)
        elif order not in self._working:
            self._working.append(order)
        item = order.instrument
        digits = tick_decimals(item.tick_size)
        average = round(order.filled_value / order.filled, digits + 2) if order.filled else 0.0
        return {
            "account": self.account,
            "order_id": order.order_id,
            "status": status,
            "token": item.token,
            "tradingsymbol": item.tradingsymbol,
            "exchange": item.exchange,
            "side": order.side,
            "quantity": order.quantity,
            "filled_quantity": order.filled,
            "price": order.price,
            "trigger_price": order.trigger_price,
            "average_price": average,
            "order_type": order.order_type,
            "product": order.product,
            "status_message": message,
            "ts": ts_ms,
        }
