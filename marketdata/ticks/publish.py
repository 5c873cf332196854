"""Live bar events to the channel layer (the contract of marketdata/live.py), off the ingest path.

The consumer hands events over without waiting; a thread of its own runs an asyncio loop with the
channel layer's connections and sends them concurrently. Nothing queues without bound: pending
events are kept per (instrument, minute), the newest replacing older ones (conflation). Closed
bars go first; forming bars at most once per instrument per `interval_ms`.

Only groups somebody joined are sent to. Thousands of instruments tick while clients watch a few,
and a group_send costs several Redis round trips even to an empty group, so which groups have
members is looked up (one pipelined ZCARD per group) every SUBSCRIBERS_REFRESH_SECONDS. A group
found newly joined gets the instrument's latest closed and forming bars at once, so a subscriber
never misses the close of the minute it joined in.

Live events are best effort — a failed send is logged and dropped, the next update supersedes it,
and the database (UDF history) stays the source of truth.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from channels.exceptions import ChannelFull
from channels.layers import get_channel_layer
from channels_redis.core import RedisChannelLayer

from marketdata.live import BarEvent, bar_group
from tradeviz.observability.metrics import BAR_CLOSE_PUBLISH_SECONDS, BARS_PUBLISHED

logger = logging.getLogger(__name__)

# Concurrent group_send calls: enough to hide Redis round trips, below the layer's pool size.
SEND_CONCURRENCY = 32
# How often the thread looks for forming bars whose throttle interval has passed.
POLL_SECONDS = 0.02
# Events sent per round: a closed bar offered meanwhile waits for at most one round.
MAX_ROUND_EVENTS = 128
SUBSCRIBERS_REFRESH_SECONDS = 1.0
STOP_TIMEOUT_SECONDS = 5.0
# Failures are logged at most this often (a Redis outage would otherwise log every event).
FAILURE_LOG_INTERVAL_SECONDS = 10.0
MS_PER_MINUTE = 60_000

Key = tuple[int, int]  # (instrument_id, minute open in UTC seconds)


class BarPublisher:
    def __init__(
        self,
        *,
        interval_ms: int,
        layer_alias: str = "default",
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._interval = interval_ms / 1000
        self._alias = layer_alias
        self._wall_clock = wall_clock
        self._lock = threading.Lock()
        self._closed: dict[Key, BarEvent] = {}
        self._forming: dict[Key, BarEvent] = {}
        self._last_forming_sent: dict[int, float] = {}
        # The latest closed and forming event per instrument, replayed to a newly joined group.
        self._last_closed: dict[int, BarEvent] = {}
        self._last_forming: dict[int, BarEvent] = {}
        # Instruments whose group has members; None: unknown (not a Redis layer) — send everything.
        self._subscribed: set[int] | None = set()
        self._next_lookup = 0.0
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._stopping = False
        self._last_failure_log = 0.0
        self.sent = 0

    # --- called from the consumer thread ---------------------------------------------------------

    def start(self) -> None:
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), name="tick-publisher", daemon=True)
        self._thread.start()
        ready.wait(STOP_TIMEOUT_SECONDS)

    def offer(self, events: Iterable[BarEvent]) -> None:
        """Queue events (closed or forming, as each says); returns at once."""
        urgent = False
        with self._lock:
            for event in events:
                instrument_id = event["instrument_id"]
                key = (instrument_id, event["t"])
                if event["closed"]:
                    self._closed[key] = event
                    self._forming.pop(key, None)
                    last = self._last_closed.get(instrument_id)
                    if last is None or last["t"] <= event["t"]:
                        self._last_closed[instrument_id] = event
                    urgent = True
                else:
                    self._forming[key] = event
                    last = self._last_forming.get(instrument_id)
                    if last is None or last["t"] <= event["t"]:
                        self._last_forming[instrument_id] = event
        if urgent:
            self._wakeup()

    def pending(self) -> int:
        with self._lock:
            return len(self._closed) + len(self._forming)

    def stop(self, timeout: float = STOP_TIMEOUT_SECONDS) -> None:
        """Send what is pending (closed bars, and forming bars regardless of throttling), then stop."""
        self._stopping = True
        self._wakeup()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                logger.warning("tick publisher did not drain in time", extra={"pending": self.pending()})

    def _wakeup(self) -> None:
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed in between
                loop.call_soon_threadsafe(wake.set)

    # --- the publisher thread --------------------------------------------------------------------

    def _run(self, ready: threading.Event) -> None:
        asyncio.run(self._main(ready))

    async def _main(self, ready: threading.Event) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        layer = get_channel_layer(self._alias)
        ready.set()
        if layer is None:
            logger.error("tick publisher: no channel layer configured; live bars are not published")
            return
        if not isinstance(layer, RedisChannelLayer):
            self._subscribed = None
        semaphore = asyncio.Semaphore(SEND_CONCURRENCY)
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=POLL_SECONDS)
            self._wake.clear()
            stopping = self._stopping
            due = self._take_due(flush=stopping)
            if due:
                await asyncio.gather(*(self._send(layer, semaphore, event) for event in due))
                if len(due) >= MAX_ROUND_EVENTS:
                    self._wake.set()  # more may be waiting: no poll delay before the next round
            # After sending, so that closed bars offered meanwhile never wait for the lookup.
            if self._subscribed is not None and time.monotonic() >= self._next_lookup:
                self._next_lookup = time.monotonic() + SUBSCRIBERS_REFRESH_SECONDS
                if await self._refresh_subscribers(layer):
                    self._wake.set()  # replay to the newly joined groups right away
            if stopping and not self.pending():
                return

    async def _refresh_subscribers(self, layer: RedisChannelLayer) -> bool:
        """Look up which groups have members; True when some were newly joined (replays queued)."""
        with self._lock:
            known = set(self._last_closed) | set(self._last_forming)
        if not known:
            return False
        # channels_redis keeps a group's members in a sorted set at layer._group_key(group), on the
        # shard chosen by consistent_hash(group) — the same lookups its group_send does.
        by_shard: dict[int, list[tuple[int, bytes]]] = defaultdict(list)
        for instrument_id in known:
            group = bar_group(instrument_id)
            by_shard[layer.consistent_hash(group)].append((instrument_id, layer._group_key(group)))
        subscribed: set[int] = set()
        try:
            for shard, members in by_shard.items():
                pipe = layer.connection(shard).pipeline(transaction=False)
                for _, key in members:
                    pipe.zcard(key)
                counts = await pipe.execute()
                subscribed.update(i for (i, _), count in zip(members, counts, strict=True) if count)
        except Exception:
            self._log_failure("tick publisher: cannot look up subscribed groups; keeping the last known")
            return False
        with self._lock:
            joined = subscribed - (self._subscribed or set())
            self._subscribed = subscribed
            for instrument_id in joined:
                closed = self._last_closed.get(instrument_id)
                forming = self._last_forming.get(instrument_id)
                if closed is not None:
                    self._closed.setdefault((instrument_id, closed["t"]), closed)
                if forming is not None and (closed is None or forming["t"] > closed["t"]):
                    self._forming.setdefault((instrument_id, forming["t"]), forming)
        return bool(joined)

    def _take_due(self, *, flush: bool) -> list[BarEvent]:
        """Up to MAX_ROUND_EVENTS events for subscribed groups: closed bars first (oldest offered
        first), then forming bars whose instrument's interval has passed. Events for groups without
        members are dropped here."""
        now = time.monotonic()
        due: list[BarEvent] = []
        subscribed = self._subscribed
        with self._lock:
            while self._closed and len(due) < MAX_ROUND_EVENTS:
                event = self._closed.pop(next(iter(self._closed)))
                if subscribed is None or event["instrument_id"] in subscribed:
                    due.append(event)
            if self._forming and len(due) < MAX_ROUND_EVENTS:
                for key in list(self._forming):
                    if len(due) >= MAX_ROUND_EVENTS:
                        break
                    if subscribed is not None and key[0] not in subscribed:
                        del self._forming[key]
                    elif flush or now - self._last_forming_sent.get(key[0], -self._interval) >= self._interval:
                        due.append(self._forming.pop(key))
                        self._last_forming_sent[key[0]] = now
        return due

    async def _send(self, layer: Any, semaphore: asyncio.Semaphore, event: BarEvent) -> None:
        async with semaphore:
            try:
                await layer.group_send(bar_group(event["instrument_id"]), event)
            except ChannelFull:
                pass  # a subscriber that does not read; its consumer conflates on its side
            except Exception:
                self._log_failure("tick publisher: group_send failed; dropping live events")
                return
        self.sent += 1
        if event["closed"]:
            BARS_PUBLISHED.labels(state="closed").inc()
            minute_end = (event["t"] * 1000 + MS_PER_MINUTE) / 1000
            BAR_CLOSE_PUBLISH_SECONDS.observe(max(self._wall_clock() - minute_end, 0.0))
        else:
            BARS_PUBLISHED.labels(state="forming").inc()

    def _log_failure(self, message: str) -> None:
        now = time.monotonic()
        if now - self._last_failure_log > FAILURE_LOG_INTERVAL_SECONDS:
            self._last_failure_log = now
            logger.warning(message, exc_info=True)
