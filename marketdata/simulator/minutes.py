"""1-minute bars of the ticks the simulator published, for its own `/history` (and for tests).

Aggregation follows the consumer's rules: open = first, high, low, close = last tick of the minute,
volume from the differences of the cumulative day volume (restarting on each IST date), open interest
= last. Ticks of one token must arrive in time order, which the engine guarantees.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import Any

from marketdata.simulator.model import MS_PER_MINUTE, ist_day

# A bar as [open, high, low, close, volume, oi]; oi is None for instruments without open interest.
Bar = list[Any]


class MinuteBook:
    """Bars by token and minute (epoch ms of the minute start), bounded to `retention_minutes`."""

    def __init__(self, *, retention_minutes: int, cumulative: Mapping[int, tuple[int, int]] | None = None) -> None:
        self.retention_minutes = retention_minutes
        self._bars: dict[int, dict[int, Bar]] = {}
        # token → (IST day, cumulative volume) of the last tick seen: the base of the next difference.
        self._cumulative: dict[int, tuple[int, int]] = dict(cumulative or {})
        self._lock = threading.Lock()

    def add(self, ticks: Iterable[Mapping[str, Any]]) -> None:
        with self._lock:
            for tick in ticks:
                self._add(tick)

    def _add(self, tick: Mapping[str, Any]) -> None:
        token = int(tick["token"])
        ts = int(tick["ts"])
        price = float(tick["ltp"])
        minute = ts - ts % MS_PER_MINUTE
        traded = 0
        if "volume" in tick:
            day, cumulative = ist_day(ts), int(tick["volume"])
            base_day, base = self._cumulative.get(token, (day, cumulative))
            traded = cumulative if base_day != day else max(0, cumulative - base)
            self._cumulative[token] = (day, cumulative)
        bars = self._bars.setdefault(token, {})
        bar = bars.get(minute)
        oi = tick.get("oi")
        if bar is None:
            bars[minute] = [price, price, price, price, traded, oi]
            return
        bar[1] = max(bar[1], price)
        bar[2] = min(bar[2], price)
        bar[3] = price
        bar[4] += traded
        if oi is not None:
            bar[5] = oi

    def bars(self, token: int, start_ms: int, end_ms: int) -> dict[int, Bar]:
        """Copies of the bars of `token` whose minute lies in [start_ms, end_ms]."""
        with self._lock:
            found = self._bars.get(token, {})
            return {m: list(b) for m, b in found.items() if start_ms <= m <= end_ms}

    def prune(self, now_ms: int) -> None:
        cutoff = now_ms - self.retention_minutes * MS_PER_MINUTE
        with self._lock:
            for bars in self._bars.values():
                for minute in [m for m in bars if m < cutoff]:
                    del bars[minute]


def aggregate(ticks: Iterable[Mapping[str, Any]]) -> dict[int, dict[int, Bar]]:
    """token → minute → bar, from ticks in time order (volume differences start at the first tick)."""
    book = MinuteBook(retention_minutes=0)
    book.add(ticks)
    return book._bars
