"""The order-stream consumer: broker order updates from Redis into orders, positions and `/ws/orders`.

Contract (ARCHITECTURE.md, "Order stream"): Redis Stream `ORDER_STREAM`, one field `d` holding a
JSON order update. Read with a consumer group, so several `consume_orders` processes share the
stream and a crashed one's entries are picked up again:

1. On start, and after every failure, the consumer first re-reads its own pending entries
   (delivered, never acknowledged), then new ones. Entries idle longer than `claim_idle_ms` in
   another (dead) consumer are claimed with XAUTOCLAIM.
2. A batch is stored in one transaction (accounts.services.orders — idempotent and
   order-insensitive, so redelivery is harmless), *then* acknowledged, then pushed to the owners'
   WebSocket groups. At-least-once: a crash between commit and ack replays the batch, which
   changes nothing the second time.
3. A malformed entry can never succeed; it is logged with its id, counted and acknowledged so it
   does not block the stream.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import redis
from django.conf import settings
from django.db import DatabaseError, close_old_connections

from accounts.services.live import (
    ORDER_EVENT,
    POSITION_EVENT,
    order_payload,
    position_payload,
    publish_to_users,
)
from accounts.services.orders import AppliedUpdates, OrderUpdate, order_updates_apply
from tradeviz.errors import InvalidInput
from tradeviz.observability.metrics import ORDER_STREAM_BATCH_SECONDS, ORDER_UPDATES
from tradeviz.redis_client import get_redis

logger = logging.getLogger(__name__)

DEFAULT_GROUP = "tv-orders"
DEFAULT_BATCH = 200
# Must stay below the Redis client's socket timeout (REDIS_SOCKET_TIMEOUT, 2 s by default).
DEFAULT_BLOCK_MS = 1000
DEFAULT_CLAIM_IDLE_MS = 60_000
RETRY_BACKOFF_SECONDS = (0.5, 1.0, 2.0, 5.0)
CLAIM_EVERY_SECONDS = 30.0
FIELD = b"d"


def stream_settings() -> tuple[str, str]:
    return settings.ORDER_STREAM, getattr(settings, "ORDER_STREAM_GROUP", DEFAULT_GROUP)


@dataclass(frozen=True)
class BatchResult:
    read: int
    applied_orders: int
    invalid: int
    pushed: int


Entry = tuple[bytes, dict[bytes, bytes]]


def _decode(entry_id: bytes, fields: dict[bytes, bytes]) -> OrderUpdate | None:
    raw = fields.get(FIELD)
    try:
        if raw is None:
            raise InvalidInput("entry has no 'd' field")
        return OrderUpdate.parse(orjson.loads(raw))
    except (InvalidInput, orjson.JSONDecodeError) as exc:
        ORDER_UPDATES.labels(outcome="invalid").inc()
        logger.warning(
            "order stream entry rejected", extra={"entry_id": entry_id.decode(), "reason": str(exc)[:200]}
        )
        return None


def push_applied(applied: AppliedUpdates) -> int:
    """Send the changed orders and positions to their owners' `/ws/orders` groups."""
    symbols = {o["instrument_id"]: (o["tradingsymbol"], o["instrument_token"]) for o in applied.orders}
    events: list[tuple[int, dict[str, Any]]] = []
    for order in applied.orders:
        owner = applied.owners.get(order["account_id"])
        if owner is not None:
            events.append((owner, {"type": ORDER_EVENT, "order": order_payload(order)}))
    for position in applied.positions:
        owner = applied.owners.get(position["account_id"])
        if owner is not None:
            symbol, token = symbols.get(position["instrument_id"], ("", None))
            payload = position_payload(position, tradingsymbol=symbol, instrument_token=token)
            events.append((owner, {"type": POSITION_EVENT, "position": payload}))
    return publish_to_users(events)


class OrderStreamConsumer:
    def __init__(
        self,
        *,
        client: redis.Redis | None = None,
        stream: str | None = None,
        group: str | None = None,
        consumer: str | None = None,
        batch: int = DEFAULT_BATCH,
        block_ms: int = DEFAULT_BLOCK_MS,
        claim_idle_ms: int = DEFAULT_CLAIM_IDLE_MS,
        on_pushed: Callable[[Sequence[Entry], BatchResult], None] | None = None,
    ) -> None:
        default_stream, default_group = stream_settings()
        self.redis = client or get_redis()
        self.stream = stream or default_stream
        self.group = group or default_group
        self.consumer = consumer or f"{socket.gethostname()}-{os.getpid()}"
        self.batch = batch
        self.block_ms = block_ms
        self.claim_idle_ms = claim_idle_ms
        self.on_pushed = on_pushed
        # After a start or a failure, our own unacknowledged entries come first ("0"); then new (">").
        self._backlog = True
        self._last_claim = 0.0

    def ensure_group(self) -> None:
        """Create the consumer group (and the stream) if missing, from the stream's beginning."""
        try:
            self.redis.xgroup_create(self.stream, self.group, id="0", mkstream=True)
            logger.info("order stream group created", extra={"stream": self.stream, "group": self.group})
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def _read(self) -> list[Entry]:
        now = time.monotonic()
        entries: list[Entry]
        if now - self._last_claim >= CLAIM_EVERY_SECONDS:
            self._last_claim = now
            claimed: Any = self.redis.xautoclaim(
                self.stream, self.group, self.consumer, min_idle_time=self.claim_idle_ms, start_id="0-0",
                count=self.batch,
            )
            entries = [e for e in claimed[1] if e[1]] if claimed else []
            if entries:
                logger.info("claimed idle order stream entries", extra={"count": len(entries)})
                return entries
        if self._backlog:
            reply: Any = self.redis.xreadgroup(self.group, self.consumer, {self.stream: "0"}, count=self.batch)
            entries = reply[0][1] if reply else []
            # Entries deleted from the stream while pending come back without fields: ack them away.
            gone = [entry_id for entry_id, fields in entries if not fields]
            if gone:
                self.redis.xack(self.stream, self.group, *gone)
            entries = [e for e in entries if e[1]]
            if entries:
                return entries
            self._backlog = False
        reply = self.redis.xreadgroup(
            self.group, self.consumer, {self.stream: ">"}, count=self.batch, block=self.block_ms
        )
        fresh: list[Entry] = reply[0][1] if reply else []
        return fresh

    def process(self, entries: Sequence[Entry]) -> BatchResult:
        """Store, acknowledge, push. Raises (without acknowledging) when the database fails."""
        started = time.perf_counter()
        updates: list[OrderUpdate] = []
        invalid = 0
        for entry_id, fields in entries:
            update = _decode(entry_id, fields)
            if update is None:
                invalid += 1
            else:
                updates.append(update)
        applied = order_updates_apply(updates=updates)
        if entries:
            self.redis.xack(self.stream, self.group, *[entry_id for entry_id, _ in entries])
        ORDER_UPDATES.labels(outcome="applied").inc(len(applied.orders))
        ORDER_UPDATES.labels(outcome="unchanged").inc(
            max(0, len(updates) - len(applied.orders) - applied.unknown_accounts)
        )
        ORDER_UPDATES.labels(outcome="unknown_account").inc(applied.unknown_accounts)
        pushed = push_applied(applied)
        result = BatchResult(read=len(entries), applied_orders=len(applied.orders), invalid=invalid, pushed=pushed)
        ORDER_STREAM_BATCH_SECONDS.observe(time.perf_counter() - started)
        if self.on_pushed is not None:
            self.on_pushed(entries, result)
        return result

    def run_once(self) -> BatchResult:
        entries = self._read()
        if not entries:
            return BatchResult(0, 0, 0, 0)
        return self.process(entries)

    def run(self, *, should_stop: Callable[[], bool] = lambda: False) -> None:
        """Consume until `should_stop()`; failures back off and retry from the pending entries."""
        failures = 0
        group_ready = False
        while not should_stop():
            try:
                if not group_ready:
                    self.ensure_group()
                    group_ready = True
                close_old_connections()
                self.run_once()
                failures = 0
            except (redis.RedisError, DatabaseError, OSError) as exc:
                delay = RETRY_BACKOFF_SECONDS[min(failures, len(RETRY_BACKOFF_SECONDS) - 1)]
                failures += 1
                self._backlog = True
                if isinstance(exc, redis.ResponseError) and "NOGROUP" in str(exc):
                    group_ready = False
                logger.warning(
                    "order stream consumer failed; retrying",
                    extra={"error": f"{type(exc).__name__}: {exc}"[:300], "retry_in": delay},
                )
                if isinstance(exc, DatabaseError):
                    close_old_connections()
                time.sleep(delay)
