"""Folding live 1-minute bar events into bars of any chart resolution, exactly as UDF history does.

The tick consumer publishes each 1-minute bar many times while it forms and once more when it
closes (marketdata/live.py); every event carries the minute's whole aggregate so far. A bar of N
minutes (or a day, week, month) is the aggregate of its minutes: open of the first, high/low over
all, close of the last, volume summed. Buckets are the ones history uses
(tradeviz.timeseries.buckets): intraday aligned to 09:15 IST, daily stamped 00:00 UTC of the IST
date, weeks from Monday and months by calendar, both stamped with their first day present.

Because a minute is re-published (forming → closed, a late tick merged afterwards), a bucket keeps
the latest version of its newest minutes (`OPEN_WINDOW_MINUTES`) and folds older ones into a sealed
aggregate; re-publishing a minute replaces it instead of adding it twice. Updates for a minute that
was already sealed cannot be merged exactly (its volume would count twice) and are ignored: the
next history load has them.

Two buckets stay open, the current one and the one before: a minute's `closed` event arrives after
the tick consumer's grace period for late ticks, typically after the next minute (and so perhaps the
next bucket) has started forming.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from cachetools import LRUCache

from marketdata.calendar import SIM_EXCHANGE, calendar_exchange, is_trading_day, session_bounds
from tradeviz.errors import DomainError
from tradeviz.timeseries.buckets import (
    MARKET_TZ,
    Resolution,
    Unit,
    bucket_floor,
    bucket_stamp,
    daily_stamp,
)

logger = logging.getLogger(__name__)

MINUTE = 60
# Minutes behind the newest one whose re-published versions are still merged exactly. The tick
# consumer closes a minute a few seconds after it ends; a late tick for an older minute is rare.
OPEN_WINDOW_MINUTES = 5
# Bucket close times are shared by every connection folding the same resolution and exchange.
CLOSE_CACHE_SIZE = 4096
MONTHS_PER_YEAR = 12
DAYS_PER_WEEK = 7


@dataclass(slots=True)
class Ohlcv:
    o: float
    h: float
    l: float  # noqa: E741 - OHLC naming
    c: float
    v: int

    def then(self, later: Ohlcv) -> Ohlcv:
        """This aggregate followed in time by `later`."""
        return Ohlcv(self.o, max(self.h, later.h), min(self.l, later.l), later.c, self.v + later.v)


@dataclass(frozen=True, slots=True)
class BucketBounds:
    """Raw time range [start, end) of a bucket (epoch seconds) and when its last trading minute ends."""

    start: int
    end: int
    # The bar's time for intraday and daily buckets; weekly/monthly bars take their first day present.
    stamp: int
    close_at: int


@dataclass(slots=True)
class Bucket:
    bounds: BucketBounds
    stamp: int
    base: Ohlcv | None = None
    # Minutes before this are in `base`; their updates are ignored.
    sealed_until: int = 0
    minutes: dict[int, Ohlcv] = field(default_factory=dict)
    closed: bool = False

    def apply(self, t: int, bar: Ohlcv, *, closed: bool) -> bool:
        """Merge the latest version of minute `t`; False when it was already sealed."""
        if t < self.sealed_until:
            return False
        known = self.minutes.get(t)
        if known is not None:
            # A minute only grows while it forms; an older version processed after a newer one
            # (published before the snapshot was read, delivered after) must not shrink it.
            bar = Ohlcv(bar.o, max(bar.h, known.h), min(bar.l, known.l), bar.c, max(bar.v, known.v))
        self.minutes[t] = bar
        limit = max(self.minutes) - OPEN_WINDOW_MINUTES * MINUTE
        if limit > self.sealed_until:
            for old in sorted(m for m in self.minutes if m < limit):
                sealed = self.minutes.pop(old)
                self.base = sealed if self.base is None else self.base.then(sealed)
            self.sealed_until = limit
        if closed and t + MINUTE >= self.bounds.close_at:
            self.closed = True
        return True

    def aggregate(self) -> Ohlcv | None:
        total = self.base
        for t in sorted(self.minutes):
            total = self.minutes[t] if total is None else total.then(self.minutes[t])
        return total

    def bar(self) -> dict[str, float | int] | None:
        """The UDF-compatible bar: time (bar open, UTC seconds), open, high, low, close, volume."""
        total = self.aggregate()
        if total is None:
            return None
        return {
            "time": self.stamp,
            "open": total.o,
            "high": total.h,
            "low": total.l,
            "close": total.c,
            "volume": total.v,
        }


# --- bucket bounds ---------------------------------------------------------------------------------


def _ist_midnight(d: date) -> datetime:
    return datetime.combine(d, time(0), MARKET_TZ).astimezone(UTC)


def _period_dates(resolution: Resolution, d: date) -> tuple[date, date]:
    """First date of the week/month period holding `d`, and the first date of the next one."""
    if resolution.unit is Unit.WEEK:
        first = d - timedelta(days=d.weekday())
        return first, first + timedelta(days=DAYS_PER_WEEK)
    index = (d.year * MONTHS_PER_YEAR + d.month - 1) // resolution.count * resolution.count
    first = date(index // MONTHS_PER_YEAR, index % MONTHS_PER_YEAR + 1, 1)
    after = index + resolution.count
    return first, date(after // MONTHS_PER_YEAR, after % MONTHS_PER_YEAR + 1, 1)


def _raw_bounds(resolution: Resolution, moment: datetime) -> tuple[datetime, datetime]:
    if resolution.is_period:
        first, after = _period_dates(resolution, moment.astimezone(MARKET_TZ).date())
        return _ist_midnight(first), _ist_midnight(after)
    start = bucket_floor(resolution, moment)
    if resolution.is_daily or resolution.aligns_globally:
        return start, start + resolution.width
    # Sizes anchored per IST day: the next boundary, or the next IST midnight, whichever is first.
    next_midnight = _ist_midnight(start.astimezone(MARKET_TZ).date() + timedelta(days=1))
    return start, min(bucket_floor(resolution, start + resolution.width), next_midnight)


_close_cache: LRUCache[tuple[str, str, int], int] = LRUCache(maxsize=CLOSE_CACHE_SIZE)
_close_lock = threading.Lock()


def _session_close_within(exchange: str, start: datetime, end: datetime) -> datetime:
    """End of the last trading minute in [start, end) on the exchange's calendar (`end` if unknown)."""
    cal = calendar_exchange(exchange)
    if cal == SIM_EXCHANGE:
        return end
    day = (end - timedelta(microseconds=1)).astimezone(MARKET_TZ).date()
    first_day = start.astimezone(MARKET_TZ).date()
    while day >= first_day:
        if is_trading_day(day, cal):
            bounds = session_bounds(day, cal)
            if bounds is not None and bounds[0] < end and bounds[1] > start:
                return min(end, bounds[1])
        day -= timedelta(days=1)
    return end


def bucket_close_at(resolution: Resolution, exchange: str, start: datetime, end: datetime) -> int:
    """When the bucket's last trading minute ends (epoch s): a 60-minute bar opening 15:15 IST closes
    at 15:30 with the session. Reads the market calendar (database), so call it from sync code."""
    if resolution.is_intraday and resolution.count == 1:
        return int(end.timestamp())
    key = (resolution.udf, exchange, int(start.timestamp()))
    with _close_lock:
        cached = _close_cache.get(key)
    if cached is not None:
        return cached
    try:
        close_at = int(_session_close_within(exchange, start, end).timestamp())
    except DomainError:
        # An exchange or year the calendar does not know: the bucket's own end is the best guess.
        logger.warning("No calendar for %s around %s; bar close falls back to bucket end", exchange, start)
        close_at = int(end.timestamp())
    with _close_lock:
        _close_cache[key] = close_at
    return close_at


def cached_bounds(resolution: Resolution, exchange: str, moment: datetime) -> BucketBounds | None:
    """Bounds of the bucket holding `moment` if its close time is already known (no database)."""
    start, end = _raw_bounds(resolution, moment)
    if resolution.is_intraday and resolution.count == 1:
        close_at: int | None = int(end.timestamp())
    else:
        with _close_lock:
            close_at = _close_cache.get((resolution.udf, exchange, int(start.timestamp())))
    if close_at is None:
        return None
    return _bounds(resolution, start, end, close_at)


def uncalendared_bounds(resolution: Resolution, moment: datetime) -> BucketBounds:
    """Bounds of the bucket holding `moment`, closing at its own end (when the calendar is unreadable)."""
    start, end = _raw_bounds(resolution, moment)
    return _bounds(resolution, start, end, int(end.timestamp()))


def bucket_bounds(resolution: Resolution, exchange: str, moment: datetime) -> BucketBounds:
    """Bounds of the bucket holding `moment` (may read the calendar: call from sync code)."""
    start, end = _raw_bounds(resolution, moment)
    return _bounds(resolution, start, end, bucket_close_at(resolution, exchange, start, end))


def _bounds(resolution: Resolution, start: datetime, end: datetime, close_at: int) -> BucketBounds:
    stamp = int(bucket_stamp(resolution, start).timestamp()) if not resolution.is_period else 0
    return BucketBounds(
        start=int(start.timestamp()), end=int(end.timestamp()), stamp=stamp, close_at=close_at
    )


def clear_close_cache() -> None:
    with _close_lock:
        _close_cache.clear()


# --- the folder ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Seed:
    """What history knows of the newest bucket when a client subscribes."""

    bounds: BucketBounds
    # Weekly/monthly: the days of the period before the minutes below (stamp, aggregate).
    base_stamp: int | None
    base: Ohlcv | None
    # (minute, o, h, l, c, v) in time order, from `minutes_from` on.
    minutes: list[tuple[int, float, float, float, float, int]]
    minutes_from: int
    # The bucket is over (its last trading minute has ended): the snapshot is a closed bar.
    closed: bool


class BarFolder:
    """The live bar of one resolution for one instrument, folded from 1-minute events."""

    def __init__(self, resolution: Resolution, exchange: str) -> None:
        self.resolution = resolution
        self.exchange = exchange
        self.current: Bucket | None = None
        self.previous: Bucket | None = None

    def seed(self, seed: Seed) -> Bucket:
        """Start from history's newest bucket (see marketdata.selectors.live.bar_seed)."""
        bucket = Bucket(
            bounds=seed.bounds, stamp=seed.bounds.stamp, base=seed.base, sealed_until=seed.minutes_from
        )
        if self.resolution.is_period:
            first_day = seed.minutes[0][0] if seed.minutes else seed.minutes_from
            bucket.stamp = seed.base_stamp if seed.base_stamp is not None else _day_stamp(first_day)
        for t, o, h, low, c, v in seed.minutes:
            bucket.apply(t, Ohlcv(o, h, low, c, v), closed=False)
        bucket.closed = seed.closed
        self.current, self.previous = bucket, None
        return bucket

    def bucket_for(self, t: int) -> Bucket | None:
        for bucket in (self.current, self.previous):
            if bucket is not None and bucket.bounds.start <= t < bucket.bounds.end:
                return bucket
        return None

    def starts_new_bucket(self, t: int) -> bool:
        """Minute `t` lies after the current bucket (a minute of an older, closed bucket does not)."""
        return self.current is None or t >= self.current.bounds.end

    def open_bucket(self, bounds: BucketBounds, t: int) -> Bucket | None:
        """Open the bucket for minute `t` (newer than the open ones); returns the bucket that fell out."""
        stamp = bounds.stamp if not self.resolution.is_period else _day_stamp(t)
        dropped = self.previous
        self.previous, self.current = (
            self.current,
            Bucket(bounds=bounds, stamp=stamp, sealed_until=bounds.start),
        )
        return dropped

    def apply(self, bucket: Bucket, event: Mapping[str, Any]) -> bool:
        """Merge a 1-minute event into its bucket; False when it changed nothing (a sealed minute)."""
        bar = Ohlcv(
            float(event["o"]), float(event["h"]), float(event["l"]), float(event["c"]), int(event["v"])
        )
        return bucket.apply(int(event["t"]), bar, closed=bool(event["closed"]))


def _day_stamp(t: int) -> int:
    return int(daily_stamp(datetime.fromtimestamp(t, tz=UTC)).timestamp())
