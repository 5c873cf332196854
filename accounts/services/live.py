"""Pushing order and position changes to their owner's `/ws/orders` subscribers.

One channel-layer group per user (`orders.user.<id>`): a user's connections join only their own
group, so nothing of another user's accounts can reach them. All sends of a batch go out
concurrently in one event-loop run.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from channels import DEFAULT_CHANNEL_LAYER
from channels.layers import channel_layers
from django.conf import settings

logger = logging.getLogger(__name__)

# channels_redis opens a connection per concurrent send; its pool refuses beyond its limit.
MAX_CONCURRENT_SENDS = 32
SEND_TIMEOUT_SECONDS = 10.0

ORDER_EVENT = "orders.order"
POSITION_EVENT = "orders.position"

ORDER_FIELDS = (
    "id", "account_id", "broker_order_id", "instrument_token", "tradingsymbol", "product", "side", "status",
    "quantity", "filled_quantity", "price", "average_price", "tag", "status_message", "placed_at",
    "exchange_updated_at", "open_at", "trigger_pending_at", "completed_at", "cancelled_at", "rejected_at",
)
POSITION_FIELDS = (
    "id", "account_id", "instrument_id", "product", "quantity", "average_price", "buy_quantity", "buy_value",
    "sell_quantity", "sell_value", "realised_pnl", "unrealised_pnl", "last_price", "updated_at",
)


def orders_group(user_id: int) -> str:
    return f"orders.user.{int(user_id)}"


def _json_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def order_payload(row: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON shape of an order (the same as the orders API's)."""
    body = {name: _json_value(row.get(name)) for name in ORDER_FIELDS}
    body["account"] = body.pop("account_id")
    body["pending_quantity"] = int(row["quantity"]) - int(row["filled_quantity"])
    return body


def position_payload(row: Mapping[str, Any], *, tradingsymbol: str = "", instrument_token: int | None = None) -> dict[str, Any]:
    body = {name: _json_value(row.get(name)) for name in POSITION_FIELDS}
    body["account"] = body.pop("account_id")
    body["instrument"] = body.pop("instrument_id")
    body["tradingsymbol"] = tradingsymbol
    body["instrument_token"] = instrument_token
    return body


class _PublisherLoop:
    """One event loop per process, on a daemon thread, for channel-layer sends from sync code.

    `async_to_sync` would start a fresh loop per call, and channels_redis keeps its connection pools
    per loop: every batch would reconnect to Redis. This loop keeps them. Re-created after a fork
    (Celery's prefork workers), where the parent's thread does not exist.
    """

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pid = 0
        self._lock = threading.Lock()
        self._layer: Any = None
        self._layer_config = ""

    def loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._pid != os.getpid():
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="channel-layer-publisher", daemon=True).start()
                self._loop, self._pid, self._layer = loop, os.getpid(), None
            return self._loop

    def layer(self) -> Any:
        """A channel layer of this loop's own: the process-wide one may be used (and flushed or
        closed) from other loops, and a layer's pools belong to the loop that opened them."""
        config = repr(getattr(settings, "CHANNEL_LAYERS", {}).get(DEFAULT_CHANNEL_LAYER))
        with self._lock:
            if self._layer is None or config != self._layer_config:
                self._layer = channel_layers.make_backend(DEFAULT_CHANNEL_LAYER)
                self._layer_config = config
            return self._layer


_publisher = _PublisherLoop()


def send_to_groups(sends: Sequence[tuple[str, dict[str, Any]]], *, what: str) -> int:
    """group_send every (group, event), a bounded number at a time; returns how many were sent.

    Never raises: the work being announced is already committed, and a channel-layer outage only
    loses the live push (pages reload the data over HTTP), so it is logged, not retried.
    """
    if not sends or not getattr(settings, "CHANNEL_LAYERS", None):
        return 0
    loop = _publisher.loop()
    layer = _publisher.layer()

    async def send_all() -> None:
        gate = asyncio.Semaphore(MAX_CONCURRENT_SENDS)

        async def send(group: str, event: dict[str, Any]) -> None:
            async with gate:
                await layer.group_send(group, event)

        await asyncio.gather(*(send(group, event) for group, event in sends))

    try:
        asyncio.run_coroutine_threadsafe(send_all(), loop).result(timeout=SEND_TIMEOUT_SECONDS)
    except Exception:
        logger.exception("pushing %s to WebSocket subscribers failed", what, extra={"events": len(sends)})
        return 0
    return len(sends)


def publish_to_users(events: Iterable[tuple[int, dict[str, Any]]]) -> int:
    """Send (user id, channel-layer event) pairs to the users' `/ws/orders` groups."""
    return send_to_groups([(orders_group(user), event) for user, event in events], what="order updates")
