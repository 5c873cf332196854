"""What a live subscription starts from: history's newest bucket of one resolution.

The minutes of that bucket are read one by one (at most a day's worth) rather than as one
aggregate, so that live events for those minutes, re-published by the tick consumer while they
form and when they close, replace them instead of counting twice (marketdata/bar_folding.py).
Weekly and monthly buckets take the days before today from UDF history's daily bars.
"""

from __future__ import annotations

from datetime import UTC, datetime, time

import orjson
from django.db import connection

from marketdata.bar_folding import Ohlcv, Seed, bucket_bounds
from marketdata.selectors.history import history_json, parse_history_request
from tradeviz.timeseries.buckets import MARKET_TZ, Resolution, daily_stamp

RAW_TABLE = "marketdata_bar"


def _latest_minute(instrument_id: int, until: datetime) -> datetime | None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT max(time) FROM {RAW_TABLE} WHERE instrument_id = %s AND time <= %s",
            [instrument_id, until],
        )
        (latest,) = cursor.fetchone()
    return latest


def _minutes(instrument_id: int, start: int, end: int) -> list[tuple[int, float, float, float, float, int]]:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT extract(epoch FROM time)::bigint, open::float8, high::float8, low::float8, close::float8,"
            f" volume FROM {RAW_TABLE} WHERE instrument_id = %s AND time >= %s AND time < %s ORDER BY time",
            [instrument_id, datetime.fromtimestamp(start, tz=UTC), datetime.fromtimestamp(end, tz=UTC)],
        )
        return [(int(t), o, h, lo, c, int(v)) for t, o, h, lo, c, v in cursor.fetchall()]


def _days_before(instrument_id: int, start: int, today_stamp: int) -> tuple[int | None, Ohlcv | None]:
    """The days of a period before today, from history's daily bars: (first day's stamp, aggregate)."""
    request = parse_history_request(
        instrument_id=instrument_id, resolution="D", start=start, end=today_stamp, countback=None
    )
    body, count = history_json(request)
    if not count:
        return None, None
    days = orjson.loads(body)
    total: Ohlcv | None = None
    for o, h, lo, c, v in zip(days["o"], days["h"], days["l"], days["c"], days["v"], strict=True):
        day = Ohlcv(o, h, lo, c, int(v))
        total = day if total is None else total.then(day)
    return int(days["t"][0]), total


def bar_seed(*, instrument_id: int, exchange: str, resolution: Resolution, now: datetime) -> Seed | None:
    """History's newest bucket at `resolution` (the forming one while the market trades), or None."""
    latest = _latest_minute(instrument_id, now)
    if latest is None:
        return None
    bounds = bucket_bounds(resolution, exchange, latest)
    base_stamp, base, minutes_from = None, None, bounds.start
    if resolution.is_period:
        today = datetime.combine(latest.astimezone(MARKET_TZ).date(), time(0), MARKET_TZ)
        minutes_from = max(bounds.start, int(today.timestamp()))
        if minutes_from > bounds.start:
            base_stamp, base = _days_before(instrument_id, bounds.start, int(daily_stamp(today).timestamp()))
    return Seed(
        bounds=bounds,
        base_stamp=base_stamp,
        base=base,
        minutes=_minutes(instrument_id, minutes_from, bounds.end),
        minutes_from=minutes_from,
        closed=now.timestamp() >= bounds.close_at,
    )
