"""A per-connection outbox that keeps only the latest message per key: slow clients never queue.

A WebSocket consumer reads the channel layer and the client on one task; if it also awaited the
socket for every update, one client that reads slowly would hold its own channel-layer backlog
(and, through the layer's bounded buffers, drop updates at random). Instead every update is
`put` under a key (for a bar stream: the subscription and the bar's time), overwriting whatever
was still waiting under that key, and one sender task per connection drains the outbox in the
order the keys were first queued. The memory a connection can hold is bounded by its number of
keys, whatever the update rate, and a client that reads slowly gets the newest state of each key
instead of a backlog.

Control replies (`subscribed`, `error`, ...) use `put_unique`, so they are never overwritten and
keep their order relative to the updates around them.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable, Hashable

logger = logging.getLogger(__name__)

# A safety net against a stream that invents keys without bound (a bug, or a client flooding
# requests without reading replies): past this many waiting messages the oldest is dropped.
DEFAULT_MAX_PENDING = 1000


class ConflatingOutbox:
    """Latest message per key, sent by one task in first-queued order.

    `send` is awaited once per message; while it waits (a slow client), `put` keeps overwriting.
    """

    def __init__(
        self, send: Callable[[str], Awaitable[None]], *, max_pending: int = DEFAULT_MAX_PENDING
    ) -> None:
        self._send = send
        self._max_pending = max_pending
        self._pending: dict[Hashable, str] = {}
        self._ready = asyncio.Event()
        self._unique = itertools.count()
        self._closed = False
        self.sent = 0
        self.conflated = 0
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._pending)

    def put(self, key: Hashable, text: str) -> None:
        """Queue `text` under `key`, replacing a message still waiting under the same key."""
        if self._closed:
            return
        pending = self._pending
        if key in pending:
            self.conflated += 1
        elif len(pending) >= self._max_pending:
            oldest = next(iter(pending))
            del pending[oldest]
            self.dropped += 1
            if self.dropped == 1:
                logger.warning("WebSocket outbox full (%d messages); dropping the oldest", self._max_pending)
        pending[key] = text
        self._ready.set()

    def put_unique(self, text: str) -> None:
        """Queue a message that no later one may replace (replies, errors)."""
        self.put(("__unique__", next(self._unique)), text)

    def discard(self, key: Hashable) -> None:
        """Forget a message still waiting under `key` (no-op once it has been sent)."""
        self._pending.pop(key, None)

    def discard_where(self, predicate: Callable[[Hashable], bool]) -> None:
        """Forget every waiting message whose key matches (an unsubscribed stream's updates)."""
        for key in [k for k in self._pending if predicate(k)]:
            del self._pending[key]

    def close(self) -> None:
        self._closed = True
        self._pending.clear()
        self._ready.set()

    async def run(self) -> None:
        """The sender loop: until closed, send whatever is waiting, oldest key first.

        The waiting messages are taken as one batch, so `put` during a slow send starts a new batch
        (and conflates into it) instead of growing this one.
        """
        while not self._closed:
            await self._ready.wait()
            self._ready.clear()
            while self._pending and not self._closed:
                batch, self._pending = self._pending, {}
                for text in batch.values():
                    if self._closed:
                        return
                    await self._send(text)
                    self.sent += 1
