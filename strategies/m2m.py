"""The M2M job: every active strategy marked to market in one vectorised pass per minute.

One run (beat, at the start of each minute, in a Celery worker — never in the web process):

1. **One SQL read** of every open and closed leg of every ACTIVE strategy, with the strategy's
   previous total and the instrument's last mark.
2. **One HMGET** of the distinct instrument tokens from the Redis last-price hash (`tv:ltp`).
   A price is fresh when quoted within `M2M_PRICE_MAX_AGE_SECONDS`. Tokens without a fresh price
   are asked from the ticker service's `/quotes` (the shared client: retries, circuit breaker);
   when that fails too, the token carries its newest known price (the stale Redis value or the
   stored mark; a leg never priced carries its entry price) and its legs are flagged stale.
   Redis being down is not a missing price: the run fails at once, before writing anything, and
   the next minute's run tries again.
3. numpy computes every leg's P&L (open legs: side x units x (price - entry); closed legs:
   side x units x (exit - entry)) and sums per strategy with `bincount`.
4. **One transaction**: a bulk upsert of one candle per strategy for the minute that just closed,
   a bulk update of the strategy totals, and a bulk upsert of the instrument marks. A rerun of
   the same minute updates the candle (open kept, high/low widened, close replaced), never
   duplicates it.
5. After commit: one channel-layer event per owner, lag and duration metrics.

Candles: `time` is the minute just closed (the run at 10:00:00 writes 09:59). A new candle opens
at the strategy's previous total (its last close), so each candle shows the minute's move.
Outside the NSE session a strategy gets a candle only when one of its legs had a fresh price
(the simulator can trade off-hours); in session every active strategy gets one, stale or not.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
from django.db import connection, transaction
from django.utils import timezone

from marketdata.calendar import FIRST_WEEKEND_DAY, REGULAR_CLOSE, REGULAR_OPEN, is_market_open
from marketdata.last_prices import read_last_prices
from marketdata.ticker_client import TickerError, ticker_client
from strategies.conf import m2m_price_max_age_seconds
from strategies.live import publish_m2m
from tradeviz.errors import DataUnavailable
from tradeviz.observability.metrics import (
    M2M_FAILURES,
    M2M_LAG_SECONDS,
    M2M_PRICE_SOURCE,
    M2M_RUN_SECONDS,
    M2M_STALE_LEGS,
    M2M_STRATEGIES,
)

logger = logging.getLogger(__name__)

MINUTE = timedelta(minutes=1)
IST = ZoneInfo("Asia/Kolkata")
SESSION_OPEN, SESSION_CLOSE = REGULAR_OPEN, REGULAR_CLOSE
SOURCE_REDIS = "redis"
SOURCE_TICKER = "ticker"
SOURCE_CARRIED = "carried"

PriceReader = Callable[[Iterable[int]], Mapping[int, Mapping[str, Any]]]
QuoteFetcher = Callable[[list[int]], Mapping[int, Mapping[str, Any]]]

# Legs of active strategies as one comma-separated text of rows x fields, parsed by numpy at C speed:
# fetching 40,000 rows as Python tuples would cost more than the whole rest of the run, and one
# aggregate sorts once (an ordered aggregate per column would sort per column). Every field is a
# number (ids and tokens are far below 2^53, exact as float64); NaN marks a missing value.
_LEG_FIELDS = (
    ("strategy", "s.id"),
    ("owner", "s.owner_id"),
    ("previous_total", "s.current_m2m"),
    ("has_previous", "(s.m2m_updated_at IS NOT NULL)::int"),
    ("instrument", "l.instrument_id"),
    ("token", "i.instrument_token"),
    ("buy", "(l.side = 'BUY')::int"),
    ("quantity", "l.quantity"),
    ("entry", "l.entry_price"),
    ("exit", "coalesce(l.exit_price::text, 'nan')"),
    ("is_open", "(l.status = 'OPEN')::int"),
    ("mark", "coalesce(m.price::text, 'nan')"),
    ("mark_ms", "coalesce((extract(epoch FROM m.price_time) * 1000)::bigint, 0)"),
)
_LEGS_SQL = f"""
SELECT count(*), string_agg(concat_ws(',', {", ".join(expr for _, expr in _LEG_FIELDS)}), ',' ORDER BY s.id, l.id)
FROM strategies_strategy s
JOIN strategies_strategyinstrument l ON l.strategy_id = s.id
JOIN marketdata_instrument i ON i.id = l.instrument_id
LEFT JOIN strategies_instrumentmark m ON m.instrument_id = l.instrument_id
WHERE s.status = 'ACTIVE'
"""  # noqa: S608 - module constants only

_CANDLES_SQL = """
INSERT INTO strategies_m2mcandle AS c (strategy_id, time, open, high, low, close, realised, unrealised, stale_legs)
SELECT v.id, %(minute)s, v.open, greatest(v.open, v.total), least(v.open, v.total), v.total, v.realised,
       v.unrealised, v.stale
FROM unnest(%(id)s::bigint[], %(open)s::float8[], %(total)s::float8[], %(realised)s::float8[],
            %(unrealised)s::float8[], %(stale)s::int[]) AS v(id, open, total, realised, unrealised, stale)
ORDER BY v.id
ON CONFLICT (strategy_id, time) DO UPDATE SET
    high = greatest(c.high, EXCLUDED.close),
    low = least(c.low, EXCLUDED.close),
    close = EXCLUDED.close,
    realised = EXCLUDED.realised,
    unrealised = EXCLUDED.unrealised,
    stale_legs = EXCLUDED.stale_legs
RETURNING c.strategy_id, c.open::float8, c.high::float8, c.low::float8, c.close::float8
"""

_TOTALS_SQL = """
UPDATE strategies_strategy s
SET current_m2m = v.total, realised_pnl = v.realised, unrealised_pnl = v.unrealised, stale_legs = v.stale,
    m2m_updated_at = %(now)s
FROM unnest(%(id)s::bigint[], %(total)s::float8[], %(realised)s::float8[], %(unrealised)s::float8[],
            %(stale)s::int[]) AS v(id, total, realised, unrealised, stale)
WHERE s.id = v.id AND s.status = 'ACTIVE'
"""

_MARKS_SQL = """
INSERT INTO strategies_instrumentmark AS m (instrument_id, price, price_time, source, stale, updated_at)
SELECT v.instrument_id, v.price, to_timestamp(v.price_ms / 1000.0), v.source, v.stale, %(now)s
FROM unnest(%(instrument_id)s::bigint[], %(price)s::float8[], %(price_ms)s::bigint[], %(source)s::text[],
            %(stale)s::bool[]) AS v(instrument_id, price, price_ms, source, stale)
ON CONFLICT (instrument_id) DO UPDATE SET
    price = EXCLUDED.price, price_time = EXCLUDED.price_time, source = EXCLUDED.source, stale = EXCLUDED.stale,
    updated_at = EXCLUDED.updated_at
WHERE (m.price, m.price_time, m.source, m.stale)
      IS DISTINCT FROM (EXCLUDED.price::numeric(18, 4), EXCLUDED.price_time, EXCLUDED.source, EXCLUDED.stale)
"""


def _array(values: npt.NDArray[Any] | list[Any]) -> str:
    """A PostgreSQL array literal. Django binds parameters client-side, and psycopg quotes list items
    one by one in Python; one joined string is ~20x faster for thousands of numbers."""
    items = values.tolist() if isinstance(values, np.ndarray) else values
    return "{" + ",".join(map(str, items)) + "}"


def _bools(values: npt.NDArray[np.bool_]) -> str:
    return "{" + ",".join("t" if v else "f" for v in values.tolist()) + "}"


@dataclass(frozen=True)
class M2MResult:
    minute: datetime
    strategies: int = 0
    legs: int = 0
    stale_legs: int = 0
    candles: int = 0
    pushed: int = 0
    prices: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    push_seconds: float = 0.0
    ticker_error: str | None = None


@dataclass
class _Legs:
    strategy: npt.NDArray[np.int64]
    owner: npt.NDArray[np.int64]
    previous_total: npt.NDArray[np.float64]
    has_previous: npt.NDArray[np.bool_]
    instrument: npt.NDArray[np.int64]
    token: npt.NDArray[np.int64]
    sign: npt.NDArray[np.float64]
    quantity: npt.NDArray[np.float64]
    entry: npt.NDArray[np.float64]
    exit: npt.NDArray[np.float64]
    is_open: npt.NDArray[np.bool_]
    mark: npt.NDArray[np.float64]
    mark_ms: npt.NDArray[np.int64]

    def __len__(self) -> int:
        return int(self.strategy.shape[0])


def _read_legs() -> _Legs:
    with connection.cursor() as cursor:
        cursor.execute(_LEGS_SQL)
        count, text = cursor.fetchone()
    table = np.fromstring(text or "", dtype=np.float64, sep=",").reshape(count, len(_LEG_FIELDS))
    column = {name: table[:, k] for k, (name, _) in enumerate(_LEG_FIELDS)}

    def ints(name: str) -> npt.NDArray[np.int64]:
        return column[name].astype(np.int64)

    return _Legs(
        strategy=ints("strategy"),
        owner=ints("owner"),
        previous_total=column["previous_total"],
        has_previous=column["has_previous"] == 1,
        instrument=ints("instrument"),
        token=ints("token"),
        sign=np.where(column["buy"] == 1, 1.0, -1.0),
        quantity=column["quantity"],
        entry=column["entry"],
        exit=column["exit"],
        is_open=column["is_open"] == 1,
        mark=column["mark"],
        mark_ms=ints("mark_ms"),
    )


@dataclass
class _Prices:
    """Per distinct token: the price to mark at, when it was quoted, where it came from, fresh or not."""

    price: npt.NDArray[np.float64]
    quoted_ms: npt.NDArray[np.int64]
    source: list[str]
    fresh: npt.NDArray[np.bool_]
    ticker_error: str | None = None


def _quote(entry: Mapping[str, Any] | None) -> tuple[float, int] | None:
    if not entry:
        return None
    ltp, ts = entry.get("ltp"), entry.get("ts")
    if isinstance(ltp, bool) or not isinstance(ltp, int | float) or not ltp > 0 or not np.isfinite(ltp):
        return None
    ts_ms = int(ts) if isinstance(ts, int | float) and not isinstance(ts, bool) and np.isfinite(ts) else 0
    return float(ltp), ts_ms


def _ticker_quotes(tokens: list[int]) -> Mapping[int, Mapping[str, Any]]:
    return ticker_client().quotes(tokens)


def _prices(
    tokens: npt.NDArray[np.int64], *, now: datetime, read_prices: PriceReader, fetch_quotes: QuoteFetcher
) -> _Prices:
    """Fresh prices from Redis, then the ticker service for the rest; stale tokens keep the newest known."""
    n = tokens.shape[0]
    now_ms = int(now.timestamp() * 1000)
    oldest_fresh_ms = now_ms - int(m2m_price_max_age_seconds() * 1000)
    price = np.full(n, np.nan)
    quoted = np.zeros(n, np.int64)
    source = [SOURCE_CARRIED] * n
    fresh = np.zeros(n, np.bool_)
    token_list = tokens.tolist()
    # Raises when Redis is down: the run must not continue on guesses.
    from_redis = read_prices(token_list)
    for k, token in enumerate(token_list):
        quote = _quote(from_redis.get(token))
        if quote is None:
            continue
        price[k], quoted[k] = quote
        if quote[1] >= oldest_fresh_ms:
            fresh[k] = True
            source[k] = SOURCE_REDIS
    ticker_error = None
    missing = [token_list[k] for k in np.flatnonzero(~fresh)]
    if missing:
        try:
            quotes = fetch_quotes(missing)
        except TickerError as exc:
            ticker_error = str(exc)
            logger.warning("M2M: ticker quotes unavailable; carrying last prices", extra={"tokens": len(missing),
                                                                                          "error": ticker_error[:200]})
            quotes = {}
        index = {token: k for k, token in enumerate(token_list)}
        for token, entry in quotes.items():
            quote = _quote(entry)
            found = index.get(int(token))
            if quote is None or found is None:
                continue
            k = found
            # The contract allows ts 0 (unknown): the service answered just now.
            ts_ms = quote[1] or now_ms
            if ts_ms >= oldest_fresh_ms:
                price[k], quoted[k], fresh[k], source[k] = quote[0], ts_ms, True, SOURCE_TICKER
            elif ts_ms > quoted[k]:
                price[k], quoted[k] = quote[0], ts_ms
    return _Prices(price, quoted, source, fresh, ticker_error)


def in_session(minute: datetime) -> bool:
    """Whether the NSE session is open at `minute`; without calendar data for the year, a weekday
    09:15-15:30 IST (the job must not stop for missing reference data)."""
    try:
        return is_market_open(minute)
    except DataUnavailable:
        logger.warning("M2M: no market calendar for %s; assuming the regular weekday session", minute.year)
        local = minute.astimezone(IST)
        return local.weekday() < FIRST_WEEKEND_DAY and SESSION_OPEN <= local.time() < SESSION_CLOSE


def closed_minute(now: datetime) -> datetime:
    """The minute that closed most recently at `now` (its open, UTC)."""
    return now.astimezone(UTC).replace(second=0, microsecond=0) - MINUTE


def m2m_run(
    *,
    now: datetime | None = None,
    read_prices: PriceReader = read_last_prices,
    fetch_quotes: QuoteFetcher = _ticker_quotes,
    push: bool = True,
) -> M2MResult:
    """Mark every ACTIVE strategy to market for the minute closed at `now` (module docstring).

    Raises (writing nothing) when the database or Redis fails; idempotent per minute.
    """
    started = time.perf_counter()
    now = now or timezone.now()
    minute = closed_minute(now)
    try:
        result = _run(now=now, minute=minute, read_prices=read_prices, fetch_quotes=fetch_quotes, push=push,
                      started=started)
    except Exception as exc:
        M2M_FAILURES.labels(reason=type(exc).__name__).inc()
        raise
    M2M_RUN_SECONDS.observe(result.seconds)
    return result


def _run(
    *, now: datetime, minute: datetime, read_prices: PriceReader, fetch_quotes: QuoteFetcher, push: bool,
    started: float,
) -> M2MResult:
    legs = _read_legs()
    if not len(legs):
        M2M_STRATEGIES.set(0)
        M2M_STALE_LEGS.set(0)
        return M2MResult(minute=minute, seconds=time.perf_counter() - started)

    tokens, token_of_leg = np.unique(legs.token, return_inverse=True)
    prices = _prices(tokens, now=now, read_prices=read_prices, fetch_quotes=fetch_quotes)

    # Carry: a stale token keeps the newer of its stale quote and its stored mark.
    mark_ms = legs.mark_ms
    leg_price = prices.price[token_of_leg]
    leg_quoted = prices.quoted_ms[token_of_leg]
    leg_fresh = prices.fresh[token_of_leg]
    use_mark = ~leg_fresh & ~np.isnan(legs.mark) & (np.isnan(leg_price) | (mark_ms > leg_quoted))
    leg_price = np.where(use_mark, legs.mark, leg_price)
    leg_quoted = np.where(use_mark, mark_ms, leg_quoted)
    never_priced = np.isnan(leg_price)
    leg_price = np.where(never_priced, legs.entry, leg_price)

    unrealised_leg = np.where(legs.is_open, legs.sign * legs.quantity * (leg_price - legs.entry), 0.0)
    realised_leg = np.where(legs.is_open, 0.0, legs.sign * legs.quantity * (legs.exit - legs.entry))
    stale_leg = legs.is_open & ~leg_fresh
    fresh_open_leg = legs.is_open & leg_fresh

    ids, first, strategy_of_leg = np.unique(legs.strategy, return_index=True, return_inverse=True)
    count = ids.shape[0]
    unrealised = np.bincount(strategy_of_leg, weights=unrealised_leg, minlength=count).astype(np.float64)
    realised = np.bincount(strategy_of_leg, weights=np.nan_to_num(realised_leg), minlength=count).astype(np.float64)
    stale = np.bincount(strategy_of_leg, weights=stale_leg, minlength=count).astype(np.int64)
    has_fresh = np.bincount(strategy_of_leg, weights=fresh_open_leg, minlength=count) > 0
    total = np.round(realised + unrealised, 4)
    previous = legs.previous_total[first]
    open_ = np.where(legs.has_previous[first], previous, total)
    owners = legs.owner[first]

    # In session every active strategy gets its candle (stale or not); off-hours only those with news.
    write = np.ones(count, np.bool_) if in_session(minute) else has_fresh
    rows = np.flatnonzero(write)

    # Marks: one per instrument, as priced this run (carried ones keep their quote time).
    instrument_of_token = np.zeros(tokens.shape[0], np.int64)
    instrument_of_token[token_of_leg] = legs.instrument
    token_price = np.full(tokens.shape[0], np.nan)
    token_price[token_of_leg] = leg_price
    token_quoted = np.zeros(tokens.shape[0], np.int64)
    token_quoted[token_of_leg] = leg_quoted
    priced = ~np.isnan(token_price) & (token_quoted > 0)
    mark_rows = np.flatnonzero(priced)

    candles: list[tuple[int, float, float, float, float]] = []
    with transaction.atomic(), connection.cursor() as cursor:
        if rows.size:
            cursor.execute(
                _CANDLES_SQL,
                {
                    "minute": minute,
                    "id": _array(ids[rows]),
                    "open": _array(open_[rows]),
                    "total": _array(total[rows]),
                    "realised": _array(np.round(realised[rows], 4)),
                    "unrealised": _array(np.round(unrealised[rows], 4)),
                    "stale": _array(stale[rows]),
                },
            )
            candles = cursor.fetchall()
            cursor.execute(
                _TOTALS_SQL,
                {
                    "now": now,
                    "id": _array(ids[rows]),
                    "total": _array(total[rows]),
                    "realised": _array(np.round(realised[rows], 4)),
                    "unrealised": _array(np.round(unrealised[rows], 4)),
                    "stale": _array(stale[rows]),
                },
            )
        if mark_rows.size:
            cursor.execute(
                _MARKS_SQL,
                {
                    "now": now,
                    "instrument_id": _array(instrument_of_token[mark_rows]),
                    "price": _array(token_price[mark_rows]),
                    "price_ms": _array(token_quoted[mark_rows]),
                    "source": _array([prices.source[k] if prices.fresh[k] else SOURCE_CARRIED for k in mark_rows.tolist()]),
                    "stale": _bools(~prices.fresh[mark_rows]),
                },
            )
    committed = timezone.now()

    pushed = 0
    push_started = time.perf_counter()
    if push and candles:
        pushed = _push(candles, ids=ids, owners=owners, realised=realised, unrealised=unrealised, stale=stale,
                       minute=minute)

    push_seconds = time.perf_counter() - push_started
    sources = {SOURCE_REDIS: 0, SOURCE_TICKER: 0, SOURCE_CARRIED: 0}
    for k in range(tokens.shape[0]):
        sources[prices.source[k] if prices.fresh[k] else SOURCE_CARRIED] += 1
    for name, used in sources.items():
        M2M_PRICE_SOURCE.labels(source=name).inc(used)
    stale_total = int(stale[rows].sum()) if rows.size else 0
    M2M_STRATEGIES.set(int(rows.size))
    M2M_STALE_LEGS.set(stale_total)
    if rows.size:
        M2M_LAG_SECONDS.set(max(0.0, (committed - (minute + MINUTE)).total_seconds()))
    seconds = time.perf_counter() - started
    result = M2MResult(
        minute=minute, strategies=int(rows.size), legs=len(legs), stale_legs=stale_total, candles=len(candles),
        pushed=pushed, prices=sources, seconds=seconds, push_seconds=push_seconds, ticker_error=prices.ticker_error,
    )
    logger.info(
        "M2M run", extra={"minute": minute.isoformat(), "strategies": result.strategies, "legs": result.legs,
                          "stale_legs": stale_total, "seconds": round(seconds, 4), "prices": sources},
    )
    return result


def _push(
    candles: list[tuple[int, float, float, float, float]], *, ids: npt.NDArray[np.int64],
    owners: npt.NDArray[np.int64], realised: npt.NDArray[np.float64], unrealised: npt.NDArray[np.float64],
    stale: npt.NDArray[np.int64], minute: datetime,
) -> int:
    position = {int(sid): k for k, sid in enumerate(ids.tolist())}
    stamp = int(minute.timestamp())
    by_owner: dict[int, list[dict[str, Any]]] = {}
    for strategy_id, open_, high, low, close in candles:
        k = position[strategy_id]
        by_owner.setdefault(int(owners[k]), []).append(
            {
                "strategy": strategy_id,
                "time": stamp,
                "open": open_, "high": high, "low": low, "close": close,
                "m2m": close,
                "realised": round(float(realised[k]), 4),
                "unrealised": round(float(unrealised[k]), 4),
                "stale_legs": int(stale[k]),
            }
        )
    return publish_m2m(by_owner.items(), minute=minute.isoformat())
