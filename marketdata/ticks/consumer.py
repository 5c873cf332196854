"""The tick consumer loop: stream → bars in the database → last prices → XACK → live events.

One iteration (`step`): read a batch (own pending entries first after a start or a reconnect, then
idle entries of dead consumers, then new ones), process it, close the minutes that are due,
acknowledge batches whose rollup refresh completed. Processing a batch, in this order:

1. decode and validate (rejections counted and logged with the entry id);
2. drop ticks outside their exchange's session (counted);
3. aggregate to partial minute bars (numpy) and merge them into the database (one transaction);
4. invalidate the history cache of instruments with changed closed minutes (forming minutes:
   throttled, see `_cache_invalidations`), update the last-price hash;
5. XACK — only now, so an entry is never acknowledged before its ticks are durable. A batch that
   touched buckets older than the current one of a rollup is acknowledged after the refresh of that
   rollup, which runs on a thread of its own (rollup_refresh.py; a crash in between redelivers the
   batch, and the redelivery asks for the refresh again);
6. hand changed bars to the publisher (forming: throttled; closed minutes: at once).

Redis or database failures are retried with exponential backoff (the Django connection is closed
and reopened); nothing is acknowledged until the step that failed has succeeded.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, TypeVar

import numpy as np
import redis
from django.conf import settings
from django.db import DatabaseError, DataError, IntegrityError, connection
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_when_event_set,
    wait_exponential_jitter,
)

from marketdata.hooks import MinuteClosed
from marketdata.last_prices import write_last_prices
from marketdata.live import BarEvent, bar_event
from marketdata.ticks.aggregate import MinuteBars, aggregate
from marketdata.ticks.closing import HookRunner, MinuteCloser
from marketdata.ticks.decode import DecodedTicks, Reject, decode_entries
from marketdata.ticks.persist import (
    StoredBar,
    bars_at,
    fix_minute_volumes,
    invalidate,
    rollups_needing_refresh,
    write_bars,
)
from marketdata.ticks.publish import BarPublisher
from marketdata.ticks.rollup_refresh import RollupRefresher
from marketdata.ticks.sessions import in_session
from marketdata.ticks.stream import Entry, TickStream, consumer_name, entry_ms, stream_lag
from marketdata.ticks.tokens import TokenMap
from tradeviz.observability.metrics import (
    BARS_WRITTEN,
    INGEST_BATCH_SECONDS,
    MINUTES_CLOSED,
    TICK_CONSUMER_ERRORS,
    TICK_ENTRIES_READ,
    TICK_STREAM_LAG_SECONDS,
    TICK_STREAM_OLDEST_PENDING_SECONDS,
    TICK_STREAM_PENDING,
    TICK_STREAM_UNDELIVERED,
    TICKS_INGESTED,
    TICKS_OUT_OF_SESSION,
    TICKS_REJECTED,
)
from tradeviz.redis_client import get_redis

logger = logging.getLogger(__name__)

T = TypeVar("T")

MS_PER_MINUTE = 60_000
# Backoff between retries of a failing dependency: 0.1 s doubling to 5 s, with jitter.
BACKOFF_INITIAL_SECONDS = 0.1
BACKOFF_MAX_SECONDS = 5.0
# Refreshes for batches that touched closed rollup buckets are coalesced over this long.
ROLLUP_REFRESH_COALESCE_SECONDS = 0.5
# While a rollup refresh runs, the loop looks for its completion at least this often.
REFRESH_POLL_MS = 50
# Without ticks stamped past a minute's close, the minute closes once the stream has been empty
# this long (the feed stopped; e.g. the end of a session).
IDLE_CLOSE_SECONDS = 1.0
# How often to look for entries abandoned by dead consumers (XAUTOCLAIM).
CLAIM_INTERVAL_SECONDS = 5.0
# How often lag gauges are updated and dead consumers forgotten.
LAG_INTERVAL_SECONDS = 5.0
FORGET_CONSUMERS_INTERVAL_SECONDS = 600.0
FORGET_CONSUMER_IDLE_MS = 3_600_000
# Quote fields copied from a tick into the last-price hash when numeric.
QUOTE_FIELDS = ("bid", "ask", "bid_qty", "ask_qty", "volume", "oi")
# Depth levels kept per side in the last-price hash (the contract's book is 5 deep).
DEPTH_LEVELS = 5
DEPTH_LEVEL_FIELDS = 3  # price, quantity, orders
# Cached history of an instrument whose forming bar changes is invalidated at most this often.
CACHE_INVALIDATE_SECONDS = 1.0
REJECTED_BY_DATABASE = "db_rejected"
BLOCK_SHARE_OF_SOCKET_TIMEOUT = 0.5

REDIS_ERRORS = (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError)


class ConsumerStopped(Exception):
    """The consumer was asked to stop while a dependency was down; unacknowledged work is left pending."""


@dataclass(frozen=True)
class ConsumerConfig:
    stream: str
    group: str
    consumer: str
    batch_entries: int
    block_ms: int
    grace_ms: int
    publish_interval_ms: int
    claim_min_idle_ms: int
    max_future_ms: int

    @classmethod
    def from_settings(cls, **overrides: Any) -> ConsumerConfig:
        config = cls(
            stream=settings.TICK_STREAM,
            group=settings.TICK_CONSUMER_GROUP,
            consumer=consumer_name(),
            batch_entries=settings.TICK_BATCH_ENTRIES,
            block_ms=settings.TICK_BLOCK_MS,
            grace_ms=round(settings.TICK_GRACE_SECONDS * 1000),
            publish_interval_ms=settings.TICK_PUBLISH_INTERVAL_MS,
            claim_min_idle_ms=settings.TICK_CLAIM_MIN_IDLE_MS,
            max_future_ms=round(settings.TICK_MAX_FUTURE_SECONDS * 1000),
        )
        return replace(config, **{k: v for k, v in overrides.items() if v is not None})


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, REDIS_ERRORS):
        return True
    # DataError / IntegrityError come from the data itself: retrying cannot help (see _process).
    return isinstance(exc, DatabaseError) and not isinstance(exc, DataError | IntegrityError)


def _dependency(exc: BaseException | None) -> str:
    return "redis" if isinstance(exc, REDIS_ERRORS) else "database"


def _number(value: Any) -> bool:
    return type(value) in (int, float)


class TickConsumer:
    def __init__(
        self,
        config: ConsumerConfig,
        *,
        redis_client: Callable[[], redis.Redis] = get_redis,
        clock: Callable[[], float] = time.time,
        publisher: BarPublisher | None = None,
        hooks: HookRunner | None = None,
    ) -> None:
        self.config = config
        self._redis = redis_client
        self._clock = clock
        self.publisher = publisher if publisher is not None else BarPublisher(
            interval_ms=config.publish_interval_ms, wall_clock=clock
        )
        self.hooks = hooks if hooks is not None else HookRunner()
        self.tokens = TokenMap(redis_client=redis_client)
        self.closer = MinuteCloser(
            redis_client=redis_client, stream=config.stream, group=config.group, grace_ms=config.grace_ms
        )
        self.stream = TickStream(redis_client(), key=config.stream, group=config.group, consumer=config.consumer)
        self._stop = threading.Event()
        self._started = False
        # After a start or a Redis reconnect: re-read our own pending entries from this id on.
        self._own_pending_from: str | None = "0-0"
        self._next_claim = 0.0
        self._next_lag = 0.0
        self._next_forget = 0.0
        self._idle_since: float | None = None  # reads have returned nothing since (wall clock)
        self._read_up_to_ms = 0  # the time Redis added the newest entry read
        self._ticks_up_to_ms = 0  # the newest tick time read
        # Entries processed but held back until a rollup refresh (see module docstring, step 5).
        self.refresher = RollupRefresher(clock=clock, coalesce_seconds=ROLLUP_REFRESH_COALESCE_SECONDS)
        # The latest price written per instrument: (tick time, ltp), by instrument id.
        self._last_price: dict[int, tuple[int, float]] = {}
        self._redelivered = False
        self._cache_dirty: set[int] = set()
        self._cache_bumped: dict[int, float] = {}
        self.entries_acked = 0

    # --- lifecycle -------------------------------------------------------------------------------

    def stop(self) -> None:
        """Ask the loop to finish the current batch and exit (signal-handler safe)."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def start(self) -> None:
        if self._started:
            return
        self._retry("create the consumer group", self.stream.ensure_group)
        self._retry("load the token map", self.tokens.load)
        # A predecessor may have died between acknowledging and a throttled cache invalidation.
        self._retry("invalidate cached history", lambda: invalidate(list(self.tokens.by_id)))
        self.publisher.start()
        self.hooks.start()
        self.refresher.start()
        now_ms = self._now_ms()
        current = now_ms - now_ms % MS_PER_MINUTE
        # A predecessor may have died before closing these; the claim keeps it to one close each.
        self.closer.note(current - MS_PER_MINUTE)
        self.closer.note(current)
        self._started = True
        logger.info(
            "tick consumer started",
            extra={"stream": self.config.stream, "group": self.config.group, "consumer": self.config.consumer},
        )

    def run(self) -> None:
        """Consume until `stop()`; then flush, acknowledge, publish what is pending and return."""
        try:
            self.start()
            while not self._stop.is_set():
                self.step()
        except ConsumerStopped:
            logger.warning("tick consumer stopped during an outage; unacknowledged entries stay pending")
        finally:
            self.shutdown()

    def stop_threads(self) -> None:
        """Stop the publisher, hooks and rollup-refresh threads without acknowledging (tests)."""
        self.refresher.stop()
        self.publisher.stop()
        self.hooks.stop()

    def shutdown(self) -> None:
        try:
            self.refresher.stop()
            self._ack_refreshed()
        except ConsumerStopped:
            logger.warning("tick consumer: entries awaiting a rollup refresh left pending for redelivery")
        finally:
            self.publisher.stop()
            self.hooks.stop()
            connection.close()
            logger.info("tick consumer stopped", extra={"consumer": self.config.consumer})

    # --- one iteration ---------------------------------------------------------------------------

    def step(self) -> int:
        """Read and process one batch, refresh rollups, close due minutes; returns entries read."""
        self._refresh_tokens()
        self._redelivered = False
        entries = self._next_entries()
        if entries:
            self._process(entries)
        self._close_due_minutes()
        self._ack_refreshed()
        self._flush_cache_invalidations()
        self._housekeeping()
        return len(entries)

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def _refresh_tokens(self, *, now_please: bool = False) -> bool:
        try:
            return self.tokens.refresh_if_changed(now_please=now_please)
        except DatabaseError:
            logger.warning("tick consumer: token map reload failed; keeping the current one", exc_info=True)
            connection.close()
            return False

    def _block_ms(self) -> int:
        # Stay well inside the client's socket timeout, or every idle read would time out.
        block = min(self.config.block_ms, int(settings.REDIS_SOCKET_TIMEOUT * 1000 * BLOCK_SHARE_OF_SOCKET_TIMEOUT))
        next_close = self.closer.next_close_ms()
        if next_close is not None:
            block = min(block, next_close - self._now_ms())
        if self.refresher.busy():
            block = min(block, REFRESH_POLL_MS)
        return max(block, 1)

    def _next_entries(self) -> list[Entry]:
        count = self.config.batch_entries
        try:
            if self._own_pending_from is not None:
                after = self._own_pending_from
                held = self.refresher.holding()
                entries = [
                    e for e in self._retry("read own pending entries", lambda: self.stream.read_own_pending(count=count, after=after))
                    if e[0] not in held
                ]
                if entries:
                    self._own_pending_from = entries[-1][0].decode()
                    self._redelivered = True
                    TICK_ENTRIES_READ.labels(source="own_pending").inc(len(entries))
                    return entries
                self._own_pending_from = None
            if time.monotonic() >= self._next_claim:
                claimed = self._retry(
                    "reclaim idle entries",
                    lambda: self.stream.claim_idle(min_idle_ms=self.config.claim_min_idle_ms, count=count),
                )
                held = self.refresher.holding()
                claimed = [e for e in claimed if e[0] not in held]
                if self.stream.claim_cursor_wrapped() or not claimed:
                    self._next_claim = time.monotonic() + CLAIM_INTERVAL_SECONDS
                if claimed:
                    self._redelivered = True
                    logger.info("tick consumer: reclaimed idle entries", extra={"entries": len(claimed)})
                    TICK_ENTRIES_READ.labels(source="claimed").inc(len(claimed))
                    return claimed
            entries = self._retry(
                "read the tick stream", lambda: self.stream.read_new(count=count, block_ms=self._block_ms())
            )
        except redis.ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            # The stream or group vanished (Redis restarted without persistence, or it was deleted).
            logger.warning("tick consumer: consumer group missing; recreating it", extra={"stream": self.config.stream})
            self._retry("create the consumer group", self.stream.ensure_group)
            return []
        if not entries:
            if self._idle_since is None:
                self._idle_since = self._clock()
        else:
            self._idle_since = None
            self._read_up_to_ms = max(self._read_up_to_ms, entry_ms(entries[-1][0]))
            TICK_ENTRIES_READ.labels(source="new").inc(len(entries))
        return entries

    # --- a batch ---------------------------------------------------------------------------------

    def _process(self, entries: Sequence[Entry]) -> None:
        started = time.perf_counter()
        now_ms = self._now_ms()
        decoded = decode_entries(
            entries, token_ids=self.tokens.ids, now_ms=now_ms, max_future_ms=self.config.max_future_ms
        )
        if decoded.rejected.get(Reject.UNKNOWN_TOKEN) and self._refresh_tokens(now_please=True):
            # Instruments loaded a moment before their first ticks: decode again with them.
            decoded = decode_entries(
                entries, token_ids=self.tokens.ids, now_ms=now_ms, max_future_ms=self.config.max_future_ms
            )
        entry_ids = [entry_id for entry_id, _ in entries]
        try:
            ticks, bars, changed = self._retry("write bars", lambda: self._write(decoded))
        except (DataError, IntegrityError):
            self._process_one_by_one(entries)
            return
        # Counted once the batch is written (a retried or split batch is not counted twice).
        for reason, count in decoded.rejected.items():
            TICKS_REJECTED.labels(reason=str(reason)).inc(count)
        if len(ticks) < len(decoded):
            TICKS_OUT_OF_SESSION.inc(len(decoded) - len(ticks))
        needs_refresh = bool(len(bars)) and bool(
            rollups_needing_refresh(start_ms=int(bars.minute_ms.min()), now=datetime.fromtimestamp(now_ms / 1000, UTC))
        )
        invalidate_now = self._cache_invalidations(bars, changed, now_ms)
        quotes = self._quotes(decoded)
        by_minute = {
            minute: np.unique(bars.instrument_id[bars.minute_ms == minute]).tolist()
            for minute in np.unique(bars.minute_ms).tolist()
        }
        self._retry(
            "update Redis",
            lambda: self._after_write(invalidate_now, quotes, by_minute, [] if needs_refresh else entry_ids),
        )
        if needs_refresh:
            self.refresher.submit(
                start_ms=int(bars.minute_ms.min()), end_ms=int(bars.minute_ms.max()), entry_ids=entry_ids
            )
        TICKS_INGESTED.inc(len(ticks))
        BARS_WRITTEN.inc(len(changed))
        if len(ticks):
            self._ticks_up_to_ms = max(self._ticks_up_to_ms, int(ticks.ts.max()))
        self._publish_changed(bars, changed, now_ms)
        INGEST_BATCH_SECONDS.observe(time.perf_counter() - started)

    def _write(self, decoded: DecodedTicks) -> tuple[DecodedTicks, MinuteBars, dict[tuple[int, int], StoredBar]]:
        ticks = decoded
        if len(decoded):
            mask = in_session(decoded.instrument_id, decoded.ts, instruments=self.tokens.by_id)
            if not mask.all():
                ticks = decoded.take(mask)
        bars = aggregate(ticks)
        return ticks, bars, write_bars(bars)

    def _process_one_by_one(self, entries: Sequence[Entry]) -> None:
        """The database refused a batch for its data: find the entries responsible, keep the rest."""
        if len(entries) > 1:
            for entry in entries:
                self._process([entry])
            return
        entry_id = entries[0][0]
        logger.exception(
            "tick consumer: the database rejected a stream entry; acknowledging it as rejected",
            extra={"entry_id": entry_id.decode()},
        )
        TICKS_REJECTED.labels(reason=REJECTED_BY_DATABASE).inc()
        self._retry("acknowledge a rejected entry", lambda: self._ack([entry_id]))

    def _quotes(self, decoded: DecodedTicks) -> dict[int, dict[str, Any]]:
        """The last-price hash update: each instrument's latest tick in this batch, if inside its session
        and not older than the last one written (a late tick must not roll the price back)."""
        if not decoded.latest:
            return {}
        ids = np.fromiter(decoded.latest, dtype=np.int64, count=len(decoded.latest))
        stamps = np.fromiter((ts for ts, _ in decoded.latest.values()), dtype=np.int64, count=len(decoded.latest))
        open_now = in_session(ids, stamps, instruments=self.tokens.by_id)
        quotes: dict[int, dict[str, Any]] = {}
        for (instrument_id, (ts, tick)), in_hours in zip(decoded.latest.items(), open_now.tolist(), strict=True):
            info = self.tokens.by_id.get(instrument_id)
            if info is None or not in_hours or ts < self._last_price.get(instrument_id, (-1, 0.0))[0]:
                continue
            quote: dict[str, Any] = {"ltp": tick["ltp"], "ts": ts}
            for name in QUOTE_FIELDS:
                value = tick.get(name)
                if _number(value):
                    quote[name] = value
            depth = _depth(tick.get("depth"))
            if depth is not None:
                quote["depth"] = depth
            quotes[info.token] = quote
        return quotes

    def _cache_invalidations(
        self, bars: MinuteBars, changed: dict[tuple[int, int], StoredBar], now_ms: int
    ) -> set[int]:
        """Instruments whose cached history must be invalidated before the acknowledgement.

        Changes to minutes past their close (late ticks, catch-up), and everything a redelivered
        entry touched (its first attempt may have died before invalidating), go now. Changes to a
        forming minute are throttled to one bump per instrument per CACHE_INVALIDATE_SECONDS (charts
        follow the forming bar through live events; the close bumps again); a crash before the
        throttled bump is covered by the bump of every instrument at start.
        """
        urgent: set[int] = set()
        if self._redelivered and len(bars):
            urgent.update(np.unique(bars.instrument_id).tolist())
        for instrument_id, minute in changed:
            if now_ms >= self.closer.close_time_ms(minute):
                urgent.add(instrument_id)
            else:
                self._cache_dirty.add(instrument_id)
        return urgent | self._take_due_invalidations()

    def _take_due_invalidations(self) -> set[int]:
        if not self._cache_dirty:
            return set()
        now = time.monotonic()
        due = {i for i in self._cache_dirty if now - self._cache_bumped.get(i, -CACHE_INVALIDATE_SECONDS) >= CACHE_INVALIDATE_SECONDS}
        self._cache_dirty -= due
        return due

    def _flush_cache_invalidations(self) -> None:
        due = self._take_due_invalidations()
        if due:
            self._retry("invalidate cached history", lambda: self._invalidate(due))

    def _invalidate(self, instrument_ids: set[int]) -> None:
        invalidate(instrument_ids)
        now = time.monotonic()
        for instrument_id in instrument_ids:
            self._cache_bumped[instrument_id] = now
            self._cache_dirty.discard(instrument_id)

    def _after_write(
        self,
        invalidate_now: set[int],
        quotes: dict[int, dict[str, Any]],
        by_minute: dict[int, list[int]],
        ack_ids: list[bytes],
    ) -> None:
        if invalidate_now:
            self._invalidate(invalidate_now)
        if by_minute:
            pipe = self.stream.client.pipeline(transaction=False)
            self.closer.record(pipe, by_minute)
            pipe.execute()
        write_last_prices(quotes)
        ids = self.tokens.ids
        for token, quote in quotes.items():
            instrument_id = ids.get(token)
            if instrument_id is not None:
                self._last_price[instrument_id] = (quote["ts"], float(quote["ltp"]))
        self._ack(ack_ids)

    def _ack(self, ids: list[bytes]) -> None:
        if not ids:
            return
        try:
            self.entries_acked += self.stream.ack(ids)
        except redis.ResponseError:
            # NOGROUP: the group is gone (Redis lost its data), so nothing of ours is pending in it.
            logger.warning("tick consumer: XACK refused", exc_info=True, extra={"entries": len(ids)})

    def _ack_refreshed(self) -> None:
        """Acknowledge the entries whose rollup refresh has completed."""
        refreshed = self.refresher.take_done()
        if refreshed:
            self._retry("acknowledge", lambda: self._ack(refreshed))

    # --- publishing and closing ------------------------------------------------------------------

    def _event(self, bar: StoredBar, *, closed: bool) -> BarEvent | None:
        """The live event of a stored bar. `ltp`/`ts` are the instrument's latest price and its tick
        time — from this consumer's last-price writes when at least as recent as the bar's last
        tick (so a late tick's corrected bar never rolls the live price back), else the bar's close."""
        info = self.tokens.by_id.get(bar.instrument_id)
        if info is None:
            return None
        ts = bar.last_tick_ms if bar.last_tick_ms is not None else bar.minute_ms
        ltp = bar.close
        latest = self._last_price.get(bar.instrument_id)
        if latest is not None and latest[0] >= ts:
            ts, ltp = latest
        return bar_event(
            instrument_id=bar.instrument_id,
            token=info.token,
            symbol=info.symbol,
            t=bar.minute_ms // 1000,
            o=bar.open,
            h=bar.high,
            l=bar.low,
            c=bar.close,
            v=bar.volume,
            oi=bar.oi,
            closed=closed,
            ltp=ltp,
            ts=ts,
        )

    def _events(self, bars: Iterable[StoredBar], *, closed: bool) -> list[BarEvent]:
        return [e for e in (self._event(bar, closed=closed) for bar in bars) if e is not None]

    def _publish_changed(self, bars: MinuteBars, changed: dict[tuple[int, int], StoredBar], now_ms: int) -> None:
        for minute in np.unique(bars.minute_ms).tolist():
            self.closer.note(minute)
        events: list[BarEvent] = []
        for key, bar in changed.items():
            minute = bar.minute_ms
            if self.closer.is_closed(minute):
                event = self._event(bar, closed=True)  # a late tick for a minute already closed
            elif now_ms >= self.closer.close_time_ms(minute):
                self.closer.defer(minute, key, bar)  # published by whoever closes the minute
                continue
            else:
                event = self._event(bar, closed=False)
            if event is not None:
                events.append(event)
        if events:
            self.publisher.offer(events)

    def _close_due_minutes(self) -> None:
        read_up_to = min(self._read_up_to_ms, self._ticks_up_to_ms)
        # Idle means the feed has stopped, not that we caught up for a moment: a producer that
        # stalls for a few hundred ms must not have its minute's last ticks arrive after the close.
        idle = self._idle_since is not None and self._clock() - self._idle_since >= IDLE_CLOSE_SECONDS
        for minute in self.closer.due(now_ms=self._now_ms(), read_up_to_ms=read_up_to, idle=idle):
            self._close_minute(minute)

    def _close_minute(self, minute: int) -> None:
        claimed, instrument_ids = self._retry("claim a minute", lambda: self.closer.claim(minute))
        if not claimed:
            # Another consumer (or our predecessor) closed it; publish our own changes made since.
            deferred = self.closer.mark_closed(minute)
            if deferred:
                self.publisher.offer(self._events(deferred.values(), closed=True))
            return
        stored: list[StoredBar] = []
        if instrument_ids:
            stored = self._retry("read the minute's bars", lambda: bars_at(minute, instrument_ids))
        self.closer.mark_closed(minute)
        events = self._events(stored, closed=True)
        if events:
            self.publisher.offer(events)  # first: the volume check below rarely changes anything
            corrected = self._retry("check the minute's volumes", lambda: fix_minute_volumes(minute, instrument_ids))
            if corrected:
                self.publisher.offer(self._events(corrected, closed=True))
                stored = [*stored, *corrected]
        if stored:
            self._retry("invalidate cached history", lambda: self._invalidate({bar.instrument_id for bar in stored}))
        self._retry("forget the minute's instruments", lambda: self.closer.forget_instruments(minute))
        MINUTES_CLOSED.inc()
        if stored:
            self.hooks.submit(MinuteClosed(
                minute=datetime.fromtimestamp(minute / 1000, UTC),
                instrument_ids=sorted({bar.instrument_id for bar in stored}),
            ))
        logger.info(
            "minute closed",
            extra={"minute": datetime.fromtimestamp(minute / 1000, UTC).isoformat(), "bars": len(stored),
                   "close_lag_ms": self._now_ms() - minute - MS_PER_MINUTE},
        )

    # --- housekeeping and retries ----------------------------------------------------------------

    def _housekeeping(self) -> None:
        now = time.monotonic()
        if now >= self._next_lag:
            self._next_lag = now + LAG_INTERVAL_SECONDS
            try:
                lag = stream_lag(self.stream.client, key=self.config.stream, group=self.config.group)
            except redis.RedisError:
                lag = None
            if lag is not None:
                TICK_STREAM_PENDING.set(lag.pending)
                TICK_STREAM_UNDELIVERED.set(lag.undelivered or 0)
                TICK_STREAM_OLDEST_PENDING_SECONDS.set(lag.oldest_pending_seconds)
                TICK_STREAM_LAG_SECONDS.set(lag.lag_seconds)
        if now >= self._next_forget:
            self._next_forget = now + FORGET_CONSUMERS_INTERVAL_SECONDS
            try:
                removed = self.stream.remove_idle_consumers(idle_ms=FORGET_CONSUMER_IDLE_MS)
            except redis.RedisError:
                removed = []
            if removed:
                logger.info("tick consumer: forgot idle consumers", extra={"consumers": removed})

    def _retry(self, what: str, fn: Callable[[], T]) -> T:
        """Run `fn`, retrying Redis and database outages with backoff until it succeeds or we stop."""
        retrying = Retrying(
            retry=retry_if_exception(_retryable),
            wait=wait_exponential_jitter(
                multiplier=BACKOFF_INITIAL_SECONDS, max=BACKOFF_MAX_SECONDS, jitter=BACKOFF_INITIAL_SECONDS
            ),
            stop=stop_when_event_set(self._stop),
            sleep=self._sleep,
            before_sleep=lambda state: self._before_retry(what, state),
            retry_error_callback=lambda state: self._give_up(what, state),
        )
        return retrying(fn)

    def _sleep(self, seconds: float) -> None:
        self._stop.wait(seconds)  # a stop request ends the backoff at once

    def _before_retry(self, what: str, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        dependency = _dependency(exc)
        TICK_CONSUMER_ERRORS.labels(dependency=dependency).inc()
        if dependency == "database":
            # The connection may be broken (server restart); Django opens a new one on next use.
            connection.close()
        else:
            # A reply lost with the connection may have delivered entries to us that we never saw:
            # re-read our own pending entries once Redis is back.
            self._own_pending_from = "0-0"
        log = logger.warning if state.attempt_number == 1 or state.attempt_number % 20 == 0 else logger.debug
        log(
            "tick consumer: %s failed; retrying", what,
            extra={"dependency": dependency, "attempt": state.attempt_number, "error": repr(exc)},
        )

    def _give_up(self, what: str, state: RetryCallState) -> Any:
        raise ConsumerStopped(f"stopped while trying to {what}")


def _depth(raw: Any) -> dict[str, list[list[float]]] | None:
    """The tick's order book, kept only when it is well formed: {"buy"|"sell": [[price, qty, orders]]}."""
    if not isinstance(raw, dict):
        return None
    book: dict[str, list[list[float]]] = {}
    for side in ("buy", "sell"):
        levels = raw.get(side) or []
        if not isinstance(levels, list):
            return None
        clean = [
            list(level[:DEPTH_LEVEL_FIELDS])
            for level in levels[:DEPTH_LEVELS]
            if isinstance(level, list | tuple) and len(level) >= 2 and all(_number(v) for v in level[:DEPTH_LEVEL_FIELDS])
        ]
        book[side] = clean
    return book if book["buy"] or book["sell"] else None
