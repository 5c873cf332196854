"""UDF history: bars of one instrument at any resolution, as a ready-to-send JSON body.

Set-based all the way: one SQL statement picks the cheapest source (raw 1-minute bars or a
rollup whose bucket divides the resolution), re-buckets it with the shared bucket expressions
(tradeviz.timeseries.buckets), and builds the `{s, t, o, h, l, c, v}` arrays inside PostgreSQL.
Python never touches individual bars.

Semantics (docs/udf.md): `from` inclusive, `to` exclusive (Unix seconds); bars are stamped with
their open time (daily: 00:00 UTC of the IST trading date; weekly/monthly: the first trading day
of the period present in the data); each bar aggregates its whole bucket, so the bar still
forming is included with everything known so far. With `countback`, exactly that many bars
ending before `to` are returned, reaching back before `from` when needed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from django.conf import settings
from django.db import connection

from tradeviz.timeseries.buckets import (
    Resolution,
    Unit,
    bucket_expressions,
    bucket_floor,
    daily_stamp,
    parse_resolution,
)
from tradeviz.timeseries.detect import timescale_available

RAW_TABLE = "marketdata_bar"
RAW_TIME = "time"
ROLLUP_TIME = "bucket"


@dataclass(frozen=True)
class Source:
    relation: str
    time_column: str
    # What one row of this source covers: minutes for intraday sources, None for the daily rollup.
    minutes: int | None

    @property
    def is_daily(self) -> bool:
        return self.minutes is None


RAW = Source(RAW_TABLE, RAW_TIME, 1)
# Rollups of marketdata_bar kept by tradeviz.timeseries (see marketdata/rollups.py).
INTRADAY_ROLLUPS = (
    Source("marketdata_bar_1h", ROLLUP_TIME, 60),
    Source("marketdata_bar_15m", ROLLUP_TIME, 15),
    Source("marketdata_bar_5m", ROLLUP_TIME, 5),
)
DAILY_ROLLUP = Source("marketdata_bar_1d", ROLLUP_TIME, None)

# The most source rows one bucket of a period resolution can hold (days with data in a period).
MAX_DAYS_IN_PERIOD = {Unit.WEEK: 7, Unit.MONTH: 31}
DAYS_PER_MONTH_UPPER = 31


def pick_source(res: Resolution) -> Source:
    """The coarsest stored relation whose buckets tile the requested ones exactly."""
    if not res.is_intraday:
        return DAILY_ROLLUP
    for source in INTRADAY_ROLLUPS:
        assert source.minutes is not None
        if res.count % source.minutes == 0:
            return source
    return RAW


def _rows_per_bucket(res: Resolution, source: Source) -> int:
    if res.is_intraday:
        assert source.minutes is not None
        return res.count // source.minutes
    if res.is_daily:
        return 1
    days = MAX_DAYS_IN_PERIOD[res.unit]
    return days * res.count if res.unit is Unit.MONTH else days


def _span(res: Resolution) -> timedelta:
    """An upper bound of one bucket's length in time."""
    if res.is_intraday:
        return timedelta(minutes=res.count)
    if res.is_daily:
        return timedelta(days=1)
    if res.unit is Unit.WEEK:
        return timedelta(days=7)
    return timedelta(days=DAYS_PER_MONTH_UPPER * res.count)


@dataclass(frozen=True)
class HistoryRequest:
    instrument_id: int
    resolution: Resolution
    start: datetime
    end: datetime
    countback: int | None

    @property
    def cache_key(self) -> str:
        return f"{self.resolution.udf}:{int(self.start.timestamp())}:{int(self.end.timestamp())}:{self.countback}"


def _aggregate_sql(res: Resolution, source: Source, *, timescale: bool) -> str:
    """SELECT of (t, o, h, l, c, v) buckets from `source`, filtered by %(id)s and [%(lo)s, %(hi)s)."""
    col = source.time_column
    where = f"instrument_id = %(id)s AND {col} >= %(lo)s AND {col} < %(hi)s"
    same_grain = (res.is_intraday and source.minutes == res.count) or (res.is_daily and source.is_daily)
    if same_grain:
        return (
            f"SELECT {col} AS t, open::float8 AS o, high::float8 AS h, low::float8 AS l, close::float8 AS c,"
            f" volume AS v FROM {source.relation} WHERE {where}"
        )
    exprs = bucket_expressions(res, col, timescale=timescale)
    # first/last by time inside each bucket; array_agg with ORDER BY works on both backends.
    return (
        f"SELECT {exprs.stamp} AS t,"
        f" ((array_agg(open ORDER BY {col}))[1])::float8 AS o,"
        f" max(high)::float8 AS h, min(low)::float8 AS l,"
        f" ((array_agg(close ORDER BY {col} DESC))[1])::float8 AS c,"
        f" sum(volume)::bigint AS v"
        f" FROM {source.relation} WHERE {where} GROUP BY {exprs.group_key}"
    )


_JSON_SQL = """
SELECT json_build_object(
    's', 'ok',
    't', array_agg(extract(epoch FROM t)::bigint ORDER BY t),
    'o', array_agg(o ORDER BY t), 'h', array_agg(h ORDER BY t), 'l', array_agg(l ORDER BY t),
    'c', array_agg(c ORDER BY t), 'v', array_agg(v ORDER BY t)
)::text, count(*)
FROM ({bars}) AS picked
"""


def _range_sql(agg: str) -> str:
    bars = f"SELECT * FROM ({agg}) AS b WHERE t >= %(from)s AND t < %(to)s ORDER BY t DESC LIMIT %(cap)s"
    return _JSON_SQL.format(bars=bars)


def _countback_sql(agg_template: str, source: Source) -> str:
    """Countback: the rows needed are bounded by (countback + 2) buckets' worth of source rows.

    The oldest bucket among them may be cut short; it is never among the newest `countback`
    unless there is no older data, so every returned bar is complete.
    """
    col = source.time_column
    lower = (
        f"(SELECT coalesce(min({col}), %(hi)s) FROM (SELECT {col} FROM {source.relation}"
        f" WHERE instrument_id = %(id)s AND {col} < %(hi)s ORDER BY {col} DESC LIMIT %(rows)s) AS recent)"
    )
    agg = agg_template.replace("%(lo)s", lower)
    bars = f"SELECT * FROM ({agg}) AS b WHERE t < %(to)s ORDER BY t DESC LIMIT %(countback)s"
    return _JSON_SQL.format(bars=bars)


def history_json(request: HistoryRequest) -> tuple[bytes, int]:
    """The UDF body for a history request and the number of bars in it (0 → the caller answers no_data)."""
    res = request.resolution
    source = pick_source(res)
    timescale = timescale_available(connection)
    agg = _aggregate_sql(res, source, timescale=timescale)
    params: dict[str, Any] = {
        "id": request.instrument_id,
        "from": request.start,
        "to": request.end,
        "hi": request.end + _span(res),
        "cap": settings.UDF_MAX_BARS,
    }
    if request.countback is not None:
        params["countback"] = min(request.countback, settings.UDF_MAX_BARS)
        params["rows"] = (params["countback"] + 2) * _rows_per_bucket(res, source)
        sql = _countback_sql(agg, source)
    else:
        params["lo"] = request.start - _span(res) if res.is_period else request.start
        sql = _range_sql(agg)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        body, count = cursor.fetchone()
    if not count:
        return b"", 0
    return body.encode(), int(count)


def next_time_before(*, instrument_id: int, resolution: Resolution, before: datetime) -> int | None:
    """Stamp (Unix seconds) of the nearest bar before `before`, for `no_data` answers; None if none."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT max({RAW_TIME}) FROM {RAW_TABLE} WHERE instrument_id = %s AND {RAW_TIME} < %s",
            [instrument_id, before],
        )
        (latest,) = cursor.fetchone()
    if latest is None:
        return None
    stamp = bucket_floor(resolution, latest) if resolution.is_intraday else daily_stamp(latest)
    return int(stamp.timestamp())


def no_data_json(next_time: int | None) -> bytes:
    body: dict[str, object] = {"s": "no_data"}
    if next_time is not None:
        body["nextTime"] = next_time
    return orjson.dumps(body)


def parse_history_request(
    *, instrument_id: int, resolution: str, start: int, end: int, countback: int | None
) -> HistoryRequest:
    return HistoryRequest(
        instrument_id=instrument_id,
        resolution=parse_resolution(resolution),
        start=datetime.fromtimestamp(start, tz=UTC),
        end=datetime.fromtimestamp(end, tz=UTC),
        countback=countback,
    )
