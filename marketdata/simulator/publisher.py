"""Publishing to Redis streams without ever stalling the simulation clock.

Entries queue in memory and are written in order (XADD … MAXLEN ~ N, one pipeline per flush). When
Redis is unreachable the queue keeps filling (bounded: the oldest entries are dropped and counted)
and writes are retried with exponential backoff; after Redis comes back the backlog goes out in its
original order, so the consumer builds the missed minutes from the ticks' own event times.

A connection lost in the middle of a pipeline may leave some of its entries written and some not;
the whole batch is retried, so a few entries can arrive twice. The tick contract allows that: the
consumer is idempotent under duplicate delivery.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable

import redis

logger = logging.getLogger(__name__)

BACKOFF_INITIAL_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 10.0
FLUSH_CHUNK_ENTRIES = 500


class StreamPublisher:
    def __init__(
        self,
        client_factory: Callable[[], redis.Redis],
        *,
        maxlen: int,
        max_pending: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client_factory = client_factory
        self._client: redis.Redis | None = None
        self.maxlen = maxlen
        self._pending: deque[tuple[str, bytes]] = deque()
        self._max_pending = max_pending
        self._clock = clock
        self._retry_at = 0.0
        self._backoff = BACKOFF_INITIAL_SECONDS
        self._failing = False
        self.published = 0
        self.dropped = 0

    @property
    def pending(self) -> int:
        return len(self._pending)

    @property
    def connected(self) -> bool:
        return not self._failing

    def publish(self, stream: str, payload: bytes) -> None:
        """Queue one entry (field `d` = payload) and try to write everything queued."""
        self._pending.append((stream, payload))
        if len(self._pending) > self._max_pending:
            self._pending.popleft()
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                logger.warning("simulator: Redis backlog full; dropping the oldest entries",
                               extra={"dropped": self.dropped, "max_pending": self._max_pending})
        self.flush()

    def flush(self, *, force: bool = False) -> bool:
        """Write the queue; True when it is empty. Between failures, waits for the backoff unless `force`."""
        if not self._pending:
            return True
        if not force and self._clock() < self._retry_at:
            return False
        try:
            client = self._client or self._client_factory()
            self._client = client
            while self._pending:
                chunk = [self._pending[k] for k in range(min(FLUSH_CHUNK_ENTRIES, len(self._pending)))]
                pipe = client.pipeline(transaction=False)
                for stream, payload in chunk:
                    pipe.xadd(stream, {"d": payload}, maxlen=self.maxlen, approximate=True)
                pipe.execute()
                for _ in chunk:
                    self._pending.popleft()
                self.published += len(chunk)
        except redis.RedisError as exc:
            self._on_failure(exc)
            return False
        if self._failing:
            logger.info("simulator: Redis reachable again; backlog written", extra={"published": self.published})
        self._failing = False
        self._backoff = BACKOFF_INITIAL_SECONDS
        return True

    def _on_failure(self, exc: Exception) -> None:
        if not self._failing:
            logger.warning("simulator: cannot write to Redis; retrying with backoff",
                           extra={"error": repr(exc), "pending": len(self._pending)})
        self._failing = True
        self._retry_at = self._clock() + self._backoff
        self._backoff = min(self._backoff * 2, BACKOFF_MAX_SECONDS)
        # A fresh client next time: the old pool may hold half-broken connections.
        if self._client is not None:
            try:
                self._client.close()
            except redis.RedisError:
                logger.debug("simulator: closing the failed Redis client failed", exc_info=True)
        self._client = None
