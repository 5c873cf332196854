"""Market-depth metrics: top of book, imbalance, microprice, impact cost, degenerate books."""

from __future__ import annotations

import dataclasses
import math

import pytest

from options.depth import (
    REASON_CROSSED_BOOK,
    REASON_EMPTY_BOOK,
    REASON_INSUFFICIENT_DEPTH,
    REASON_NO_ASKS,
    REASON_NO_BIDS,
    DepthMetrics,
    ImpactCost,
    depth_metrics,
    impact_cost,
)

BUY = [[100.0, 300, 4], [99.5, 200, 2], [99.0, 500, 7], [0.0, 0, 0], [0.0, 0, 0]]
SELL = [[101.0, 100, 1], [101.5, 400, 3], [102.0, 500, 5], [0.0, 0, 0], [0.0, 0, 0]]


def assert_no_nan_or_inf(result: DepthMetrics | ImpactCost) -> None:
    for field in dataclasses.fields(result):
        value = getattr(result, field.name)
        if isinstance(value, float):
            assert math.isfinite(value), field.name


def test_top_of_book() -> None:
    m = depth_metrics(BUY, SELL)
    assert (m.best_bid, m.best_ask, m.mid, m.spread) == (100.0, 101.0, 100.5, 1.0)
    assert m.spread_bps == 1.0 / 100.5 * 10_000
    # L1: (300 - 100) / 400; all levels: (1000 - 1000) / 2000.
    assert m.imbalance_l1 == 0.5
    assert m.imbalance_n == 0.0
    # (100·100 + 101·300) / 400: leans to the ask, where there is less quantity.
    assert m.microprice == 100.75
    assert (m.bid_levels, m.ask_levels, m.reason) == (3, 3, None)


def test_imbalance_over_fewer_levels() -> None:
    # Two levels: bids 500, asks 500; one level is the L1 figure.
    assert depth_metrics(BUY, SELL, levels=2).imbalance_n == 0.0
    assert depth_metrics(BUY, SELL, levels=1).imbalance_n == 0.5
    with pytest.raises(ValueError, match="levels"):
        depth_metrics(BUY, SELL, levels=0)


def test_unsorted_levels_are_sorted() -> None:
    m = depth_metrics(list(reversed(BUY)), list(reversed(SELL)))
    assert (m.best_bid, m.best_ask, m.microprice) == (100.0, 101.0, 100.75)


@pytest.mark.parametrize(
    ("buy", "sell", "reason", "imbalance"),
    [
        ([], [], REASON_EMPTY_BOOK, None),
        (None, [[0.0, 0, 0]], REASON_EMPTY_BOOK, None),
        ([], SELL, REASON_NO_BIDS, -1.0),
        (BUY, [[0.0, 0, 0]] * 5, REASON_NO_ASKS, 1.0),
        ([[101.0, 10, 1]], [[100.0, 10, 1]], REASON_CROSSED_BOOK, None),
        ([[100.0, float("nan"), 1]], [[101.0, 5, 1], ["x", 1, 1]], REASON_NO_BIDS, -1.0),
    ],
)
def test_degenerate_books_have_defined_outputs(
    buy: list[list[float]] | None, sell: list[list[float]], reason: str, imbalance: float | None
) -> None:
    m = depth_metrics(buy, sell)
    assert m.reason == reason
    assert (m.mid, m.spread, m.spread_bps, m.microprice) == (None, None, None, None)
    assert m.imbalance_l1 == imbalance
    assert_no_nan_or_inf(m)


def test_locked_book_is_accepted() -> None:
    m = depth_metrics([[100.0, 10, 1]], [[100.0, 30, 1]])
    assert (m.mid, m.spread, m.spread_bps, m.microprice, m.reason) == (100.0, 0.0, 0.0, 100.0, None)


def test_impact_cost_buy_walks_the_asks() -> None:
    # 100 @ 101 + 150 @ 101.5 = 25325 for 250 → 101.3; mid 100.5.
    ic = impact_cost(BUY, SELL, quantity=250, side="buy")
    assert ic.average_price == 101.3
    assert ic.impact_pct == pytest.approx(0.8 / 100.5 * 100, rel=1e-13)
    assert ic.impact_bps == pytest.approx(0.8 / 100.5 * 10_000, rel=1e-13)
    assert (ic.available_quantity, ic.reason) == (1000.0, None)


def test_impact_cost_sell_walks_the_bids() -> None:
    # 300 @ 100 + 100 @ 99.5 = 39950 for 400 → 99.875; 0.625 below the mid.
    ic = impact_cost(BUY, SELL, quantity=400, side="sell")
    assert ic.average_price == 99.875
    assert ic.impact_pct == pytest.approx(0.625 / 100.5 * 100, rel=1e-13)
    assert ic.impact_pct > 0


def test_impact_cost_within_the_first_level() -> None:
    ic = impact_cost(BUY, SELL, quantity=50, side="buy")
    assert ic.average_price == 101.0
    assert ic.impact_bps == pytest.approx(0.5 / 100.5 * 10_000, rel=1e-13)


def test_impact_cost_insufficient_depth() -> None:
    ic = impact_cost(BUY, SELL, quantity=1001, side="buy")
    assert ic == ImpactCost("buy", 1001, None, None, None, 1000.0, REASON_INSUFFICIENT_DEPTH)
    assert impact_cost(BUY, SELL, quantity=1000, side="buy").reason is None


@pytest.mark.parametrize(
    ("buy", "sell", "reason"),
    [
        ([], [], REASON_EMPTY_BOOK),
        (BUY, [], REASON_NO_ASKS),
        ([], SELL, REASON_NO_BIDS),
        ([[102.0, 10, 1]], SELL, REASON_CROSSED_BOOK),
    ],
)
def test_impact_cost_on_degenerate_books(
    buy: list[list[float]], sell: list[list[float]], reason: str
) -> None:
    for side in ("buy", "sell"):
        ic = impact_cost(buy, sell, quantity=10, side=side)  # type: ignore[arg-type]
        assert (ic.average_price, ic.impact_pct, ic.impact_bps, ic.reason) == (None, None, None, reason)
        assert_no_nan_or_inf(ic)


@pytest.mark.parametrize("quantity", [0, -5, float("nan"), float("inf")])
def test_impact_cost_rejects_bad_quantities(quantity: float) -> None:
    with pytest.raises(ValueError, match="quantity"):
        impact_cost(BUY, SELL, quantity=quantity, side="buy")


def test_impact_cost_rejects_unknown_side() -> None:
    with pytest.raises(ValueError, match="side"):
        impact_cost(BUY, SELL, quantity=1, side="both")  # type: ignore[arg-type]
