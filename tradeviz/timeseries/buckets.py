"""Bucketing of bars into chart resolutions: one set of SQL expressions that every reader uses.

NSE semantics (see docs/storage.md, "Buckets"):

* Intraday (N minutes): buckets are aligned to the session open, 09:15 Asia/Kolkata. IST is a fixed
  UTC+05:30 with no DST, so for N dividing a day (1440 minutes) one global origin on a past Monday
  09:15 IST aligns every day: 60-minute bars open 09:15, 10:15, … 15:15 IST; 240-minute bars 09:15
  and 13:15. For N that does not divide a day (7, 375, …) a global origin would drift from day to
  day, so the origin is that IST day's 09:15: every session starts a fresh bucket. Bars before 09:15
  (pre-open) fall into buckets that end at or before 09:15 of their day; no per-day bucket crosses
  IST midnight (the day's first bucket is clamped to start at 00:00 IST).
* Daily: stamped 00:00 UTC of the IST trading date (the UDF convention for daily bars).
* Weekly (Monday-start weeks of the IST date) and monthly (calendar months of the IST date; 3M,
  6M, 12M group quarters, half-years and years): grouped by a period key and stamped with the first
  trading day *present in the data* of the period, i.e. `min(daily stamp)` over the group — so a
  week whose Monday is a holiday is stamped on Tuesday.

Everything is a pure SQL expression over the raw time column; nothing runs per row in Python. The
Python helpers (`bucket_floor`, `bucket_ceil`, `daily_stamp`) mirror the SQL for computing window
bounds and for tests; they are never used to bucket rows.
"""

from __future__ import annotations

import enum
import math
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from tradeviz.errors import InvalidInput

MARKET_TZ_NAME = "Asia/Kolkata"
MARKET_TZ = ZoneInfo(MARKET_TZ_NAME)
SESSION_OPEN = time(9, 15)
MINUTES_PER_DAY = 24 * 60
SESSION_OPEN_MINUTE = SESSION_OPEN.hour * 60 + SESSION_OPEN.minute
MONTHS_PER_YEAR = 12
# A Monday session open long before any data: the fixed origin of intraday buckets.
INTRADAY_ORIGIN = datetime(2000, 1, 3, 9, 15, tzinfo=MARKET_TZ)
INTRADAY_ORIGIN_SQL = "TIMESTAMPTZ '2000-01-03 09:15:00+05:30'"
# IST midnight of the same Monday: the origin of 1-day `time_bucket` buckets (continuous aggregates).
DAILY_ORIGIN_SQL = "TIMESTAMPTZ '2000-01-03 00:00:00+05:30'"
# time_bucket('1 day', …, DAILY_ORIGIN) returns IST midnight; adding the UTC offset gives the stamp.
IST_UTC_OFFSET = timedelta(hours=5, minutes=30)
IST_UTC_OFFSET_SQL = "INTERVAL '5 hours 30 minutes'"
# Multi-month resolutions must tile the calendar year so that periods are calendar-aligned.
SUPPORTED_MONTH_COUNTS = (1, 2, 3, 4, 6, 12)

_RESOLUTION_RE = re.compile(r"^(?P<count>\d*)(?P<unit>[DWM]?)$")
_COLUMN_RE = re.compile(r'^("[^"]+"|[A-Za-z_][A-Za-z0-9_]*)(\.("[^"]+"|[A-Za-z_][A-Za-z0-9_]*))?$')


class Unit(enum.StrEnum):
    MINUTE = "minute"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


@dataclass(frozen=True)
class Resolution:
    """A chart resolution: `count` units (minutes, days, weeks or months)."""

    unit: Unit
    count: int

    @property
    def is_intraday(self) -> bool:
        return self.unit is Unit.MINUTE

    @property
    def is_daily(self) -> bool:
        return self.unit is Unit.DAY

    @property
    def is_period(self) -> bool:
        """Weekly or monthly: stamped with min(daily stamp) of a group, so only usable with GROUP BY."""
        return self.unit in (Unit.WEEK, Unit.MONTH)

    @property
    def aligns_globally(self) -> bool:
        """Intraday sizes that divide a day share one origin; the others are anchored per IST day."""
        return self.is_intraday and MINUTES_PER_DAY % self.count == 0

    @property
    def width(self) -> timedelta:
        """Width of a fixed-size bucket (intraday or daily)."""
        if self.is_intraday:
            return timedelta(minutes=self.count)
        if self.is_daily:
            return timedelta(days=self.count)
        raise InvalidInput(f"Resolution {self.udf} has no fixed width.")

    @property
    def udf(self) -> str:
        """The canonical UDF spelling: minutes as digits, `1D`, `1W`, `1M`, `12M`."""
        if self.is_intraday:
            return str(self.count)
        return f"{self.count}{self.unit.value[0].upper()}"

    def __str__(self) -> str:
        return self.udf


def parse_resolution(value: str | Resolution) -> Resolution:
    """Parse a UDF resolution: minute digits (`1` … `1440`), `D`/`1D`, `W`/`1W`, `M`/`1M`, `3M`, `6M`, `12M`.

    Raises InvalidInput for anything else (seconds, `2D`, `5M`, zero, garbage).
    """
    if isinstance(value, Resolution):
        return value
    text = str(value).strip().upper()
    match = _RESOLUTION_RE.match(text)
    if not text or match is None:
        raise InvalidInput(f"Unsupported resolution {value!r}.")
    count_text, unit_text = match.group("count"), match.group("unit")
    if not unit_text:
        minutes = int(count_text)
        if not 1 <= minutes <= MINUTES_PER_DAY:
            raise InvalidInput(f"Unsupported resolution {value!r}: minutes must be 1..{MINUTES_PER_DAY}.")
        return Resolution(Unit.MINUTE, minutes)
    count = int(count_text) if count_text else 1
    if unit_text == "D" and count == 1:
        return Resolution(Unit.DAY, 1)
    if unit_text == "W" and count == 1:
        return Resolution(Unit.WEEK, 1)
    if unit_text == "M" and count in SUPPORTED_MONTH_COUNTS:
        return Resolution(Unit.MONTH, count)
    raise InvalidInput(f"Unsupported resolution {value!r}.")


# --- SQL -------------------------------------------------------------------------------------------


def _check_column(column: str) -> str:
    """Column references are interpolated into SQL, so only plain or quoted identifiers are accepted."""
    if not _COLUMN_RE.match(column):
        raise ValueError(f"Not a column reference: {column!r}")
    return column


def _interval_sql(minutes: int) -> str:
    return f"INTERVAL '{minutes} minutes'"


def _ist_local_sql(column: str) -> str:
    """The IST wall-clock timestamp (without time zone) of a timestamptz column; immutable."""
    return f"({column} AT TIME ZONE '{MARKET_TZ_NAME}')"


def per_day_origin_offset_minutes(minutes: int) -> int:
    """How far before the day's 09:15 the per-day origin sits: a whole number of buckets reaching
    back to (or before) IST midnight, so every row of the day is at or after its origin. That keeps
    `date_bin` flooring forward from the origin (older PostgreSQL releases mis-binned times before it).
    """
    return minutes * math.ceil(SESSION_OPEN_MINUTE / minutes)


def bucket_sql(resolution: str | Resolution, column: str = "time", *, timescale: bool) -> str:
    """SQL for the start of the intraday bucket holding `column` (a timestamptz).

    Minute sizes dividing 1440: `time_bucket(width, col, origin => 2000-01-03 09:15+05:30)` on
    TimescaleDB, `date_bin(width, col, same origin)` on PostgreSQL — identical results.
    Other sizes: `date_bin` with an origin derived from the row's IST date, so each session starts a
    fresh bucket at 09:15 IST (both backends; continuous aggregates cannot use such buckets).
    Raises InvalidInput for non-intraday resolutions (use `daily_stamp_sql` / `bucket_expressions`).
    """
    res = parse_resolution(resolution)
    col = _check_column(column)
    if not res.is_intraday:
        raise InvalidInput(f"bucket_sql is for intraday resolutions, not {res.udf}.")
    width = _interval_sql(res.count)
    if res.aligns_globally:
        if timescale:
            return f"time_bucket({width}, {col}, origin => {INTRADAY_ORIGIN_SQL})"
        return f"date_bin({width}, {col}, {INTRADAY_ORIGIN_SQL})"
    back = per_day_origin_offset_minutes(res.count) - SESSION_OPEN_MINUTE
    day_start_local = f"date_trunc('day', {_ist_local_sql(col)})"
    # (IST date at 00:00 local) - back minutes, read as IST → the per-day origin as timestamptz.
    origin = f"(({day_start_local} - {_interval_sql(back)}) AT TIME ZONE '{MARKET_TZ_NAME}')"
    # The grid may start before midnight; clamping keeps every bucket inside its own IST day.
    day_start = f"({day_start_local} AT TIME ZONE '{MARKET_TZ_NAME}')"
    return f"greatest(date_bin({width}, {col}, {origin}), {day_start})"


def daily_stamp_sql(column: str = "time") -> str:
    """SQL for the daily stamp: 00:00 UTC of the IST date of `column` (timestamptz, immutable)."""
    col = _check_column(column)
    return f"(date_trunc('day', {_ist_local_sql(col)}) AT TIME ZONE 'UTC')"


def daily_time_bucket_sql(column: str = "time") -> str:
    """TimescaleDB form of the IST day bucket: IST midnight as timestamptz (usable in continuous
    aggregates, which need `time_bucket` with a constant origin). Add IST_UTC_OFFSET_SQL to get the
    daily stamp."""
    col = _check_column(column)
    return f"time_bucket(INTERVAL '1 day', {col}, origin => {DAILY_ORIGIN_SQL})"


def period_key_sql(resolution: str | Resolution, column: str = "time") -> str:
    """SQL for the GROUP BY key of a weekly or monthly period of the IST date of `column`.

    Weeks: the IST Monday (`date_trunc('week', …)` on the IST wall-clock timestamp). Months: the first
    of the IST month; for 2/3/4/6/12 months an integer period index (year*12 + month-1) div N.
    """
    res = parse_resolution(resolution)
    local = _ist_local_sql(_check_column(column))
    if res.unit is Unit.WEEK:
        return f"date_trunc('week', {local})"
    if res.unit is Unit.MONTH:
        if res.count == 1:
            return f"date_trunc('month', {local})"
        return (
            f"((date_part('year', {local})::int * {MONTHS_PER_YEAR} + date_part('month', {local})::int - 1)"
            f" / {res.count})"
        )
    raise InvalidInput(f"period_key_sql is for weekly and monthly resolutions, not {res.udf}.")


@dataclass(frozen=True)
class BucketExpressions:
    """How a reader groups rows: `GROUP BY {group_key}` and `SELECT {stamp} AS t`.

    For intraday and daily resolutions both are the same row expression; for weekly and monthly the
    stamp is an aggregate (`min(daily stamp)`) and `stamp_is_aggregate` is True.
    """

    group_key: str
    stamp: str
    stamp_is_aggregate: bool


def bucket_expressions(
    resolution: str | Resolution, column: str = "time", *, timescale: bool
) -> BucketExpressions:
    """The grouping key and the bar stamp for any supported resolution (see the module docstring)."""
    res = parse_resolution(resolution)
    if res.is_intraday:
        expr = bucket_sql(res, column, timescale=timescale)
        return BucketExpressions(group_key=expr, stamp=expr, stamp_is_aggregate=False)
    if res.is_daily:
        expr = daily_stamp_sql(column)
        return BucketExpressions(group_key=expr, stamp=expr, stamp_is_aggregate=False)
    return BucketExpressions(
        group_key=period_key_sql(res, column),
        stamp=f"min({daily_stamp_sql(column)})",
        stamp_is_aggregate=True,
    )


# --- Python mirrors (window bounds and tests) ------------------------------------------------------


def _ist_day_start(moment: datetime) -> datetime:
    return datetime.combine(moment.astimezone(MARKET_TZ).date(), time(0), MARKET_TZ)


def daily_stamp(moment: datetime) -> datetime:
    """00:00 UTC of the IST date of an aware datetime (mirror of `daily_stamp_sql`)."""
    return datetime.combine(moment.astimezone(MARKET_TZ).date(), time(0), UTC)


def ist_date_of_stamp(stamp: datetime) -> date:
    """The trading date a daily stamp stands for."""
    return stamp.astimezone(UTC).date()


def bucket_floor(resolution: str | Resolution, moment: datetime) -> datetime:
    """Raw-time start (UTC) of the intraday or daily bucket holding `moment`.

    For daily buckets this is IST midnight (the raw boundary), not the 00:00 UTC stamp.
    """
    res = parse_resolution(resolution)
    if moment.tzinfo is None:
        raise ValueError("bucket_floor needs an aware datetime")
    if res.is_daily:
        return _ist_day_start(moment).astimezone(UTC)
    if not res.is_intraday:
        raise InvalidInput(f"bucket_floor is for intraday and daily resolutions, not {res.udf}.")
    width = res.width
    if res.aligns_globally:
        return (INTRADAY_ORIGIN + ((moment - INTRADAY_ORIGIN) // width) * width).astimezone(UTC)
    day_start = _ist_day_start(moment)
    origin = day_start - timedelta(minutes=per_day_origin_offset_minutes(res.count) - SESSION_OPEN_MINUTE)
    return max(origin + ((moment - origin) // width) * width, day_start).astimezone(UTC)


def bucket_ceil(resolution: str | Resolution, moment: datetime) -> datetime:
    """The smallest bucket boundary at or after `moment` (raw time, UTC)."""
    res = parse_resolution(resolution)
    start = bucket_floor(res, moment)
    if start == moment:
        return start
    if res.is_intraday and not res.aligns_globally:
        # Per-day buckets: the last one of a day is cut short at the next IST midnight.
        return min(start + res.width, (_ist_day_start(moment) + timedelta(days=1)).astimezone(UTC))
    return start + res.width


def bucket_stamp(resolution: str | Resolution, boundary: datetime) -> datetime:
    """The stamp of the bucket starting at raw boundary `boundary` (identity except for daily)."""
    res = parse_resolution(resolution)
    return daily_stamp(boundary) if res.is_daily else boundary.astimezone(UTC)
