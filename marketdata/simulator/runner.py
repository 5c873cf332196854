"""The simulator's I/O loop: the live market (ticks, order updates, HTTP) and the replay of a stored day.

The clock is a grid of batches aligned to the minute. Batch k covers [start + k·batch, start +
(k+1)·batch); the loop waits until that window has passed, asks the session gate which calendars
are open, lets the engine produce the batch's ticks and publishes them as one stream entry. If the
loop falls far behind (a suspended laptop), it skips ahead instead of replaying the gap at full speed.
Redis trouble never blocks the clock: the publisher queues and retries with backoff.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any

import orjson
import redis
from django.conf import settings
from django.db import close_old_connections, connection, connections

from marketdata.calendar import market_date
from marketdata.demo import refresh_demo_instruments
from marketdata.simulator import store
from marketdata.simulator.engine import StartPoint, TickEngine
from marketdata.simulator.minutes import MinuteBook
from marketdata.simulator.model import MS_PER_MINUTE, ist_day
from marketdata.simulator.orders import OrderSimulator
from marketdata.simulator.publisher import StreamPublisher
from marketdata.simulator.replay import DEFAULT_TICKS_PER_BAR, replay_ticks, wall_offsets_ms
from marketdata.simulator.server import TickerHttpServer, TickerState
from marketdata.simulator.sessions import SessionGate
from marketdata.simulator.universe import INDEX, Listing, Universe, build_universe

logger = logging.getLogger(__name__)

# Further behind than this, the loop jumps to the present instead of catching up.
MAX_CATCH_UP_MS = 5_000
STATS_INTERVAL_MS = 60_000
# /history keeps the simulator's own bars this long; older minutes come from the database.
MINUTE_BOOK_RETENTION_MINUTES = 3 * 24 * 60
REPLAY_BATCH_MS = 100
MAX_TICKS_PER_ENTRY = 1_000
# The most entries queued while Redis is down (about twenty minutes at the default five a second).
MAX_PENDING_ENTRIES = 6_000


@dataclass(frozen=True)
class SimulatorConfig:
    seed: int
    ticks_per_second: float
    batch_ms: int
    tick_stream: str
    order_stream: str
    stream_maxlen: int
    http_host: str
    http_port: int | None  # None: no HTTP server
    order_interval_seconds: float  # 0: no order updates
    account: str
    duration_seconds: float | None = None  # stop after this long (tests, demos)

    @classmethod
    def from_settings(cls, **overrides: Any) -> SimulatorConfig:
        config = cls(
            seed=settings.SIMULATOR_SEED,
            ticks_per_second=settings.SIMULATOR_TICKS_PER_SECOND,
            batch_ms=settings.SIMULATOR_BATCH_MS,
            tick_stream=settings.TICK_STREAM,
            order_stream=settings.ORDER_STREAM,
            stream_maxlen=settings.SIMULATOR_STREAM_MAXLEN,
            http_host=settings.SIMULATOR_HTTP_HOST,
            http_port=settings.SIMULATOR_HTTP_PORT,
            order_interval_seconds=settings.SIMULATOR_ORDER_INTERVAL_SECONDS,
            account=settings.SIMULATOR_ACCOUNT_ID,
        )
        return replace(config, **{k: v for k, v in overrides.items() if v is not None})


def redis_client_factory() -> Callable[[], redis.Redis]:
    """Clients without redis-py's own retries: the publisher's backoff decides when to try again."""
    def connect() -> redis.Redis:
        return redis.Redis.from_url(
            settings.REDIS_URL,
            socket_timeout=settings.REDIS_SOCKET_TIMEOUT,
            socket_connect_timeout=settings.REDIS_SOCKET_TIMEOUT,
        )
    return connect


def _fresh_db_connection() -> None:
    """Drop a connection the database closed while the loop ran for hours (as request handling does).
    Inside a transaction (tests wrap everything in one) the connection is the transaction's: keep it."""
    if not connection.in_atomic_block:
        close_old_connections()


def _now_ms() -> int:
    return int(time.time() * 1000)


def _stored_history(token: int, start_ms: int, end_ms: int) -> list[list[Any]]:
    """Database bars for an HTTP thread; the thread's connection is closed after each request."""
    try:
        return store.stored_history(token, start_ms, end_ms)
    finally:
        connections.close_all()


class LiveSimulator:
    """The live market: call `run()` in the main thread; set `stop` to end it."""

    def __init__(self, config: SimulatorConfig, *, stop: threading.Event,
                 publisher: StreamPublisher | None = None, clock: Callable[[], int] = _now_ms) -> None:
        self.config = config
        self.stop = stop
        self.clock = clock
        self.publisher = publisher or StreamPublisher(
            redis_client_factory(), maxlen=config.stream_maxlen, max_pending=MAX_PENDING_ENTRIES
        )
        now = clock()
        self.start_ms = now - now % config.batch_ms
        self.universe, points = self._load_universe(self.start_ms)
        self.engine = TickEngine(self.universe, seed=config.seed, start_ms=self.start_ms,
                                 ticks_per_second=config.ticks_per_second, batch_ms=config.batch_ms,
                                 start_points=points)
        self.gate = SessionGate(self.universe.calendars | {"NSE", "SIM"})
        self.orders = OrderSimulator(self.universe, account=config.account, seed=config.seed, start_ms=self.start_ms)
        self.book = MinuteBook(retention_minutes=MINUTE_BOOK_RETENTION_MINUTES, cumulative={
            token: (ist_day(point.ts_ms), point.day_volume) for token, point in points.items()
        })
        self.state = TickerState(self.universe, self.engine.last_prices(), self.book)
        self.http: TickerHttpServer | None = None
        if config.http_port is not None:
            self.http = TickerHttpServer(host=config.http_host, port=config.http_port, state=self.state,
                                         stored_history=_stored_history)
        self._listing_day = market_date(_instant(self.start_ms))
        self.ticks_published = 0
        self.orders_published = 0
        self.batches = 0

    def _load_universe(self, now_ms: int) -> tuple[Universe, dict[int, StartPoint]]:
        """List the demo contracts current today, then read where every instrument starts."""
        _fresh_db_connection()
        now = _instant(now_ms)
        spots = store.latest_index_prices()
        changed = refresh_demo_instruments(now=now, spots=spots)
        if changed:
            logger.info("simulator: demo instruments listed", extra={"instruments_changed": changed})
        listings = store.demo_listings(today=market_date(now))
        universe = build_universe(listings, spots=spots, as_of_ms=now_ms)
        points = store.start_points(universe.tokens)
        return universe, points

    def _relist(self, now_ms: int) -> None:
        """A new IST date: list the day's contracts and let expired ones go (as a broker's daily master)."""
        spots = {p.token: self.engine.spot(p.token) for p in self.universe.paths if p.market is None}
        _fresh_db_connection()
        refresh_demo_instruments(now=_instant(now_ms), spots=spots)
        listings = store.demo_listings(today=market_date(_instant(now_ms)))
        universe = build_universe(listings, spots=spots, as_of_ms=now_ms)
        known = set(self.universe.tokens)
        points = store.start_points([t for t in universe.tokens if t not in known])
        self.universe = universe
        self.engine.set_universe(universe, points)
        self.orders.set_universe(universe)
        self.state.set_universe(universe, self.engine.last_prices())
        logger.info("simulator: relisted for the new date", extra={"instruments": len(universe.instruments)})

    def run(self) -> None:
        config = self.config
        logger.info(
            "simulator: starting",
            extra={"seed": config.seed, "ticks_per_second": config.ticks_per_second, "batch_ms": config.batch_ms,
                   "tick_stream": config.tick_stream, "order_stream": config.order_stream,
                   "instruments": len(self.universe.instruments), "account": config.account},
        )
        if self.http is not None:
            self.http.start()
        deadline = (self.start_ms + config.duration_seconds * 1000) if config.duration_seconds else None
        order_every = int(config.order_interval_seconds * 1000)
        next_stats = self.start_ms + STATS_INTERVAL_MS
        batch = self.start_ms
        try:
            while not self.stop.is_set():
                due = batch + config.batch_ms
                if deadline is not None and due > deadline:
                    break
                wait = (due - self.clock()) / 1000.0
                if wait > 0 and self.stop.wait(wait):
                    break
                now = self.clock()
                if now - due > MAX_CATCH_UP_MS:
                    skipped = (now - batch) // config.batch_ms - 1
                    logger.warning("simulator: fell behind; skipping ahead",
                                   extra={"behind_ms": now - due, "batches_skipped": skipped})
                    batch += skipped * config.batch_ms
                    continue
                self._batch(batch, order_every)
                if batch >= next_stats:
                    self._stats()
                    next_stats = batch + STATS_INTERVAL_MS
                batch += config.batch_ms
        finally:
            self._shutdown()

    def _batch(self, batch_ms: int, order_every: int) -> None:
        if batch_ms % MS_PER_MINUTE == 0 and market_date(_instant(batch_ms)) != self._listing_day:
            self._listing_day = market_date(_instant(batch_ms))
            try:
                self._relist(batch_ms)
            except Exception:
                logger.exception("simulator: relisting failed; keeping the current instruments")
        open_calendars = self.gate.open_calendars(batch_ms)
        ticks = self.engine.step(batch_ms, open_calendars)
        self.batches += 1
        self.state.record(ticks, open_calendars)
        if ticks:
            self.publisher.publish(self.config.tick_stream, orjson.dumps(ticks))
            self.ticks_published += len(ticks)
        if order_every and batch_ms > self.start_ms and (batch_ms - self.start_ms) % order_every == 0:
            prices = {token: ltp for token, (ltp, _) in self.engine.last_prices().items()}
            for update in self.orders.step(batch_ms, prices, open_calendars):
                self.publisher.publish(self.config.order_stream, orjson.dumps(update))
                self.orders_published += 1
        self.publisher.flush()

    def _stats(self) -> None:
        self.book.prune(self.clock())
        logger.info(
            "simulator: running",
            extra={"ticks_published": self.ticks_published, "order_updates": self.orders_published,
                   "entries_written": self.publisher.published, "entries_pending": self.publisher.pending,
                   "entries_dropped": self.publisher.dropped, "redis_connected": self.publisher.connected,
                   "open_calendars": sorted(self.gate.open_calendars(self.clock())),
                   "working_orders": self.orders.working},
        )

    def _shutdown(self) -> None:
        if not self.publisher.flush(force=True):
            logger.warning("simulator: stopping with entries not written",
                           extra={"entries_pending": self.publisher.pending})
        if self.http is not None:
            self.http.stop()
        logger.info("simulator: stopped", extra={"ticks_published": self.ticks_published,
                                                 "order_updates": self.orders_published,
                                                 "batches": self.batches})


def _instant(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


@dataclass(frozen=True)
class ReplayResult:
    symbol: str
    bars: int
    ticks: int
    entries: int


def run_replay(
    *, symbol: str, day: date, speed: float, stream: str, stop: threading.Event,
    ticks_per_bar: int = DEFAULT_TICKS_PER_BAR, publisher: StreamPublisher | None = None,
    maxlen: int | None = None,
) -> ReplayResult:
    """Play `symbol`'s stored bars of `day` back as ticks into `stream` at `speed` times real time.

    Raises NotFound for an unknown symbol; a day without bars replays nothing.
    """
    if speed <= 0:
        raise ValueError("speed must be positive")
    instrument, bars = store.day_bars(symbol=symbol, day=day)
    listing = Listing.of_instrument(instrument)
    ticks = replay_ticks(bars, token=listing.token, tick_size=listing.tick_size, ticks_per_bar=ticks_per_bar,
                         has_volume=listing.kind != INDEX)
    publisher = publisher or StreamPublisher(
        redis_client_factory(), maxlen=maxlen or settings.SIMULATOR_STREAM_MAXLEN, max_pending=MAX_PENDING_ENTRIES
    )
    logger.info("simulator: replay starting", extra={"symbol": instrument.symbol, "date": day.isoformat(),
                                                     "bars": len(bars), "ticks": len(ticks), "speed": speed})
    offsets = wall_offsets_ms(ticks, speed)
    started = time.monotonic()
    entries = 0
    sent = 0
    while sent < len(ticks) and not stop.is_set():
        elapsed_ms = (time.monotonic() - started) * 1000
        upto = sent
        while upto < len(ticks) and upto - sent < MAX_TICKS_PER_ENTRY and offsets[upto] <= elapsed_ms:
            upto += 1
        if upto > sent:
            publisher.publish(stream, orjson.dumps(ticks[sent:upto]))
            entries += 1
            sent = upto
        else:
            publisher.flush()
        if sent < len(ticks):
            stop.wait(min(REPLAY_BATCH_MS, max(offsets[sent] - elapsed_ms, 0)) / 1000.0)
    if not publisher.flush(force=True):
        logger.warning("simulator: replay ended with entries not written", extra={"pending": publisher.pending})
    logger.info("simulator: replay finished", extra={"symbol": instrument.symbol, "ticks": sent, "entries": entries})
    return ReplayResult(symbol=instrument.symbol, bars=len(bars), ticks=sent, entries=entries)
