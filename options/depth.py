"""Order-book depth metrics from one market-depth snapshot (docs: DOMAIN.md, "Expiry-level metrics").

A snapshot side is a list of levels ``[price, quantity, orders]`` (up to 5 on NSE; extra fields are
ignored). Brokers pad missing levels with zeros, so a level with a non-finite or non-positive price or
quantity is dropped. Bids are sorted best (highest) first and asks best (lowest) first, whatever
order they arrive in.

Every function returns plain floats or None — never NaN or inf. When a figure is undefined the
result carries a reason code: ``empty_book`` (no usable level on either side), ``no_bids``,
``no_asks``, ``crossed_book`` (best bid > best ask; a locked book, bid == ask, is accepted with a zero
spread), ``insufficient_depth`` (impact cost: the visible book cannot fill the quantity).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

BPS_PER_UNIT = 10_000.0
PERCENT = 100.0
# NSE disseminates five levels of depth.
DEFAULT_DEPTH_LEVELS = 5

REASON_EMPTY_BOOK = "empty_book"
REASON_NO_BIDS = "no_bids"
REASON_NO_ASKS = "no_asks"
REASON_CROSSED_BOOK = "crossed_book"
REASON_INSUFFICIENT_DEPTH = "insufficient_depth"

Level = Sequence[float]
Side = Literal["buy", "sell"]


def _clean(levels: Sequence[Level] | None, *, descending: bool) -> list[tuple[float, float]]:
    usable = []
    for level in levels or ():
        try:
            price, qty = float(level[0]), float(level[1])
        except (TypeError, ValueError, IndexError):
            continue  # a malformed level is as good as an absent one
        if math.isfinite(price) and math.isfinite(qty) and price > 0 and qty > 0:
            usable.append((price, qty))
    return sorted(usable, key=lambda pq: pq[0], reverse=descending)


def _imbalance(bid_qty: float, ask_qty: float) -> float | None:
    total = bid_qty + ask_qty
    return (bid_qty - ask_qty) / total if total > 0 else None


@dataclass(frozen=True)
class DepthMetrics:
    """Top-of-book figures in rupees; spread_bps is the spread over the mid x 10 000.

    Imbalances are in [-1, 1] ((bid - ask)/(bid + ask) of quantities; +1 = only bids) and are given
    for one-sided books too; mid, spread, spread_bps and microprice need both sides, uncrossed.
    ``reason`` is None when every figure is defined.
    """

    best_bid: float | None
    best_ask: float | None
    mid: float | None
    spread: float | None
    spread_bps: float | None
    microprice: float | None
    imbalance_l1: float | None
    imbalance_n: float | None
    bid_levels: int  # usable levels after dropping zero padding
    ask_levels: int
    reason: str | None


def book_reason(bids: list[tuple[float, float]], asks: list[tuple[float, float]]) -> str | None:
    """Why top-of-book figures are undefined for these cleaned sides, or None when they are defined."""
    if not bids and not asks:
        return REASON_EMPTY_BOOK
    if not bids:
        return REASON_NO_BIDS
    if not asks:
        return REASON_NO_ASKS
    if bids[0][0] > asks[0][0]:
        return REASON_CROSSED_BOOK
    return None


def depth_metrics(
    buy: Sequence[Level] | None, sell: Sequence[Level] | None, *, levels: int = DEFAULT_DEPTH_LEVELS
) -> DepthMetrics:
    """Mid, spread, spread in bps, microprice, level-1 and ``levels``-level imbalance of a snapshot.

    microprice = (bid·askQty + ask·bidQty)/(bidQty + askQty): the mid leaned towards the side with
    less quantity, where the next trade is more likely to move the price.
    """
    if levels < 1:
        raise ValueError("levels must be at least 1")
    bids = _clean(buy, descending=True)
    asks = _clean(sell, descending=False)
    reason = book_reason(bids, asks)
    bid_l1 = bids[0][1] if bids else 0.0
    ask_l1 = asks[0][1] if asks else 0.0
    crossed = reason == REASON_CROSSED_BOOK
    # A crossed snapshot is a stale or torn read; its quantities describe no real book either.
    imbalance_l1 = None if crossed else _imbalance(bid_l1, ask_l1)
    imbalance_n = (
        None if crossed else _imbalance(sum(q for _, q in bids[:levels]), sum(q for _, q in asks[:levels]))
    )
    best_bid = bids[0][0] if bids else None
    best_ask = asks[0][0] if asks else None
    if reason is not None or best_bid is None or best_ask is None:
        return DepthMetrics(
            best_bid,
            best_ask,
            None,
            None,
            None,
            None,
            imbalance_l1,
            imbalance_n,
            len(bids),
            len(asks),
            reason,
        )
    mid = 0.5 * (best_bid + best_ask)
    spread = best_ask - best_bid
    microprice = (best_bid * ask_l1 + best_ask * bid_l1) / (bid_l1 + ask_l1)
    return DepthMetrics(
        best_bid=best_bid,
        best_ask=best_ask,
        mid=mid,
        spread=spread,
        spread_bps=spread / mid * BPS_PER_UNIT,
        microprice=microprice,
        imbalance_l1=imbalance_l1,
        imbalance_n=imbalance_n,
        bid_levels=len(bids),
        ask_levels=len(asks),
        reason=None,
    )


@dataclass(frozen=True)
class ImpactCost:
    """Cost of executing ``quantity`` at once against the visible book.

    ``average_price`` is the volume-weighted fill price walking the opposite side; ``impact_pct`` /
    ``impact_bps`` the adverse distance of that price from the mid (positive = cost, for buys and
    sells alike). ``available_quantity`` is what the visible book holds on that side. All None with
    ``reason`` set when the mid is undefined or the book cannot fill the quantity.
    """

    side: Side
    quantity: float
    average_price: float | None
    impact_pct: float | None
    impact_bps: float | None
    available_quantity: float
    reason: str | None


def impact_cost(
    buy: Sequence[Level] | None, sell: Sequence[Level] | None, *, quantity: float, side: Side
) -> ImpactCost:
    """Impact cost of a market order of ``quantity`` (same units as the book quantities).

    ``side="buy"`` walks the asks, ``side="sell"`` the bids. NSE's published impact cost is the
    average of the buy and sell figures for the same quantity.
    """
    if not (math.isfinite(quantity) and quantity > 0):
        raise ValueError("quantity must be a positive number")
    if side not in ("buy", "sell"):
        raise ValueError("side must be 'buy' or 'sell'")
    bids = _clean(buy, descending=True)
    asks = _clean(sell, descending=False)
    book = asks if side == "buy" else bids
    available = float(sum(q for _, q in book))
    reason = book_reason(bids, asks)
    if reason is None and available < quantity:
        reason = REASON_INSUFFICIENT_DEPTH
    if reason is not None:
        return ImpactCost(side, quantity, None, None, None, available, reason)

    remaining = quantity
    notional = 0.0
    for price, qty in book:
        take = min(qty, remaining)
        notional += take * price
        remaining -= take
        if remaining <= 0:
            break
    average = notional / quantity
    mid = 0.5 * (bids[0][0] + asks[0][0])
    adverse = (average - mid) if side == "buy" else (mid - average)
    return ImpactCost(
        side=side,
        quantity=quantity,
        average_price=average,
        impact_pct=adverse / mid * PERCENT,
        impact_bps=adverse / mid * BPS_PER_UNIT,
        available_quantity=available,
        reason=None,
    )
