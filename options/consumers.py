"""`/ws/fo/stream` (a live option chain) and `/ws/nifty-monitor` (the index monitor), on the shared
protocol of `tradeviz.ws.consumers.StreamConsumer` (docs/options.md, docs/websockets.md).

    → {"action": "subscribe", "underlying": "NIFTY", "expiry": "2026-12-01", "strikes": 10}
    ← {"type": "subscribed", "underlying": "NIFTY", "expiry": "2026-12-01", "strikes": 10}
    ← {"type": "chain", "underlying": …, "expiry": …, "closed": false, "chain": {option-chain body}}
    ← {"type": "chain", …, "closed": true, "chain": {…}}             a minute closed (stored analytics)
    ← {"type": "metrics", …, "metrics": {"t", "pcr_oi", "max_pain", …}}   with every closed minute

    → {"action": "subscribe", "underlying": "NIFTY", "expiries": 2, "otm_levels": 10}
    ← {"type": "subscribed", …}  then {"type": "monitor", …, "monitor": {monitor body}}

The forming minute is recomputed every FO_STREAM_INTERVAL_SECONDS while the market is open, once
per process and chain however many clients watch it (`LiveCache`), and pushed conflated: a slow
client gets the newest chain, never a backlog. Closed minutes arrive from the per-minute job through
the channel layer (`options.streams`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Hashable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.utils import timezone

from marketdata.calendar import is_market_open
from options.chains import Chain, chain_or_404, normalise_underlying
from options.selectors.chain import MAX_STRIKES_EACH_SIDE, chain_payload, snapshot_chains
from options.selectors.monitor import MAX_MONITOR_EXPIRIES, MAX_OTM_LEVELS, monitor_snapshot
from options.streams import chain_group, monitor_group
from tradeviz.errors import DomainError, InvalidInput
from tradeviz.ws.consumers import StreamConsumer

logger = logging.getLogger(__name__)

DEFAULT_STREAM_STRIKES = 10
DEFAULT_MONITOR_EXPIRIES = 2
DEFAULT_MONITOR_OTM_LEVELS = 10
DEFAULT_MONITOR_UNDERLYING = "NIFTY"
METRIC_KEYS = (
    "spot",
    "futures_price",
    "synthetic_forward",
    "forward",
    "forward_source",
    "atm_strike",
    "atm_iv",
    "straddle",
    "pcr_oi",
    "pcr_volume",
    "pcr_oi_change",
    "max_pain",
    "support",
    "resistance",
    "total_ce_oi",
    "total_pe_oi",
)


class LiveCache:
    """Process-wide, short-lived results keyed by what was computed: one computation per key and
    interval however many connections ask (the others wait for it, then share it)."""

    def __init__(self) -> None:
        self._values: dict[Hashable, tuple[float, Any]] = {}
        self._locks: dict[Hashable, asyncio.Lock] = {}

    async def get(self, key: Hashable, max_age: float, compute: Callable[[], Awaitable[Any]]) -> Any:
        hit = self._values.get(key)
        if hit is not None and time.monotonic() - hit[0] < max_age:
            return hit[1]
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            hit = self._values.get(key)
            if hit is not None and time.monotonic() - hit[0] < max_age:
                return hit[1]
            value = await compute()
            self._values[key] = (time.monotonic(), value)
            return value

    def clear(self) -> None:
        self._values.clear()


live_cache = LiveCache()


def window_payload(payload: Mapping[str, Any], each_side: int) -> dict[str, Any]:
    """The chain body with only the rows ATM ± `each_side` (0: all)."""
    rows = payload["rows"]
    if each_side <= 0 or not rows:
        return dict(payload)
    strikes = [row["strike"] for row in rows]
    atm = payload.get("atm_strike")
    centre = strikes.index(atm) if atm in strikes else len(rows) // 2
    return {**payload, "rows": rows[max(0, centre - each_side) : centre + each_side + 1]}


def metrics_of(payload: Mapping[str, Any]) -> dict[str, Any]:
    minute = datetime.fromisoformat(payload["minute"])
    return {"t": int(minute.timestamp()), **{k: payload.get(k) for k in METRIC_KEYS}}


def _int_field(message: Mapping[str, Any], name: str, *, default: int, minimum: int, maximum: int) -> int:
    value = message.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise InvalidInput(f"{name} must be an integer between {minimum} and {maximum}")
    return value


def _underlying(message: Mapping[str, Any], default: str | None = None) -> str:
    raw = message.get("underlying", default)
    if not isinstance(raw, str):
        raise InvalidInput('underlying is required, e.g. "NIFTY"')
    return normalise_underlying(raw)


class _PeriodicStream(StreamConsumer):
    """A stream whose subscriptions are refreshed on a timer while their market is open."""

    def now(self) -> datetime:
        """The clock snapshots are read at (tests replay past sessions by replacing it)."""
        return timezone.now()

    def interval(self) -> float:
        return float(settings.FO_STREAM_INTERVAL_SECONDS)

    def start_refresher(self, refresh: Callable[[], Awaitable[None]], exchange: str) -> asyncio.Task[None]:
        async def loop() -> None:
            while True:
                await asyncio.sleep(self.interval())
                try:
                    if await _market_open(self.now(), exchange):
                        await refresh()
                except asyncio.CancelledError:
                    raise
                except DomainError as exc:
                    logger.info("WebSocket %s refresh: %s", self.route, exc.message)
                except Exception:
                    logger.exception("WebSocket %s refresh failed", self.route)

        return asyncio.create_task(loop(), name=f"ws-{self.route}-refresh")


@database_sync_to_async
def _market_open(moment: datetime, exchange: str) -> bool:
    try:
        return is_market_open(moment, exchange)
    except DomainError:
        return True  # no calendar data: keep the stream live rather than silently frozen


# --- /ws/fo/stream -----------------------------------------------------------------------------------


@dataclass(slots=True)
class ChainSubscription:
    chain: Chain
    strikes: int
    header: dict[str, Any]
    task: asyncio.Task[None] | None = None
    joined: bool = False


@database_sync_to_async
def _resolve_chain(underlying: str, expiry: date) -> Chain:
    return chain_or_404(underlying, expiry)


@database_sync_to_async
def _live_chain_payload(chain: Chain, now: datetime) -> dict[str, Any]:
    (snapshot,) = snapshot_chains([chain], now=now)
    return chain_payload(snapshot)


class FoStreamConsumer(_PeriodicStream):
    route = "fo/stream"

    async def subscription_key(self, message: Mapping[str, Any]) -> tuple[Hashable, Any]:
        underlying = _underlying(message)
        raw_expiry = message.get("expiry")
        if not isinstance(raw_expiry, str):
            raise InvalidInput('expiry is required, e.g. "2026-12-01"')
        try:
            expiry = date.fromisoformat(raw_expiry.strip()[:10])
        except ValueError:
            raise InvalidInput("expiry must be a date YYYY-MM-DD") from None
        strikes = _int_field(
            message, "strikes", default=DEFAULT_STREAM_STRIKES, minimum=0, maximum=MAX_STRIKES_EACH_SIDE
        )
        chain = await _resolve_chain(underlying, expiry)
        header = {"underlying": chain.underlying, "expiry": chain.expiry.isoformat(), "strikes": strikes}
        return (chain.underlying, chain.expiry, strikes), ChainSubscription(
            chain=chain, strikes=strikes, header=header
        )

    async def start_subscription(self, key: Hashable, subscription: Any, *, request_id: Any = None) -> None:
        sub: ChainSubscription = subscription
        # Join first: a minute published while the snapshot is computed is not lost.
        await self.join(chain_group(sub.chain.underlying, sub.chain.expiry))
        sub.joined = True
        self.reply(self.subscribed_message(key, sub), request_id=request_id)
        await self._push_live(key, sub)
        sub.task = self.start_refresher(lambda: self._push_live(key, sub), sub.chain.exchange)

    async def resend_subscription(self, key: Hashable, subscription: Any, *, request_id: Any = None) -> None:
        self.reply(self.subscribed_message(key, subscription), request_id=request_id)
        await self._push_live(key, subscription)

    async def stop_subscription(self, key: Hashable, subscription: Any) -> None:
        sub: ChainSubscription = subscription
        if sub.task is not None:
            sub.task.cancel()
            sub.task = None
        if sub.joined:
            sub.joined = False
            await self.leave(chain_group(sub.chain.underlying, sub.chain.expiry))

    def subscribed_message(self, key: Hashable, subscription: Any) -> dict[str, Any]:
        return {"type": "subscribed", **subscription.header}

    def unsubscribed_message(self, key: Hashable, subscription: Any) -> dict[str, Any]:
        return {"type": "unsubscribed", **subscription.header}

    async def _push_live(self, key: Hashable, sub: ChainSubscription) -> None:
        now = self.now()
        payload = await live_cache.get(
            ("chain", sub.chain.key),
            self.interval() / 2,
            lambda: _live_chain_payload(sub.chain, now),
        )
        self.push(
            (key, "forming"),
            {"type": "chain", **sub.header, "closed": False, "chain": window_payload(payload, sub.strikes)},
        )

    async def fo_minute(self, event: dict[str, Any]) -> None:
        """A closed minute from the per-minute job: its chain and metrics to every matching subscription."""
        payload = event.get("chain")
        if not isinstance(payload, dict):
            return
        for key, sub in list(self.subscriptions.items()):
            if sub.header["underlying"] != event["underlying"] or sub.header["expiry"] != event["expiry"]:
                continue
            # A newer forming update waiting for a slow client would be older than this minute.
            self.discard((key, "forming"))
            self.push(
                (key, "closed"),
                {
                    "type": "chain",
                    **sub.header,
                    "closed": True,
                    "chain": window_payload(payload, sub.strikes),
                },
            )
            self.push(
                (key, "metrics", event["minute"]),
                {"type": "metrics", **sub.header, "metrics": metrics_of(payload)},
            )


# --- /ws/nifty-monitor -------------------------------------------------------------------------------


@dataclass(slots=True)
class MonitorSubscription:
    underlying: str
    expiries: int
    otm_levels: int
    header: dict[str, Any] = field(default_factory=dict)
    task: asyncio.Task[None] | None = None
    joined: bool = False


@database_sync_to_async
def _monitor(underlying: str, expiries: int, otm_levels: int, now: datetime) -> dict[str, Any]:
    return monitor_snapshot(underlying=underlying, expiries=expiries, otm_levels=otm_levels, now=now)


class MonitorConsumer(_PeriodicStream):
    route = "nifty-monitor"

    async def subscription_key(self, message: Mapping[str, Any]) -> tuple[Hashable, Any]:
        underlying = _underlying(message, DEFAULT_MONITOR_UNDERLYING)
        expiries = _int_field(
            message, "expiries", default=DEFAULT_MONITOR_EXPIRIES, minimum=1, maximum=MAX_MONITOR_EXPIRIES
        )
        otm_levels = _int_field(
            message, "otm_levels", default=DEFAULT_MONITOR_OTM_LEVELS, minimum=0, maximum=MAX_OTM_LEVELS
        )
        header = {"underlying": underlying, "expiries": expiries, "otm_levels": otm_levels}
        sub = MonitorSubscription(
            underlying=underlying, expiries=expiries, otm_levels=otm_levels, header=header
        )
        return (underlying, expiries, otm_levels), sub

    async def start_subscription(self, key: Hashable, subscription: Any, *, request_id: Any = None) -> None:
        sub: MonitorSubscription = subscription
        snapshot = await self._snapshot(sub)  # raises NotFound for an unknown underlying
        await self.join(monitor_group(sub.underlying))
        sub.joined = True
        self.reply(self.subscribed_message(key, sub), request_id=request_id)
        self.push((key, "monitor"), {"type": "monitor", **sub.header, "monitor": snapshot})
        sub.task = self.start_refresher(lambda: self._refresh(key, sub), snapshot.get("exchange") or "NSE")

    async def resend_subscription(self, key: Hashable, subscription: Any, *, request_id: Any = None) -> None:
        self.reply(self.subscribed_message(key, subscription), request_id=request_id)
        await self._refresh(key, subscription)

    async def stop_subscription(self, key: Hashable, subscription: Any) -> None:
        sub: MonitorSubscription = subscription
        if sub.task is not None:
            sub.task.cancel()
            sub.task = None
        if sub.joined:
            sub.joined = False
            await self.leave(monitor_group(sub.underlying))

    def subscribed_message(self, key: Hashable, subscription: Any) -> dict[str, Any]:
        return {"type": "subscribed", **subscription.header}

    def unsubscribed_message(self, key: Hashable, subscription: Any) -> dict[str, Any]:
        return {"type": "unsubscribed", **subscription.header}

    async def _snapshot(self, sub: MonitorSubscription) -> dict[str, Any]:
        now = self.now()
        return await live_cache.get(  # type: ignore[no-any-return]
            ("monitor", sub.underlying, sub.expiries, sub.otm_levels),
            self.interval() / 2,
            lambda: _monitor(sub.underlying, sub.expiries, sub.otm_levels, now),
        )

    async def _refresh(self, key: Hashable, sub: MonitorSubscription) -> None:
        self.push((key, "monitor"), {"type": "monitor", **sub.header, "monitor": await self._snapshot(sub)})

    async def fo_minute(self, event: dict[str, Any]) -> None:
        for key, sub in list(self.subscriptions.items()):
            if sub.underlying == event.get("underlying"):
                await self._refresh(key, sub)
