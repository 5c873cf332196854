"""The order-stream consumer on real Redis: at-least-once delivery, poison entries, retries."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from accounts import orderstream
from accounts.models import Order, OrderStatus
from accounts.orderstream import OrderStreamConsumer
from accounts.tests.trading_factories import make_account, make_instrument, update
from tradeviz.redis_client import get_redis

pytestmark = [pytest.mark.django_db, pytest.mark.redis]


@pytest.fixture
def stream() -> Iterator[str]:
    key = f"tv:test:orders:{uuid.uuid4().hex[:12]}"
    yield key
    get_redis().delete(key)


@pytest.fixture
def consumer(stream: str) -> OrderStreamConsumer:
    c = OrderStreamConsumer(stream=stream, group="g", consumer="c1", block_ms=10)
    c.ensure_group()
    return c


def publish(stream: str, *messages: Any) -> None:
    for message in messages:
        get_redis().xadd(stream, {"d": orjson.dumps(message) if not isinstance(message, bytes) else message})


def pending(stream: str) -> int:
    return int(get_redis().xpending(stream, "g")["pending"])


def test_updates_are_stored_then_acknowledged(consumer: OrderStreamConsumer, stream: str, user: Any) -> None:
    account, future = make_account(user), make_instrument()
    publish(stream, update(account, future, status="OPEN", at=0),
            update(account, future, status="COMPLETE", filled=75, average="100", at=10))
    result = consumer.run_once()
    assert (result.read, result.applied_orders, result.invalid) == (2, 1, 0)
    assert Order.objects.values_list("status", "filled_quantity").get() == (OrderStatus.COMPLETE, 75)
    assert pending(stream) == 0


def test_a_malformed_entry_is_acknowledged_and_does_not_block_the_rest(
    consumer: OrderStreamConsumer, stream: str, user: Any
) -> None:
    account, future = make_account(user), make_instrument()
    publish(stream, b"{not json", {"account": account.broker_account_id}, update(account, future))
    result = consumer.run_once()
    assert (result.read, result.applied_orders, result.invalid) == (3, 1, 2)
    assert Order.objects.count() == 1
    assert pending(stream) == 0


def test_a_database_failure_leaves_the_batch_pending_and_it_is_replayed(
    consumer: OrderStreamConsumer, stream: str, user: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    account, future = make_account(user), make_instrument()
    publish(stream, update(account, future, status="COMPLETE", filled=75, average="100"))

    def broken(**kwargs: Any) -> Any:
        from django.db import OperationalError

        raise OperationalError("database is away")

    monkeypatch.setattr(orderstream, "order_updates_apply", broken)
    with pytest.raises(Exception, match="database is away"):
        consumer.run_once()
    assert pending(stream) == 1
    assert not Order.objects.exists()

    monkeypatch.undo()
    consumer._backlog = True  # what run() does after a failure
    result = consumer.run_once()
    assert result.applied_orders == 1
    assert pending(stream) == 0
    # Replaying again (a crash after commit, before ack) changes nothing.
    publish(stream, update(account, future, status="COMPLETE", filled=75, average="100"))
    assert consumer.run_once().applied_orders == 0


def test_a_dead_consumers_entries_are_claimed(stream: str, user: Any) -> None:
    account, future = make_account(user), make_instrument()
    dead = OrderStreamConsumer(stream=stream, group="g", consumer="dead", block_ms=10)
    dead.ensure_group()
    publish(stream, update(account, future))
    get_redis().xreadgroup("g", "dead", {stream: ">"}, count=10)  # delivered, never processed
    alive = OrderStreamConsumer(stream=stream, group="g", consumer="alive", block_ms=10, claim_idle_ms=0)
    result = alive.run_once()
    assert result.applied_orders == 1
    assert pending(stream) == 0
