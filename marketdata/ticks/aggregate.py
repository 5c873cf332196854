"""Ticks → one partial bar per (instrument, minute) of a batch, with numpy.

Every value is a function of the *set* of ticks, never of their arrival order, so a batch's bars
merge into stored bars the same way whatever the order, repetition or split of deliveries
(persist.py applies the same rules in SQL):

- open  = ltp of the earliest tick (ties in tick time: the lower price), with `first_ms` its time;
- close = ltp of the latest tick (ties: the higher price), with `last_ms` its time;
- high / low = max / min ltp;
- day_volume = the largest cumulative day volume seen in the minute, which is the one at the
  minute's last tick for a feed whose cumulative volume never falls; ticks without volume add nothing;
- oi = open interest of the latest tick that carries one (ties: the larger).

`volume` here is only a first guess (day_volume minus the previous bar's in this batch); the
database computes the exact one against stored bars (persist.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from marketdata.ticks.decode import NO_VALUE, DecodedTicks
from marketdata.ticks.sessions import market_day_start_ms

MS_PER_MINUTE = 60_000


@dataclass
class MinuteBars:
    """Partial bars sorted by (instrument_id, minute_ms); NO_VALUE marks an absent day_volume / oi."""

    instrument_id: npt.NDArray[np.int64]
    minute_ms: npt.NDArray[np.int64]
    open: npt.NDArray[np.float64]
    high: npt.NDArray[np.float64]
    low: npt.NDArray[np.float64]
    close: npt.NDArray[np.float64]
    first_ms: npt.NDArray[np.int64]
    last_ms: npt.NDArray[np.int64]
    day_volume: npt.NDArray[np.int64]
    oi: npt.NDArray[np.int64]
    volume: npt.NDArray[np.int64]

    def __len__(self) -> int:
        return int(self.instrument_id.shape[0])


def aggregate(ticks: DecodedTicks) -> MinuteBars:
    n = len(ticks)
    if n == 0:
        empty_i = np.zeros(0, dtype=np.int64)
        empty_f = np.zeros(0, dtype=np.float64)
        return MinuteBars(empty_i, empty_i, empty_f, empty_f, empty_f, empty_f, empty_i, empty_i, empty_i,
                          empty_i, empty_i)
    minute = ticks.ts - ticks.ts % MS_PER_MINUTE
    # Last key is primary: instrument, minute, tick time, then price (the tie-break of open and close).
    order = np.lexsort((ticks.ltp, ticks.ts, minute, ticks.instrument_id))
    iid = ticks.instrument_id[order]
    mins = minute[order]
    ts = ticks.ts[order]
    ltp = ticks.ltp[order]
    volume = ticks.volume[order]
    oi = ticks.oi[order]

    boundary = np.empty(n, dtype=bool)
    boundary[0] = True
    np.not_equal(iid[1:], iid[:-1], out=boundary[1:])
    boundary[1:] |= mins[1:] != mins[:-1]
    starts = np.flatnonzero(boundary)
    ends = np.empty_like(starts)
    ends[:-1] = starts[1:] - 1
    ends[-1] = n - 1

    bar_iid = iid[starts]
    bar_minute = mins[starts]
    day_volume = np.maximum.reduceat(volume, starts)  # NO_VALUE (-1) stays when no tick had volume

    bar_oi = np.full(starts.shape[0], NO_VALUE, dtype=np.int64)
    has_oi = np.flatnonzero(oi != NO_VALUE)
    if has_oi.shape[0]:
        group = np.cumsum(boundary) - 1
        g, t, o = group[has_oi], ts[has_oi], oi[has_oi]
        pick = np.lexsort((o, t, g))
        g, o = g[pick], o[pick]
        last = np.flatnonzero(np.r_[g[1:] != g[:-1], True])
        bar_oi[g[last]] = o[last]

    # Volume guess from the previous bar of the same instrument and market day in this batch.
    day = market_day_start_ms(bar_minute)
    ref = np.zeros(starts.shape[0], dtype=np.int64)
    same = np.zeros(starts.shape[0], dtype=bool)
    same[1:] = (bar_iid[1:] == bar_iid[:-1]) & (day[1:] == day[:-1]) & (day_volume[:-1] != NO_VALUE)
    ref[1:] = np.where(same[1:], day_volume[:-1], 0)
    bar_volume = np.where(day_volume != NO_VALUE, np.maximum(day_volume - ref, 0), 0)

    return MinuteBars(
        instrument_id=bar_iid,
        minute_ms=bar_minute,
        open=ltp[starts],
        high=np.maximum.reduceat(ltp, starts),
        low=np.minimum.reduceat(ltp, starts),
        close=ltp[ends],
        first_ms=ts[starts],
        last_ms=ts[ends],
        day_volume=day_volume,
        oi=bar_oi,
        volume=bar_volume,
    )
