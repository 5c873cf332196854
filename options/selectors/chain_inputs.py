"""What the analytics start from: per strike and side, the last price, OI and day volume at a minute.

State of a chain at minute M (the minute's open; figures as of its close), for many chains at once,
set-based throughout:

1. The latest minute P < M of the same session day (`session_day`: the trading day whose session has
   begun) whose analytics are stored (`options_expirymetrics`) is the base: its strike rows carry
   each contract's LTP, OI, previous-session OI (OI minus OI change) and day volume up to P. Without
   one (the day's first minute, or nothing stored yet) the base is the contract's last bar before the
   day (within `FO_LOOKBACK_DAYS`) with zero volume.
2. The bars in (P, M] (or [day start, M]) update it: the latest close and OI, plus their volume.

So the per-minute job reads about one bar per contract, not the whole day: summing a day of minute
volumes for 2 400 contracts costs ~230 ms, reading one row each ~15 ms. All contracts of all chains
live in flat arrays (`_Book`), so each result set is applied with a few vectorised operations.

`quotes` overlays the last-price hash (`marketdata.last_prices`): "bidask" takes only bid/ask (the
per-minute job: prices and OI come from the bars), "full" also takes the LTP, OI and the day's
cumulative volume of every tick newer than the bars (the live chain).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from django.conf import settings
from django.db import connection

from marketdata.calendar import previous_trading_day, session_bounds
from marketdata.last_prices import read_last_prices
from options.chains import MISSING, Chain, ContractRef
from options.pricing import IST
from options.sqlarrays import int_array
from tradeviz.errors import DomainError

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
QuoteMode = Literal["none", "bidask", "full"]
MINUTE = timedelta(minutes=1)
MS_PER_SECOND = 1000.0
# NSE's pre-open call auction starts 15 minutes before the session.
PRE_OPEN = timedelta(minutes=15)


@dataclass
class SideInputs:
    """One side (calls or puts) of a chain; NaN = unknown. Times are epoch seconds."""

    ltp: FloatArray
    ltp_time: FloatArray
    oi: FloatArray
    prev_oi: FloatArray  # OI at the previous session's close
    volume: FloatArray  # contracts traded in the IST day so far
    minute_volume: FloatArray  # traded in minute M alone
    bid: FloatArray
    ask: FloatArray

    @classmethod
    def empty(cls, n: int) -> SideInputs:
        return cls(*(np.full(n, np.nan) for _ in range(8)))

    @property
    def oi_change(self) -> FloatArray:
        result: FloatArray = self.oi - self.prev_oi
        return result


@dataclass
class ChainInputs:
    chain: Chain
    minute: datetime  # the last minute whose bars are included (its open)
    ce: SideInputs
    pe: SideInputs
    spot: float = math.nan
    spot_time: float = math.nan
    futures: float = math.nan
    futures_time: float = math.nan
    spot_prev_close: float = math.nan
    quotes: QuoteMode = "none"
    base_minute: datetime | None = None  # the stored minute the state was carried from
    stale_tokens: list[int] = field(default_factory=list)


def day_start(moment: datetime) -> datetime:
    """00:00 IST of the IST date of `moment`, as aware UTC."""
    local = moment.astimezone(IST).date()
    return datetime.combine(local, time.min, tzinfo=IST).astimezone(UTC)


def session_day(moment: datetime, exchange: str) -> date:
    """The trading day whose figures a chain shows at `moment`: today once its session (pre-open
    included) has begun, else the previous trading day — so on a weekend, a holiday or before the open
    the chain shows the last session's volume and OI change, as exchange chains do."""
    today = moment.astimezone(IST).date()
    try:
        bounds = session_bounds(today, exchange)
        if bounds is not None and moment >= bounds[0] - PRE_OPEN:
            return today
        return previous_trading_day(today, exchange)
    except DomainError:
        return today  # no calendar data for the year: the calendar day is the best guess


def session_start(moment: datetime, exchange: str) -> datetime:
    """00:00 IST of `session_day` as aware UTC: where day volume starts and OI change is measured from."""
    return datetime.combine(session_day(moment, exchange), time.min, tzinfo=IST).astimezone(UTC)


def floor_minute(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(second=0, microsecond=0)


_BASE_MINUTE_SQL = """
SELECT c.u, c.e, (
    SELECT m.time FROM options_expirymetrics m
    WHERE m.underlying = c.u AND m.expiry = c.e AND m.time >= %(start)s AND m.time < %(minute)s
    ORDER BY m.time DESC LIMIT 1
)
FROM unnest(%(u)s::text[], %(e)s::date[]) AS c(u, e)
"""

# Every value as float8 with NaN for NULL, so the rows become one numpy array in C.
_BASE_ROWS_SQL = """
SELECT c.i::float8, s.strike::float8,
       coalesce(s.ce_ltp::float8, 'NaN'), coalesce(s.ce_oi::float8, 'NaN'),
       coalesce(s.ce_oi_change::float8, 'NaN'), coalesce(s.ce_volume::float8, 'NaN'),
       coalesce(s.pe_ltp::float8, 'NaN'), coalesce(s.pe_oi::float8, 'NaN'),
       coalesce(s.pe_oi_change::float8, 'NaN'), coalesce(s.pe_volume::float8, 'NaN')
FROM unnest(%(u)s::text[], %(e)s::date[], %(t)s::timestamptz[]) WITH ORDINALITY AS c(u, e, t, i)
CROSS JOIN LATERAL (
    SELECT * FROM options_strikebar s
    WHERE s.underlying = c.u AND s.expiry = c.e AND s.time = c.t
) AS s
"""

# The last bar before the IST day: yesterday's LTP and the OI that "change in OI" is measured from.
_BEFORE_DAY_SQL = """
SELECT i.id::float8, b.close::float8, coalesce(b.oi::float8, 'NaN'), extract(epoch FROM b.time)::float8
FROM unnest(%(ids)s::bigint[]) AS i(id)
CROSS JOIN LATERAL (
    SELECT close, oi, time FROM marketdata_bar
    WHERE instrument_id = i.id AND time < %(start)s AND time >= %(lookback)s
    ORDER BY time DESC LIMIT 1
) AS b
"""

# Plain rows, reduced per contract in numpy: usually one bar each, where GROUP BY with array_agg
# cost more than the index scan.
_DELTA_SQL = """
SELECT instrument_id::float8, extract(epoch FROM time)::float8, volume::float8, close::float8,
       coalesce(oi::float8, 'NaN')
FROM marketdata_bar
WHERE instrument_id = ANY(%(ids)s::bigint[]) AND time >= %(lo)s AND time <= %(minute)s
"""

_LAST_BAR_SQL = """
SELECT i.id, b.close::float8, extract(epoch FROM b.time)::float8
FROM unnest(%(ids)s::bigint[]) AS i(id)
CROSS JOIN LATERAL (
    SELECT close, time FROM marketdata_bar
    WHERE instrument_id = i.id AND time <= %(minute)s AND time >= %(lookback)s
    ORDER BY time DESC LIMIT 1
) AS b
"""


def _f(value: Any) -> float:
    return math.nan if value is None else float(value)


FIELDS = ("ltp", "ltp_time", "oi", "prev_oi", "volume", "minute_volume", "bid", "ask")


class _Book:
    """Every contract of every chain in flat arrays; each chain's SideInputs are views into them.

    Flat index of (chain c, side s, strike i) = offsets[c] + s·n_c + i (s = 0 calls, 1 puts), so a
    result set keyed by contract id is applied with one searchsorted instead of a loop of lookups.
    """

    def __init__(self, chains: Sequence[Chain]) -> None:
        sizes = np.array([2 * c.size for c in chains], dtype=np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        total = int(sizes.sum())
        self.arrays = {name: np.full(total, np.nan) for name in FIELDS}
        self.from_stored = np.zeros(total, dtype=bool)
        self.chain_of = np.repeat(np.arange(len(chains)), sizes)
        ids = (
            np.concatenate([np.concatenate([c.ce_id, c.pe_id]) for c in chains])
            if chains
            else np.zeros(0, np.int64)
        )
        tokens = (
            np.concatenate([np.concatenate([c.ce_token, c.pe_token]) for c in chains])
            if chains
            else np.zeros(0, np.int64)
        )
        self.ids, self.tokens = ids, tokens
        listed = np.flatnonzero(ids != MISSING)
        order = np.argsort(ids[listed], kind="stable")
        self.sorted_ids = ids[listed][order]
        self.sorted_pos = listed[order]

    def sides(self, c: int, n: int) -> tuple[SideInputs, SideInputs]:
        o = int(self.offsets[c])
        ce = SideInputs(*(self.arrays[name][o : o + n] for name in FIELDS))
        pe = SideInputs(*(self.arrays[name][o + n : o + 2 * n] for name in FIELDS))
        return ce, pe

    def positions(self, contract_ids: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """Flat positions of these (listed) contract ids."""
        found: npt.NDArray[np.int64] = self.sorted_pos[np.searchsorted(self.sorted_ids, contract_ids)]
        return found

    def listed_ids(self, mask: npt.NDArray[np.bool_] | None = None) -> npt.NDArray[np.int64]:
        keep = self.ids != MISSING if mask is None else (self.ids != MISSING) & mask
        result: npt.NDArray[np.int64] = self.ids[keep]
        return result


def chain_inputs(
    chains: Sequence[Chain], *, minute: datetime, quotes: QuoteMode = "none"
) -> list[ChainInputs]:
    """The state of each chain at `minute` (its open, aware); see the module docstring."""
    minute = floor_minute(minute)
    by_start: dict[datetime, list[int]] = {}
    for i, chain in enumerate(chains):
        by_start.setdefault(session_start(minute, chain.exchange), []).append(i)
    if len(by_start) > 1:
        # Chains on calendars in different states (a 24x7 SIM chain next to NSE on a holiday).
        grouped: dict[int, ChainInputs] = {}
        for indexes in by_start.values():
            part = chain_inputs([chains[i] for i in indexes], minute=minute, quotes=quotes)
            grouped.update(zip(indexes, part, strict=True))
        return [grouped[i] for i in range(len(chains))]
    start = next(iter(by_start)) if by_start else day_start(minute)
    lookback = start - timedelta(days=settings.FO_LOOKBACK_DAYS)
    book = _Book(chains)
    states = []
    for c, chain in enumerate(chains):
        ce, pe = book.sides(c, chain.size)
        states.append(ChainInputs(chain=chain, minute=minute, ce=ce, pe=pe, quotes=quotes))
    if not chains:
        return states
    with connection.cursor() as cursor:
        _apply_stored_base(cursor, chains, states, book, start=start, minute=minute)
        if not book.from_stored[book.ids != MISSING].all():
            _apply_before_day_base(cursor, book, start=start, lookback=lookback)
        _apply_bars(cursor, states, book, start=start, minute=minute)
        _apply_reference_prices(cursor, chains, states, minute=minute, start=start, lookback=lookback)
    if quotes != "none":
        _apply_quotes(chains, states, book, mode=quotes, start=start)
    return states


def _apply_stored_base(
    cursor: Any,
    chains: Sequence[Chain],
    states: list[ChainInputs],
    book: _Book,
    *,
    start: datetime,
    minute: datetime,
) -> None:
    """Carry each chain's last stored minute of the day into the contracts its rows cover."""
    cursor.execute(
        _BASE_MINUTE_SQL,
        {
            "u": [c.underlying for c in chains],
            "e": [c.expiry for c in chains],
            "start": start,
            "minute": minute,
        },
    )
    base_minutes = {(u, e): t for u, e, t in cursor.fetchall()}
    with_base = [(i, c, base_minutes[c.key]) for i, c in enumerate(chains) if base_minutes.get(c.key)]
    if not with_base:
        return
    for i, _c, t in with_base:
        states[i].base_minute = t
    cursor.execute(
        _BASE_ROWS_SQL,
        {
            "u": [c.underlying for _, c, _ in with_base],
            "e": [c.expiry for _, c, _ in with_base],
            "t": [t for _, _, t in with_base],
        },
    )
    rows = cursor.fetchall()
    if not rows:
        return
    data = np.array(rows, dtype=np.float64)
    row_chain, values = data[:, 0].astype(np.int64) - 1, data[:, 1:]  # ordinals count from 1
    a = book.arrays
    for j, (i, chain, t) in enumerate(with_base):
        mine = values[row_chain == j]
        k = np.searchsorted(chain.strikes, mine[:, 0])
        ok = k < chain.size
        ok[ok] = chain.strikes[k[ok]] == mine[ok, 0]  # strikes since delisted are dropped
        k, mine = k[ok], mine[ok]
        offset = int(book.offsets[i])
        for side, first, ids in ((0, 1, chain.ce_id), (1, 5, chain.pe_id)):
            listed = ids[k] != MISSING
            pos = offset + side * chain.size + k[listed]
            ltp, oi, oi_change, volume = (mine[listed, first + col] for col in range(4))
            a["ltp"][pos], a["oi"][pos], a["volume"][pos] = ltp, oi, volume
            a["ltp_time"][pos] = np.where(np.isnan(ltp), np.nan, t.timestamp())
            a["prev_oi"][pos] = oi - oi_change
            book.from_stored[pos] = True


def _apply_before_day_base(cursor: Any, book: _Book, *, start: datetime, lookback: datetime) -> None:
    """Contracts without a stored minute today start from their last bar before the day."""
    ids = book.listed_ids(~book.from_stored)
    book.arrays["volume"][book.positions(ids)] = 0.0
    cursor.execute(_BEFORE_DAY_SQL, {"ids": int_array(ids), "start": start, "lookback": lookback})
    rows = cursor.fetchall()
    if not rows:
        return
    data = np.array(rows, dtype=np.float64)
    pos = book.positions(data[:, 0].astype(np.int64))
    a = book.arrays
    a["ltp"][pos], a["oi"][pos], a["ltp_time"][pos] = data[:, 1], data[:, 2], data[:, 3]
    a["prev_oi"][pos] = data[:, 2]


def _apply_bars(
    cursor: Any, states: list[ChainInputs], book: _Book, *, start: datetime, minute: datetime
) -> None:
    """Add the bars after each contract's base; one statement per distinct base minute (usually one)."""
    a = book.arrays
    a["minute_volume"][book.ids != MISSING] = 0.0
    lows: dict[datetime, npt.NDArray[np.bool_]] = {}
    base_of_chain = [s.base_minute for s in states]
    for c, base in enumerate(base_of_chain):
        in_chain = book.chain_of == c
        stored_lo = base + MINUTE if base is not None else start
        for lo, mask in ((stored_lo, in_chain & book.from_stored), (start, in_chain & ~book.from_stored)):
            lows[lo] = lows.get(lo, np.zeros(book.ids.shape, dtype=bool)) | mask
    for lo, mask in lows.items():
        ids = book.listed_ids(mask)
        if lo > minute or ids.size == 0:
            continue
        cursor.execute(_DELTA_SQL, {"ids": int_array(ids), "lo": lo, "minute": minute})
        rows = cursor.fetchall()
        if rows:
            _add_bars(book, np.array(rows, dtype=np.float64), minute_ts=minute.timestamp())


def _add_bars(book: _Book, bars: npt.NDArray[np.float64], *, minute_ts: float) -> None:
    """Fold bar rows (id, time, volume, close, oi) into the book: volumes add up, the latest close
    and the latest reported OI win."""
    bars = bars[np.lexsort((bars[:, 1], bars[:, 0]))]
    ids, times, volume, close, oi = bars.T
    n = ids.shape[0]
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    last = np.r_[starts[1:], n] - 1
    pos = book.positions(ids[starts].astype(np.int64))
    a = book.arrays
    a["volume"][pos] = np.nan_to_num(a["volume"][pos], nan=0.0) + np.add.reduceat(volume, starts)
    a["minute_volume"][pos] = np.add.reduceat(np.where(times == minute_ts, volume, 0.0), starts)
    a["ltp"][pos], a["ltp_time"][pos] = close[last], times[last]
    reported = np.maximum.reduceat(np.where(np.isnan(oi), -1, np.arange(n)), starts)
    has_oi = reported >= starts
    a["oi"][pos[has_oi]] = oi[reported[has_oi]]


def _apply_reference_prices(
    cursor: Any,
    chains: Sequence[Chain],
    states: list[ChainInputs],
    *,
    minute: datetime,
    start: datetime,
    lookback: datetime,
) -> None:
    """Spot and futures at the minute, and the spot's previous close (for the day change)."""
    refs: dict[int, ContractRef] = {}
    for chain in chains:
        for ref in (chain.spot, chain.futures):
            if ref is not None:
                refs[ref.id] = ref
    if not refs:
        return
    ids = list(refs)
    cursor.execute(_LAST_BAR_SQL, {"ids": ids, "minute": minute, "lookback": lookback})
    last = {i: (close, ts) for i, close, ts in cursor.fetchall()}
    spot_ids = [c.spot.id for c in chains if c.spot is not None]
    cursor.execute(_BEFORE_DAY_SQL, {"ids": sorted(set(spot_ids)), "start": start, "lookback": lookback})
    prev = {i: close for i, close, _oi, _ts in cursor.fetchall()}
    for chain, state in zip(chains, states, strict=True):
        if chain.spot is not None:
            state.spot, state.spot_time = last.get(chain.spot.id, (math.nan, math.nan))
            state.spot_prev_close = _f(prev.get(chain.spot.id))
        if chain.futures is not None:
            state.futures, state.futures_time = last.get(chain.futures.id, (math.nan, math.nan))


def _quote_number(tick: dict[str, Any], key: str) -> float:
    value = tick.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return math.nan
    number = float(value)
    return number if math.isfinite(number) and number > 0 else math.nan


def _apply_quotes(
    chains: Sequence[Chain], states: list[ChainInputs], book: _Book, *, mode: QuoteMode, start: datetime
) -> None:
    references = {
        ref.token: ref for chain in chains for ref in (chain.spot, chain.futures) if ref is not None
    }
    listed = np.flatnonzero(book.ids != MISSING)
    try:
        ticks = read_last_prices([*book.tokens[listed].tolist(), *references])
    except Exception:
        # The chain still answers from the bars; say so in the log rather than fail the request.
        logger.warning("option chain: last-price hash unavailable; using bars only", exc_info=True)
        return
    day_start_s = start.timestamp()
    a = book.arrays
    for p, token in zip(listed.tolist(), book.tokens[listed].tolist(), strict=True):
        tick = ticks.get(token)
        if not tick:
            continue
        a["bid"][p], a["ask"][p] = _quote_number(tick, "bid"), _quote_number(tick, "ask")
        if mode != "full":
            continue
        ts = _quote_number(tick, "ts") / MS_PER_SECOND
        ltp = _quote_number(tick, "ltp")
        if math.isnan(ts) or math.isnan(ltp):
            continue
        if math.isnan(a["ltp_time"][p]) or ts >= a["ltp_time"][p]:
            a["ltp"][p], a["ltp_time"][p] = ltp, ts
            oi = tick.get("oi")
            if isinstance(oi, int | float) and not isinstance(oi, bool) and oi >= 0:
                a["oi"][p] = float(oi)
            volume = tick.get("volume")
            # The tick's volume is the day's cumulative volume (the tick-stream contract).
            if (
                ts >= day_start_s
                and isinstance(volume, int | float)
                and not isinstance(volume, bool)
                and volume >= 0
            ):
                current = a["volume"][p]
                a["volume"][p] = max(float(volume), 0.0 if math.isnan(current) else current)
    if mode != "full":
        return
    for chain, state in zip(chains, states, strict=True):
        for ref, attr in ((chain.spot, "spot"), (chain.futures, "futures")):
            tick = ticks.get(ref.token) if ref is not None else None
            if not tick:
                continue
            ltp, ts = _quote_number(tick, "ltp"), _quote_number(tick, "ts") / MS_PER_SECOND
            bar_time = getattr(state, f"{attr}_time")
            if not math.isnan(ltp) and not math.isnan(ts) and (math.isnan(bar_time) or ts >= bar_time):
                setattr(state, attr, ltp)
                setattr(state, f"{attr}_time", ts)
