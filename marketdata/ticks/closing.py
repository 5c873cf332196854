"""When minutes close, and what happens then — once, even with several consumers in the group.

A minute closes when the wall clock passes its end plus the grace window, and the consumer has
read (and processed) every entry Redis received until then — it has read an entry added at or past
that moment (entry id) with a tick stamped at or past it, or found the stream empty for
IDLE_CLOSE_SECONDS (the feed stopped). During a catch-up the second condition holds the close back
until the backlog is behind it; a producer that stalls holds it back until it sends again. The first consumer to claim
the minute in Redis (SET NX) closes it: it fixes the minute's volumes, publishes the minute's bars
from the database as closed (every consumer of the group records the instruments it wrote for the
minute in a Redis set, so bars written by the others are included), and hands `MinuteClosed` to
the hooks thread. Consumers that lose the claim publish their own late changes instead.

Hooks run on a thread of their own, in minute order, so a slow hook never holds up ingestion.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

import redis
from django.db import close_old_connections, connections

from marketdata.hooks import MinuteClosed, run_minute_close_hooks
from marketdata.ticks.persist import StoredBar

logger = logging.getLogger(__name__)

MS_PER_MINUTE = 60_000
CLAIM_KEY = "tv:ticks:closed:{stream}:{group}:{minute_ms}"
# The instruments with bars in a minute, added by every consumer of the group before it
# acknowledges: the closer reads them with primary-key lookups instead of scanning a minute of the
# bar table for all instruments.
MINUTE_INSTRUMENTS_KEY = "tv:ticks:minute:{stream}:{group}:{minute_ms}"
# Long enough that a replay of yesterday's ticks does not run yesterday's hooks again.
CLAIM_TTL_SECONDS = 3 * 86_400
# A minute's instrument set is deleted once the minute closes; this bounds the ones never closed.
MINUTE_SET_TTL_SECONDS = 3_600
# Minutes this process closed, remembered so late ticks for them are published as closed at once.
REMEMBER_CLOSED_MS = 86_400_000
HOOKS_STOP_TIMEOUT_SECONDS = 30.0

Key = tuple[int, int]


class MinuteCloser:
    """Book-keeping of the minutes this consumer wrote and has yet to see closed."""

    def __init__(self, *, redis_client: Callable[[], redis.Redis], stream: str, group: str, grace_ms: int) -> None:
        self._redis = redis_client
        self._stream = stream
        self._group = group
        self.grace_ms = grace_ms
        self.open: set[int] = set()
        self._closed: dict[int, None] = {}
        # Changed bars of minutes past their close time but not yet closed here: published as closed
        # by whoever closes the minute, or by us if another consumer already did.
        self.deferred: dict[int, dict[Key, StoredBar]] = {}

    def close_time_ms(self, minute_ms: int) -> int:
        return minute_ms + MS_PER_MINUTE + self.grace_ms

    def is_closed(self, minute_ms: int) -> bool:
        return minute_ms in self._closed

    def note(self, minute_ms: int) -> None:
        if minute_ms not in self._closed:
            self.open.add(minute_ms)

    def defer(self, minute_ms: int, key: Key, bar: StoredBar) -> None:
        self.deferred.setdefault(minute_ms, {})[key] = bar

    def due(self, *, now_ms: int, read_up_to_ms: int, idle: bool) -> list[int]:
        """Open minutes that may close now, oldest first (`read_up_to_ms`: the newest entry id's time)."""
        return sorted(
            m for m in self.open
            if self.close_time_ms(m) <= now_ms and (idle or self.close_time_ms(m) <= read_up_to_ms)
        )

    def next_close_ms(self) -> int | None:
        return min((self.close_time_ms(m) for m in self.open), default=None)

    def record(self, pipe: redis.client.Pipeline, instruments_by_minute: dict[int, list[int]]) -> None:
        """Queue, on `pipe`, the additions to the per-minute instrument sets."""
        for minute_ms, instrument_ids in instruments_by_minute.items():
            key = MINUTE_INSTRUMENTS_KEY.format(stream=self._stream, group=self._group, minute_ms=minute_ms)
            pipe.sadd(key, *instrument_ids)
            pipe.expire(key, MINUTE_SET_TTL_SECONDS)

    def forget_instruments(self, minute_ms: int) -> None:
        self._redis().delete(MINUTE_INSTRUMENTS_KEY.format(stream=self._stream, group=self._group, minute_ms=minute_ms))

    def claim(self, minute_ms: int) -> tuple[bool, list[int]]:
        """Whether this consumer is the one to close the minute, and the minute's instruments (one
        round trip; raises on Redis errors)."""
        pipe = self._redis().pipeline(transaction=False)
        pipe.set(CLAIM_KEY.format(stream=self._stream, group=self._group, minute_ms=minute_ms), "1", nx=True,
                 ex=CLAIM_TTL_SECONDS)
        pipe.smembers(MINUTE_INSTRUMENTS_KEY.format(stream=self._stream, group=self._group, minute_ms=minute_ms))
        claimed, members = pipe.execute()
        return bool(claimed), sorted(int(member) for member in members)

    def mark_closed(self, minute_ms: int) -> dict[Key, StoredBar]:
        """Record the minute as closed; returns (and forgets) its deferred bars."""
        self.open.discard(minute_ms)
        self._closed[minute_ms] = None
        horizon = minute_ms - REMEMBER_CLOSED_MS
        while self._closed:
            oldest = next(iter(self._closed))
            if oldest >= horizon:
                break
            del self._closed[oldest]
        return self.deferred.pop(minute_ms, {})


class HookRunner:
    """Runs minute-close hooks on a thread of its own, one minute at a time, in order."""

    def __init__(self) -> None:
        self._queue: queue.Queue[MinuteClosed | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="minute-hooks", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def submit(self, event: MinuteClosed) -> None:
        self._queue.put(event)

    def join_pending(self) -> None:
        """Wait until every submitted minute has run (tests)."""
        self._queue.join()

    def stop(self, timeout: float = HOOKS_STOP_TIMEOUT_SECONDS) -> None:
        """Run what was submitted, then stop."""
        if not self._thread.is_alive():
            return
        self._queue.put(None)
        self._thread.join(timeout)
        if self._thread.is_alive():
            logger.warning("minute-close hooks did not finish in time", extra={"pending": self._queue.qsize()})

    def _run(self) -> None:
        while True:
            event = self._queue.get()
            try:
                if event is None:
                    connections.close_all()  # this thread's connections (hooks use the ORM)
                    return
                close_old_connections()
                run_minute_close_hooks(event)
            except Exception:
                logger.exception("minute-close hooks failed", extra={"minute": event and event.minute.isoformat()})
            finally:
                self._queue.task_done()
