"""`/ws/ticks`: live bars at any chart resolution and last prices (docs/websockets.md).

    → {"action": "subscribe", "symbol": "NSE:NIFTY 50", "resolution": "5"}
    ← {"type": "subscribed", "symbol": "NSE:NIFTY 50", "resolution": "5"}
    ← {"type": "bar", "symbol": "NSE:NIFTY 50", "resolution": "5",
       "bar": {"time": 1764561000, "open": …, "high": …, "low": …, "close": …, "volume": …}, "closed": false}
    ← {"type": "ltp", "symbol": "NSE:NIFTY 50", "ltp": 26012.35, "ts": 1764561012345}

The first `bar` after `subscribed` is history's newest bar of that resolution; the following ones
are folded from the tick consumer's 1-minute events (marketdata/live.py) by
marketdata/bar_folding.py. Each subscription's updates are conflated per bar: a slow client gets
the newest state of the current bar (and of the one before, whose final version arrives after the
next one started), never a backlog.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from channels.db import database_sync_to_async
from django.utils import timezone

from marketdata.bar_folding import (
    BarFolder,
    Bucket,
    BucketBounds,
    bucket_bounds,
    cached_bounds,
    uncalendared_bounds,
)
from marketdata.live import bar_group
from marketdata.selectors.instruments import InstrumentRef, instrument_by_symbol
from marketdata.selectors.live import bar_seed
from tradeviz.errors import InvalidInput
from tradeviz.timeseries.buckets import Resolution, parse_resolution
from tradeviz.ws.consumers import StreamConsumer

logger = logging.getLogger(__name__)

DEFAULT_RESOLUTION = "1"
MAX_RESOLUTION_LENGTH = 8

TickKey = tuple[int, str]


@dataclass(slots=True)
class TickSubscription:
    instrument: InstrumentRef
    resolution: Resolution
    # The resolution as the client spelled it ("D", "1D"), echoed in every message.
    label: str
    folder: BarFolder
    joined: bool = False
    header: dict[str, Any] = field(default_factory=dict)
    # Events that arrived while the subscription waited on the database (its snapshot, or the
    # calendar for a new bucket), applied in order when it is done; None: apply them at once.
    pending: list[dict[str, Any]] | None = None


@database_sync_to_async
def _lookup(symbol: str) -> InstrumentRef:
    return instrument_by_symbol(symbol)


@database_sync_to_async
def _seed(subscription: TickSubscription, now: datetime) -> Bucket | None:
    seed = bar_seed(
        instrument_id=subscription.instrument.id,
        exchange=subscription.instrument.exchange,
        resolution=subscription.resolution,
        now=now,
    )
    return None if seed is None else subscription.folder.seed(seed)


@database_sync_to_async
def _bounds(subscription: TickSubscription, moment: datetime) -> BucketBounds:
    try:
        return bucket_bounds(subscription.resolution, subscription.instrument.exchange, moment)
    except Exception:
        # The calendar is unreadable (database down): the bucket closes at its own end.
        logger.exception("WebSocket ticks: reading the bucket close of %s failed", subscription.header)
        return uncalendared_bounds(subscription.resolution, moment)


class TicksConsumer(StreamConsumer):
    route = "ticks"

    async def connect(self) -> None:
        # instrument id → this connection's subscriptions to it (one per resolution).
        self.by_instrument: dict[int, dict[TickKey, TickSubscription]] = {}
        await super().connect()

    def now(self) -> datetime:
        """The clock the snapshot is read at (tests replay past sessions by replacing it)."""
        return timezone.now()

    # --- subscriptions ---------------------------------------------------------------------------

    async def subscription_key(self, message: Mapping[str, Any]) -> tuple[Hashable, Any]:
        symbol = message.get("symbol")
        if not isinstance(symbol, str) or not symbol.strip():
            raise InvalidInput('symbol is required, e.g. "NSE:NIFTY 50"')
        raw_resolution = message.get("resolution", DEFAULT_RESOLUTION)
        if isinstance(raw_resolution, bool) or not isinstance(raw_resolution, str | int):
            raise InvalidInput('resolution must be a UDF resolution such as "1", "5", "D", "W", "M"')
        label = str(raw_resolution).strip().upper()[:MAX_RESOLUTION_LENGTH]
        resolution = parse_resolution(label)
        instrument = await _lookup(symbol)
        subscription = TickSubscription(
            instrument=instrument,
            resolution=resolution,
            label=label,
            folder=BarFolder(resolution, instrument.exchange),
            header={"symbol": instrument.symbol, "resolution": label},
        )
        return (instrument.id, resolution.udf), subscription

    async def start_subscription(self, key: Hashable, subscription: Any, *, request_id: Any = None) -> None:
        sub: TickSubscription = subscription
        # Join before reading the snapshot: updates published meanwhile are held and merged after
        # it (re-publishing a minute replaces it, so nothing counts twice).
        sub.pending = []
        self.by_instrument.setdefault(sub.instrument.id, {})[key] = sub  # type: ignore[index]
        await self.join(bar_group(sub.instrument.id))
        sub.joined = True
        self.reply(self.subscribed_message(key, sub), request_id=request_id)
        bucket = await _seed(sub, self.now())
        if bucket is not None:
            self._push_bar(key, sub, bucket)
        self._drain(key, sub)

    async def resend_subscription(self, key: Hashable, subscription: Any, *, request_id: Any = None) -> None:
        sub: TickSubscription = subscription
        self.reply(self.subscribed_message(key, sub), request_id=request_id)
        if sub.folder.current is not None:
            self._push_bar(key, sub, sub.folder.current)

    async def stop_subscription(self, key: Hashable, subscription: Any) -> None:
        sub: TickSubscription = subscription
        subs = self.by_instrument.get(sub.instrument.id, {})
        subs.pop(key, None)  # type: ignore[call-overload]
        if not subs:
            self.by_instrument.pop(sub.instrument.id, None)
            self.discard(("ltp", sub.instrument.id))
        if sub.joined:
            sub.joined = False
            await self.leave(bar_group(sub.instrument.id))

    def subscribed_message(self, key: Hashable, subscription: Any) -> dict[str, Any]:
        return {"type": "subscribed", **subscription.header}

    def unsubscribed_message(self, key: Hashable, subscription: Any) -> dict[str, Any]:
        return {"type": "unsubscribed", **subscription.header}

    # --- channel-layer events --------------------------------------------------------------------

    def md_bar(self, event: dict[str, Any]) -> None:
        """A 1-minute bar from the tick consumer: update every subscription to its instrument."""
        subs = self.by_instrument.get(event["instrument_id"])
        if not subs:
            return
        for key, sub in subs.items():
            if sub.pending is not None:
                sub.pending.append(event)
            else:
                self._apply(key, sub, event)
        first = next(iter(subs.values()))
        self.push(
            ("ltp", event["instrument_id"]),
            {"type": "ltp", "symbol": first.instrument.symbol, "ltp": event["ltp"], "ts": event["ts"]},
        )

    def _apply(self, key: TickKey, sub: TickSubscription, event: dict[str, Any]) -> bool:
        """Fold one event into the subscription's bar and push it; False when it must wait for the
        calendar (the event is then held in `pending`)."""
        t = int(event["t"])
        folder = sub.folder
        bucket = folder.bucket_for(t)
        if bucket is None:
            if not folder.starts_new_bucket(t):
                return True  # a minute of a bucket that is no longer open
            moment = datetime.fromtimestamp(t, tz=UTC)
            bounds = cached_bounds(sub.resolution, sub.instrument.exchange, moment)
            if bounds is None:
                # Once per bucket and process: the bar's close time needs the market calendar.
                sub.pending = [event]
                self.spawn(self._open_bucket(key, sub, moment))
                return False
            bucket = self._roll(key, sub, bounds, t)
        if folder.apply(bucket, event):
            self._push_bar(key, sub, bucket)
        return True

    def _roll(self, key: TickKey, sub: TickSubscription, bounds: BucketBounds, t: int) -> Bucket:
        dropped = sub.folder.open_bucket(bounds, t)
        if dropped is not None:
            self.discard((key, "bar", dropped.stamp))
        assert sub.folder.current is not None
        return sub.folder.current

    async def _open_bucket(self, key: TickKey, sub: TickSubscription, moment: datetime) -> None:
        bounds = await _bounds(sub, moment)
        if self.subscriptions.get(key) is not sub:
            return
        t = int(moment.timestamp())
        if sub.folder.bucket_for(t) is None and sub.folder.starts_new_bucket(t):
            self._roll(key, sub, bounds, t)
        self._drain(key, sub)

    def _drain(self, key: Hashable, sub: TickSubscription) -> None:
        """Apply the held events in order (stopping again if one needs the calendar)."""
        held, sub.pending = sub.pending or [], None
        for index, event in enumerate(held):
            if not self._apply(key, sub, event):  # type: ignore[arg-type]
                assert sub.pending is not None
                sub.pending.extend(held[index + 1 :])
                return

    def _push_bar(self, key: Hashable, sub: TickSubscription, bucket: Bucket) -> None:
        bar = bucket.bar()
        if bar is None:
            return
        self.push(
            (key, "bar", bucket.stamp), {"type": "bar", **sub.header, "bar": bar, "closed": bucket.closed}
        )
