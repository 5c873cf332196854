"""Order updates from the order stream: validation, idempotency, ordering, positions from fills."""

from __future__ import annotations

import itertools
import random
from decimal import Decimal
from typing import Any

import pytest

from accounts.models import Order, OrderStatus, Position
from accounts.services.orders import OrderUpdate, order_updates_apply, positions_recompute
from accounts.tests.trading_factories import at, make_account, make_instrument, parsed, update
from tradeviz.errors import InvalidInput

pytestmark = pytest.mark.django_db


@pytest.fixture
def account(user: Any) -> Any:
    return make_account(user)


@pytest.fixture
def future() -> Any:
    return make_instrument(lot_size=75)


def lifecycle(account: Any, future: Any) -> list[dict[str, Any]]:
    """One BUY order of 150: open, trigger pending, part-filled, complete."""
    return [
        update(account, future, status="OPEN", quantity=150, at=0),
        update(account, future, status="TRIGGER PENDING", quantity=150, at=100),
        update(account, future, status="OPEN", quantity=150, filled=75, average="101", at=200),
        update(account, future, status="COMPLETE", quantity=150, filled=150, average="102", at=300),
    ]


def state(order: Order) -> tuple[Any, ...]:
    return (order.status, order.filled_quantity, order.average_price, order.exchange_updated_at, order.placed_at,
            order.open_at, order.trigger_pending_at, order.completed_at)


def test_a_lifecycle_in_order_ends_complete_with_every_timestamp(account: Any, future: Any) -> None:
    for message in lifecycle(account, future):
        order_updates_apply(updates=parsed(message))
    order = Order.objects.get()
    assert state(order) == (OrderStatus.COMPLETE, 150, Decimal("102.0000"), at(300), at(0), at(0), at(100), at(300))
    assert order.cancelled_at is None
    assert order.rejected_at is None
    position = Position.objects.get()
    assert (position.quantity, position.average_price, position.buy_quantity, position.buy_value) == (
        150, Decimal("102.0000"), 150, Decimal("15300.0000"))
    assert position.realised_pnl == Decimal(0)


def test_every_order_and_duplication_of_the_updates_gives_the_same_final_state(account: Any, future: Any) -> None:
    messages = lifecycle(account, future)
    finals = set()
    rng = random.Random(7)
    orders = list(itertools.permutations(messages))
    for k, permutation in enumerate(orders):
        Order.objects.all().delete()
        Position.objects.all().delete()
        sequence = list(permutation) + [rng.choice(messages) for _ in range(3)]
        # Alternate one-by-one delivery and whole batches (merged inside one statement).
        if k % 2:
            order_updates_apply(updates=parsed(*sequence))
        else:
            for message in sequence:
                order_updates_apply(updates=parsed(message))
        order = Order.objects.get()
        position = Position.objects.get()
        finals.add((state(order), position.quantity, position.average_price))
    assert finals == {(
        (OrderStatus.COMPLETE, 150, Decimal("102.0000"), at(300), at(0), at(0), at(100), at(300)),
        150, Decimal("102.0000"),
    )}


def test_a_duplicate_changes_nothing_and_reports_nothing(account: Any, future: Any) -> None:
    message = update(account, future, status="COMPLETE", filled=75, average="100.5", at=50)
    first = order_updates_apply(updates=parsed(message))
    before = Order.objects.values().get()
    again = order_updates_apply(updates=parsed(message))
    assert len(first.orders) == 1
    assert len(first.positions) == 1
    assert again.orders == []
    assert again.positions == []
    assert Order.objects.values().get() == before


def test_an_older_update_never_rolls_back_but_records_when_the_order_opened(account: Any, future: Any) -> None:
    order_updates_apply(updates=parsed(update(account, future, status="CANCELLED", at=500)))
    late = order_updates_apply(updates=parsed(update(account, future, status="OPEN", at=10)))
    order = Order.objects.get()
    assert (order.status, order.exchange_updated_at, order.open_at, order.cancelled_at, order.placed_at) == (
        OrderStatus.CANCELLED, at(500), at(10), at(500), at(10))
    # The row changed (open_at), so it is pushed, in its current (cancelled) state.
    assert [o["status"] for o in late.orders] == [OrderStatus.CANCELLED]


def test_same_time_updates_order_by_lifecycle_then_fill(account: Any, future: Any) -> None:
    order_updates_apply(updates=parsed(update(account, future, status="COMPLETE", filled=75, average="99", at=5)))
    order_updates_apply(updates=parsed(update(account, future, status="OPEN", filled=10, average="99", at=5)))
    assert Order.objects.values_list("status", "filled_quantity").get() == (OrderStatus.COMPLETE, 75)


def test_positions_net_buys_and_sells_with_realised_pnl(account: Any, future: Any) -> None:
    order_updates_apply(updates=parsed(
        update(account, future, order_id="B1", status="COMPLETE", quantity=150, filled=150, average="100", at=1),
        update(account, future, order_id="S1", side="SELL", status="COMPLETE", quantity=75, filled=75,
               average="110", at=2),
        # A cancelled order with a partial fill still counts its fill.
        update(account, future, order_id="B2", status="CANCELLED", quantity=75, filled=25, average="104", at=3),
        # Rejected, nothing filled: no effect.
        update(account, future, order_id="B3", status="REJECTED", quantity=75, at=4),
    ))
    position = Position.objects.get()
    # bought 150 @100 + 25 @104 = 175 for 17,600 (avg 100.5714…); sold 75 @110
    assert (position.buy_quantity, position.buy_value, position.sell_quantity, position.sell_value) == (
        175, Decimal("17600.0000"), 75, Decimal("8250.0000"))
    assert position.quantity == 100
    assert position.average_price == Decimal("100.5714")
    assert position.realised_pnl == Decimal("707.1429")  # 75 x (110 - 100.571428…)


def test_a_short_position_averages_the_sells(account: Any, future: Any) -> None:
    order_updates_apply(updates=parsed(
        update(account, future, order_id="S1", side="SELL", status="COMPLETE", quantity=75, filled=75, average="200", at=1),
        update(account, future, order_id="S2", side="SELL", status="COMPLETE", quantity=75, filled=75, average="210", at=2),
    ))
    position = Position.objects.get()
    assert (position.quantity, position.average_price, position.realised_pnl) == (-150, Decimal("205.0000"), 0)


def test_unknown_accounts_are_skipped_and_unknown_tokens_make_no_position(account: Any, future: Any,
                                                                          other_user: Any) -> None:
    message = update(account, future, status="COMPLETE", filled=75, average="100")
    stranger = dict(message, account="NOT-LINKED")
    unknown_token = dict(message, order_id="O2", token=1)
    applied = order_updates_apply(updates=parsed(stranger, unknown_token))
    assert applied.unknown_accounts == 1
    assert applied.unknown_instruments == 1
    assert list(Order.objects.values_list("broker_order_id", "instrument_id")) == [("O2", None)]
    assert not Position.objects.exists()


def test_a_disabled_account_takes_no_updates(account: Any, future: Any) -> None:
    account.status = "DISABLED"
    account.save()
    applied = order_updates_apply(updates=parsed(update(account, future)))
    assert applied.unknown_accounts == 1
    assert not Order.objects.exists()


def test_positions_recompute_rebuilds_from_fills(account: Any, future: Any) -> None:
    order_updates_apply(updates=parsed(update(account, future, status="COMPLETE", filled=75, average="100")))
    Position.objects.update(quantity=0, average_price=0)
    assert positions_recompute(account=account) == 1
    assert Position.objects.values_list("quantity", "average_price").get() == (75, Decimal("100.0000"))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"side": "HOLD"}, "order update side must be BUY or SELL, not 'HOLD'"),
        ({"status": "EXPLODED"}, "unknown order status 'EXPLODED'"),
        ({"quantity": 0}, "order update quantity must be positive"),
        ({"filled_quantity": 80}, "order update filled_quantity must be between 0 and quantity"),
        ({"filled_quantity": -1}, "order update filled_quantity must be between 0 and quantity"),
        ({"quantity": 7.5}, "order update quantity must be an integer"),
        ({"ts": "soon"}, "order update ts must be an integer"),
        ({"ts": 1_764_560_700}, "order update ts must be epoch milliseconds"),
        ({"price": "abc"}, "order update price must be a number"),
        ({"price": -1}, "order update price must be a non-negative number"),
        ({"order_id": ""}, "order update without order_id"),
        ({"account": None}, "order update without account"),
        ({"product": "XYZ"}, "order update product 'XYZ' is not one of CNC, MIS, NRML"),
    ],
)
def test_malformed_updates_are_rejected_with_a_reason(account: Any, future: Any, change: dict[str, Any],
                                                      message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        OrderUpdate.parse(dict(update(account, future), **change))
    assert caught.value.message == message


def test_broker_spellings_of_statuses_are_understood(account: Any, future: Any) -> None:
    assert OrderUpdate.parse(update(account, future, status="trigger pending")).status == OrderStatus.TRIGGER_PENDING
    assert OrderUpdate.parse(update(account, future, status="OPEN PENDING")).status == OrderStatus.OPEN
    assert OrderUpdate.parse(update(account, future, status="cancelled")).status == OrderStatus.CANCELLED
