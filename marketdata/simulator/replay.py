"""Replay: a stored day of 1-minute bars played back as ticks (pure part).

Each bar becomes `ticks_per_bar` ticks evenly spaced inside its minute, following open → low → high
→ close for a rising bar and open → high → low → close for a falling one, with the remaining ticks
on those legs. Re-aggregated, the ticks give back the bar exactly: the first is the open, the last
the close, the high and the low are reached; the cumulative day volume grows by the bar's volume.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np

from marketdata.simulator.model import MS_PER_MINUTE, ist_day, round_to_tick, tick_decimals

MIN_TICKS_PER_BAR = 4
DEFAULT_TICKS_PER_BAR = 6


@dataclass(frozen=True, slots=True)
class StoredBar:
    time_ms: int
    open: float
    high: float
    low: float
    close: float
    volume: int
    oi: int | None


def bar_prices(bar: StoredBar, ticks: int, tick_size: float) -> list[float]:
    """The tick prices of one bar: the four waypoints, with the extra ticks spread over the legs by length."""
    ticks = max(ticks, MIN_TICKS_PER_BAR)
    if bar.close >= bar.open:
        waypoints = [bar.open, bar.low, bar.high, bar.close]
    else:
        waypoints = [bar.open, bar.high, bar.low, bar.close]
    legs = [abs(b - a) for a, b in pairwise(waypoints)]
    extra = ticks - MIN_TICKS_PER_BAR
    total = sum(legs)
    shares = [extra * leg / total for leg in legs] if total > 0 else [extra / 3.0] * 3
    counts = [int(s) for s in shares]
    # Largest remainders get the ticks left over, earlier legs first on ties.
    for leg in sorted(range(3), key=lambda k: (-(shares[k] - counts[k]), k))[: extra - sum(counts)]:
        counts[leg] += 1
    prices = [waypoints[0]]
    for leg in range(3):
        start, end = waypoints[leg], waypoints[leg + 1]
        n = counts[leg]
        prices.extend(start + (end - start) * (k + 1) / (n + 1) for k in range(n))
        prices.append(end)
    rounded = np.clip(round_to_tick(np.array(prices), tick_size), bar.low, bar.high)
    digits = tick_decimals(tick_size)
    values = [round(float(p), digits) for p in rounded]
    # The waypoints are stored prices already (maybe off the tick grid): keep them exact.
    position = 0
    for leg in range(4):
        values[position] = waypoints[leg]
        position += 1 + (counts[leg] if leg < 3 else 0)
    return values


def replay_ticks(
    bars: Iterable[StoredBar], *, token: int, tick_size: float, ticks_per_bar: int = DEFAULT_TICKS_PER_BAR,
    has_volume: bool = True,
) -> list[dict[str, Any]]:
    """Ticks for `bars` (time order), with event times inside each bar's minute."""
    ticks: list[dict[str, Any]] = []
    cumulative = 0
    day: int | None = None
    for bar in bars:
        if ist_day(bar.time_ms) != day:
            day, cumulative = ist_day(bar.time_ms), 0
        prices = bar_prices(bar, ticks_per_bar, tick_size)
        n = len(prices)
        for k, price in enumerate(prices):
            tick: dict[str, Any] = {"token": token, "ts": bar.time_ms + (k * MS_PER_MINUTE) // n, "ltp": price}
            if has_volume:
                tick["volume"] = cumulative + (bar.volume * (k + 1)) // n
            if bar.oi is not None:
                tick["oi"] = bar.oi
            ticks.append(tick)
        cumulative += bar.volume
    return ticks


def wall_offsets_ms(ticks: Sequence[dict[str, Any]], speed: float) -> list[float]:
    """When each tick is due, in wall-clock ms after the first, at `speed` times real time."""
    if not ticks:
        return []
    first = ticks[0]["ts"]
    return [(tick["ts"] - first) / speed for tick in ticks]
