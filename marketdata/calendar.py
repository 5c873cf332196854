"""The market calendar: trading days, session bounds, trading minutes, UDF session strings.

One module that bar alignment, gap detection, the simulator, expiry rules and UDF all ask. It is
called per tick, so holidays and special sessions are cached in-process per (exchange, year). A
change made anywhere (admin, fetch job, seed) bumps a version counter in Redis through
`bump_calendar_version`; every process compares that counter at most every
`VERSION_CHECK_INTERVAL_SECONDS` and drops its cache when it moved, so no restart is needed. When
Redis is unreachable the cached data is kept (and logged) rather than failing ticks.

Conventions:
- Dates are market dates (Asia/Kolkata); instants are aware datetimes, returned in UTC.
- NSE and NFO share the NSE calendar, BSE and BFO the BSE calendar: 09:15-15:30 IST on weekdays
  that are not holidays. A SpecialSession replaces the regular session of its date, also on a
  holiday (Diwali Laxmi Pujan with Muhurat trading) or a weekend.
- `SIM` (the simulated exchange) trades 24x7: every date is one session from 00:00 to 24:00 IST.
- A year without any holiday row raises DataUnavailable: an unknown year is never assumed open.
"""

from __future__ import annotations

import logging
import math
import threading
import time as clock
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

import redis
from django.conf import settings

from marketdata.models import SpecialSession, TradingHoliday
from tradeviz.errors import DataUnavailable, InvalidInput
from tradeviz.redis_client import get_redis

logger = logging.getLogger(__name__)

MARKET_TZ = ZoneInfo(settings.MARKET_TIME_ZONE)
REGULAR_OPEN = time(9, 15)
REGULAR_CLOSE = time(15, 30)
SIM_EXCHANGE = "SIM"
DEFAULT_EXCHANGE = "NSE"
# Derivatives segments trade on the calendar of their cash exchange.
CALENDAR_OF_EXCHANGE = {"NSE": "NSE", "NFO": "NSE", "BSE": "BSE", "BFO": "BSE", SIM_EXCHANGE: SIM_EXCHANGE}
FIRST_WEEKEND_DAY = 5  # date.weekday(): Saturday

# Redis key of the calendar version counter, shared by every process.
VERSION_KEY = "tv:calendar:version"
# How stale a process may be after a change elsewhere; tests lower it.
VERSION_CHECK_INTERVAL_SECONDS = 5.0
# After a failed Redis read, wait this long before asking again, so an outage costs one timeout
# per interval instead of one per tick.
REDIS_FAILURE_BACKOFF_SECONDS = 30.0
# Safety net for writes that bypass the services (raw SQL, a bump lost while Redis was down).
CACHE_MAX_AGE_SECONDS = 900.0
# The longest run of closed days next/previous_trading_day will scan; more means broken data.
MAX_CLOSED_RUN_DAYS = 31


class Session(NamedTuple):
    date: date
    open: datetime
    close: datetime


@dataclass(frozen=True, slots=True)
class DayInfo:
    """What a market date is: `regular`, `special`, `holiday` or `weekend` (with its session if any)."""

    date: date
    kind: str
    description: str
    session: Session | None


@dataclass(frozen=True, slots=True)
class _SpecialHours:
    open_time: time
    close_time: time
    description: str


@dataclass(slots=True)
class _YearData:
    holidays: dict[date, str]
    specials: dict[date, _SpecialHours]
    # Session bounds computed on demand: the hot path (per tick) then costs one dict lookup.
    bounds: dict[date, tuple[datetime, datetime] | None]


class _Cache:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.years: dict[tuple[str, int], _YearData | None] = {}
        self.version: bytes | str | None = None
        self.generation = 0
        self.next_check = -math.inf
        self.loaded_at = clock.monotonic()
        self.redis_failing = False

    def clear(self) -> None:
        self.years = {}
        self.generation += 1
        self.loaded_at = clock.monotonic()


_cache = _Cache()
_ABSENT = object()


# --- cache and invalidation -------------------------------------------------------------------------


def _check_version() -> None:
    now = clock.monotonic()
    if now < _cache.next_check:
        return
    # Only one thread asks Redis; the others carry on with the cached data meanwhile.
    if not _cache.lock.acquire(blocking=False):
        return
    try:
        if now < _cache.next_check:
            return
        if now - _cache.loaded_at > CACHE_MAX_AGE_SECONDS:
            _cache.clear()
        try:
            version = get_redis().get(VERSION_KEY)
        except redis.RedisError:
            if not _cache.redis_failing:
                logger.warning(
                    "calendar: cannot read the cache version from Redis; keeping cached holidays",
                    exc_info=True,
                    extra={"retry_in_seconds": REDIS_FAILURE_BACKOFF_SECONDS},
                )
            _cache.redis_failing = True
            _cache.next_check = now + REDIS_FAILURE_BACKOFF_SECONDS
            return
        if _cache.redis_failing:
            logger.info("calendar: Redis reachable again; cache version checks resumed")
            _cache.redis_failing = False
        if version != _cache.version:
            _cache.clear()
            _cache.version = version
        _cache.next_check = now + VERSION_CHECK_INTERVAL_SECONDS
    finally:
        _cache.lock.release()


def reset_calendar_cache() -> None:
    """Drop this process's cached calendar (tests; other processes follow the Redis version)."""
    with _cache.lock:
        _cache.clear()
        _cache.version = None
        _cache.next_check = -math.inf
        _cache.redis_failing = False


def bump_calendar_version() -> None:
    """Tell every process that holidays or sessions changed. Call after the change is committed.

    This process forgets its cache at once; the others within VERSION_CHECK_INTERVAL_SECONDS.
    """
    with _cache.lock:
        _cache.clear()
        _cache.next_check = -math.inf
    try:
        get_redis().incr(VERSION_KEY)
    except redis.RedisError:
        logger.error(
            "calendar: could not bump the cache version in Redis; other processes pick the change up "
            "within CACHE_MAX_AGE_SECONDS",
            exc_info=True,
            extra={"max_age_seconds": CACHE_MAX_AGE_SECONDS},
        )


def _load_year(exchange: str, year: int) -> _YearData | None:
    holidays = dict(
        TradingHoliday.objects.filter(exchange=exchange, date__year=year).values_list("date", "description")
    )
    if not holidays:
        return None
    specials = {
        row.date: _SpecialHours(row.open_time, row.close_time, row.description)
        for row in SpecialSession.objects.filter(exchange=exchange, date__year=year)
    }
    return _YearData(holidays=holidays, specials=specials, bounds={})


def _year_data(exchange: str, year: int) -> _YearData:
    _check_version()
    key = (exchange, year)
    data = _cache.years.get(key, _ABSENT)
    if data is _ABSENT:
        generation = _cache.generation
        data = _load_year(exchange, year)
        with _cache.lock:
            # A change seen while loading makes this result suspect: use it once, do not keep it.
            if _cache.generation == generation:
                _cache.years[key] = data
    if data is None:
        raise DataUnavailable(
            f"No trading holidays are recorded for {exchange} in {year}; the calendar cannot tell "
            f"which days of {year} are trading days. Seed or add them (manage.py seed_holidays, admin).",
            details={"exchange": exchange, "year": year},
        )
    assert isinstance(data, _YearData)
    return data


# --- pure helpers -----------------------------------------------------------------------------------


def calendar_exchange(exchange: str) -> str:
    """The calendar an exchange code trades on: NFO → NSE, BFO → BSE; unknown codes are invalid."""
    code = (exchange or "").strip().upper()
    try:
        return CALENDAR_OF_EXCHANGE[code]
    except KeyError:
        raise InvalidInput(
            f"Unknown exchange {exchange!r}.", details={"exchange": sorted(CALENDAR_OF_EXCHANGE)}
        ) from None


def market_date(instant: datetime) -> date:
    """The market (IST) date of an aware instant."""
    if instant.tzinfo is None:
        raise InvalidInput("A naive datetime has no market date; pass an aware datetime.")
    return instant.astimezone(MARKET_TZ).date()


def _utc(d: date, wall: time) -> datetime:
    return datetime.combine(d, wall, tzinfo=MARKET_TZ).astimezone(UTC)


def _sim_bounds(d: date) -> tuple[datetime, datetime]:
    return _utc(d, time.min), _utc(d + timedelta(days=1), time.min)


def _bounds(exchange: str, d: date) -> tuple[datetime, datetime] | None:
    data = _year_data(exchange, d.year)
    try:
        return data.bounds[d]
    except KeyError:
        pass
    special = data.specials.get(d)
    bounds: tuple[datetime, datetime] | None
    if special is not None:
        bounds = (_utc(d, special.open_time), _utc(d, special.close_time))
    elif d.weekday() >= FIRST_WEEKEND_DAY or d in data.holidays:
        bounds = None
    else:
        bounds = (_utc(d, REGULAR_OPEN), _utc(d, REGULAR_CLOSE))
    data.bounds[d] = bounds
    return bounds


# --- public reads -----------------------------------------------------------------------------------


def session_bounds(d: date, exchange: str = DEFAULT_EXCHANGE) -> tuple[datetime, datetime] | None:
    """(open, close) of the session on market date `d` as aware UTC datetimes, or None when closed."""
    cal = calendar_exchange(exchange)
    if cal == SIM_EXCHANGE:
        return _sim_bounds(d)
    return _bounds(cal, d)


def is_trading_day(d: date, exchange: str = DEFAULT_EXCHANGE) -> bool:
    """Whether the exchange holds any session on `d` (a special session counts, even on a holiday)."""
    cal = calendar_exchange(exchange)
    if cal == SIM_EXCHANGE:
        return True
    return _bounds(cal, d) is not None


def is_regular_trading_day(d: date, exchange: str = DEFAULT_EXCHANGE) -> bool:
    """A weekday that is not a holiday. Expiry rules use this: a Muhurat-only day is no expiry day."""
    cal = calendar_exchange(exchange)
    if cal == SIM_EXCHANGE:
        return True
    data = _year_data(cal, d.year)
    return d.weekday() < FIRST_WEEKEND_DAY and d not in data.holidays


def is_market_open(instant: datetime, exchange: str = DEFAULT_EXCHANGE) -> bool:
    """Whether `instant` falls inside a session: open inclusive, close exclusive."""
    bounds = session_bounds(market_date(instant), exchange)
    return bounds is not None and bounds[0] <= instant < bounds[1]


def _step_trading_day(d: date, exchange: str, step: int, regular_only: bool) -> date:
    check = is_regular_trading_day if regular_only else is_trading_day
    candidate = d
    for _ in range(MAX_CLOSED_RUN_DAYS):
        candidate += timedelta(days=step)
        if check(candidate, exchange):
            return candidate
    raise DataUnavailable(
        f"No trading day within {MAX_CLOSED_RUN_DAYS} days of {d.isoformat()} on {exchange}; "
        "the holiday data looks wrong.",
        details={"exchange": exchange, "date": d.isoformat()},
    )


def next_trading_day(d: date, exchange: str = DEFAULT_EXCHANGE, *, regular_only: bool = False) -> date:
    """The first trading day strictly after `d` (`regular_only`: skip special-session-only days)."""
    return _step_trading_day(d, exchange, 1, regular_only)


def previous_trading_day(d: date, exchange: str = DEFAULT_EXCHANGE, *, regular_only: bool = False) -> date:
    """The last trading day strictly before `d` (`regular_only`: skip special-session-only days)."""
    return _step_trading_day(d, exchange, -1, regular_only)


def _dates(start_date: date, end_date: date) -> Iterable[date]:
    for offset in range((end_date - start_date).days + 1):
        yield start_date + timedelta(days=offset)


def sessions_in_range(start_date: date, end_date: date, exchange: str = DEFAULT_EXCHANGE) -> list[Session]:
    """Every session whose date lies in [start_date, end_date], in order, as (date, open, close)."""
    sessions = []
    for d in _dates(start_date, end_date):
        bounds = session_bounds(d, exchange)
        if bounds is not None:
            sessions.append(Session(d, bounds[0], bounds[1]))
    return sessions


def trading_minutes_between(start: datetime, end: datetime, exchange: str = DEFAULT_EXCHANGE) -> int:
    """Whole minutes of session time in [start, end) (a full NSE day has 375); 0 when end <= start."""
    if start.tzinfo is None or end.tzinfo is None:
        raise InvalidInput("trading_minutes_between needs aware datetimes.")
    if end <= start:
        return 0
    seconds = 0.0
    for _, open_dt, close_dt in sessions_in_range(market_date(start), market_date(end), exchange):
        overlap = (min(close_dt, end) - max(open_dt, start)).total_seconds()
        if overlap > 0:
            seconds += overlap
    return int(seconds // 60)


def describe_day(d: date, exchange: str = DEFAULT_EXCHANGE) -> DayInfo:
    """The kind of day `d` is and its session, for APIs and dashboards."""
    cal = calendar_exchange(exchange)
    bounds = session_bounds(d, cal)
    session = Session(d, bounds[0], bounds[1]) if bounds is not None else None
    if cal == SIM_EXCHANGE:
        return DayInfo(d, "regular", "", session)
    data = _year_data(cal, d.year)
    special = data.specials.get(d)
    if special is not None:
        return DayInfo(d, "special", special.description, session)
    if d in data.holidays:
        return DayInfo(d, "holiday", data.holidays[d], None)
    if d.weekday() >= FIRST_WEEKEND_DAY:
        return DayInfo(d, "weekend", "", None)
    return DayInfo(d, "regular", "", session)


def session_holidays_string(exchange: str, years: Iterable[int]) -> str:
    """UDF `session_holidays`: weekday holidays without any session, "YYYYMMDD,YYYYMMDD" ascending.

    Holidays with a special session (Muhurat) are left out: they have bars, described by
    `session_corrections_string`. Raises DataUnavailable for a year without holiday data.
    """
    cal = calendar_exchange(exchange)
    if cal == SIM_EXCHANGE:
        return ""
    days: list[date] = []
    for year in sorted(set(years)):
        data = _year_data(cal, year)
        days.extend(d for d in data.holidays if d not in data.specials and d.weekday() < FIRST_WEEKEND_DAY)
    return ",".join(d.strftime("%Y%m%d") for d in sorted(days))


def session_corrections_string(exchange: str, years: Iterable[int]) -> str:
    """UDF `corrections` for special sessions: "1345-1445:20251021;1800-1900:20241101" ascending."""
    cal = calendar_exchange(exchange)
    if cal == SIM_EXCHANGE:
        return ""
    items: list[tuple[date, _SpecialHours]] = []
    for year in sorted(set(years)):
        items.extend(_year_data(cal, year).specials.items())
    return ";".join(
        f"{s.open_time:%H%M}-{s.close_time:%H%M}:{d:%Y%m%d}"
        for d, s in sorted(items, key=lambda item: item[0])
    )


def ensure_years_available(exchange: str, years: Iterable[int]) -> None:
    """Raise DataUnavailable unless every year has holiday data (SIM always has)."""
    cal = calendar_exchange(exchange)
    if cal == SIM_EXCHANGE:
        return
    for year in sorted(set(years)):
        _year_data(cal, year)


def has_year_data(exchange: str, year: int) -> bool:
    """Whether holiday data exists for the year (for callers that may skip a year, e.g. chart marks)."""
    try:
        ensure_years_available(exchange, [year])
    except DataUnavailable:
        return False
    return True


def holidays_in_year(*, exchange: str, year: int) -> list[TradingHoliday]:
    """The holiday rows of a year, straight from the database (admin-fresh); SIM has none.

    Raises DataUnavailable when the year has no holiday data.
    """
    cal = calendar_exchange(exchange)
    if cal == SIM_EXCHANGE:
        return []
    rows = list(TradingHoliday.objects.filter(exchange=cal, date__year=year).order_by("date"))
    if not rows:
        raise DataUnavailable(
            f"No trading holidays are recorded for {cal} in {year}.", details={"exchange": cal, "year": year}
        )
    return rows


def special_sessions_in_year(*, exchange: str, year: int) -> list[SpecialSession]:
    cal = calendar_exchange(exchange)
    if cal == SIM_EXCHANGE:
        return []
    return list(SpecialSession.objects.filter(exchange=cal, date__year=year).order_by("date"))
