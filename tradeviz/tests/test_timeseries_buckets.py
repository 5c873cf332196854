"""Bucketing: resolution parsing, intraday alignment to 09:15 IST, daily stamps, weekly/monthly stamps.

SQL expressions are evaluated on the test database (plain PostgreSQL `date_bin`, and TimescaleDB's
`time_bucket` when the server has it) and compared with exact expected times and the Python mirror.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from django.db import connection

from tradeviz.errors import InvalidInput
from tradeviz.timeseries.buckets import (
    Resolution,
    Unit,
    bucket_ceil,
    bucket_expressions,
    bucket_floor,
    bucket_sql,
    daily_stamp,
    daily_stamp_sql,
    parse_resolution,
)
from tradeviz.timeseries.detect import clear_timescale_cache, timescale_available
from tradeviz.timeseries.testing import ist, session_minutes

DAY = date(2024, 3, 12)  # a Tuesday
NEXT_DAY = date(2024, 3, 13)


def _eval(expr: str, times: list[datetime]) -> list[datetime]:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {expr} FROM unnest(%s::timestamptz[]) WITH ORDINALITY AS t(time, n) ORDER BY n", [times]
        )
        return [row[0].astimezone(UTC) for row in cursor.fetchall()]


def _hhmm(moments: list[datetime]) -> list[str]:
    return [m.astimezone(ist(DAY, 0, 0).tzinfo).strftime("%H:%M") for m in moments]


def _distinct_sorted(values: list[datetime]) -> list[datetime]:
    return sorted(set(values))


# --- parsing ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "unit", "count", "udf"),
    [
        ("1", Unit.MINUTE, 1, "1"),
        ("3", Unit.MINUTE, 3, "3"),
        ("5", Unit.MINUTE, 5, "5"),
        ("10", Unit.MINUTE, 10, "10"),
        ("15", Unit.MINUTE, 15, "15"),
        ("30", Unit.MINUTE, 30, "30"),
        ("60", Unit.MINUTE, 60, "60"),
        ("120", Unit.MINUTE, 120, "120"),
        ("240", Unit.MINUTE, 240, "240"),
        ("7", Unit.MINUTE, 7, "7"),
        ("375", Unit.MINUTE, 375, "375"),
        ("D", Unit.DAY, 1, "1D"),
        ("1D", Unit.DAY, 1, "1D"),
        ("d", Unit.DAY, 1, "1D"),
        ("W", Unit.WEEK, 1, "1W"),
        ("1W", Unit.WEEK, 1, "1W"),
        ("M", Unit.MONTH, 1, "1M"),
        ("1M", Unit.MONTH, 1, "1M"),
        ("3M", Unit.MONTH, 3, "3M"),
        ("12M", Unit.MONTH, 12, "12M"),
    ],
)
def test_parse_resolution_accepts_udf_spellings(text: str, unit: Unit, count: int, udf: str) -> None:
    res = parse_resolution(text)
    assert res == Resolution(unit, count)
    assert res.udf == udf


@pytest.mark.parametrize(
    "text", ["", "0", "1441", "-5", "1S", "30S", "2D", "2W", "5M", "13M", "abc", "W2", "1.5"]
)
def test_parse_resolution_rejects_others(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_resolution(text)


def test_bucket_sql_rejects_non_intraday() -> None:
    with pytest.raises(InvalidInput):
        bucket_sql("1D", timescale=False)


def test_bucket_sql_rejects_non_column() -> None:
    with pytest.raises(ValueError, match="column reference"):
        bucket_sql("5", "time; DROP TABLE x", timescale=False)


# --- intraday alignment ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_60_minute_bars_open_at_quarter_past_each_hour() -> None:
    session = session_minutes(DAY)
    buckets = _distinct_sorted(_eval(bucket_sql("60", timescale=False), session))
    assert _hhmm(buckets) == ["09:15", "10:15", "11:15", "12:15", "13:15", "14:15", "15:15"]
    # Edges: the first and last minute of each bucket.
    probes = [ist(DAY, 9, 15), ist(DAY, 10, 14), ist(DAY, 10, 15), ist(DAY, 15, 14), ist(DAY, 15, 29)]
    assert _hhmm(_eval(bucket_sql("60", timescale=False), probes)) == [
        "09:15",
        "09:15",
        "10:15",
        "14:15",
        "15:15",
    ]


@pytest.mark.django_db
def test_240_and_120_minute_bars() -> None:
    session = session_minutes(DAY)
    assert _hhmm(_distinct_sorted(_eval(bucket_sql("240", timescale=False), session))) == ["09:15", "13:15"]
    assert _hhmm(_distinct_sorted(_eval(bucket_sql("120", timescale=False), session))) == [
        "09:15",
        "11:15",
        "13:15",
        "15:15",
    ]


@pytest.mark.django_db
def test_375_minute_bar_is_one_per_session() -> None:
    sessions = session_minutes(DAY) + session_minutes(NEXT_DAY)
    buckets = _distinct_sorted(_eval(bucket_sql("375", timescale=False), sessions))
    assert buckets == [ist(DAY, 9, 15).astimezone(UTC), ist(NEXT_DAY, 9, 15).astimezone(UTC)]


@pytest.mark.django_db
def test_7_minute_bars_restart_at_each_session_open() -> None:
    sessions = session_minutes(DAY) + session_minutes(NEXT_DAY)
    buckets = _distinct_sorted(_eval(bucket_sql("7", timescale=False), sessions))
    per_day = len(range(0, 375, 7))  # 54 buckets: 09:15 + 7k up to 15:26
    assert len(buckets) == 2 * per_day
    assert _hhmm(buckets[:3]) == ["09:15", "09:22", "09:29"]
    assert _hhmm(buckets[per_day - 1 : per_day + 2]) == ["15:26", "09:15", "09:22"]
    assert buckets[per_day] == ist(NEXT_DAY, 9, 15).astimezone(UTC)


@pytest.mark.django_db
def test_pre_open_bars_fall_before_the_session_bucket() -> None:
    probes = [ist(DAY, 9, 0), ist(DAY, 9, 14), ist(DAY, 0, 1)]
    assert _hhmm(_eval(bucket_sql("60", timescale=False), probes)) == ["08:15", "08:15", "23:15"]
    # Per-day anchoring floors forward from the day's grid; the day's first bucket starts at 00:00 IST.
    assert _hhmm(_eval(bucket_sql("7", timescale=False), probes)) == ["08:54", "09:08", "00:00"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "minutes", ["1", "3", "5", "7", "10", "15", "25", "30", "45", "60", "75", "120", "240", "375"]
)
def test_sql_matches_python_mirror_over_two_sessions(minutes: str) -> None:
    sessions = session_minutes(DAY) + session_minutes(NEXT_DAY) + [ist(DAY, 9, 0), ist(DAY, 23, 59)]
    expected = [bucket_floor(minutes, t) for t in sessions]
    assert _eval(bucket_sql(minutes, timescale=False), sessions) == expected


@pytest.mark.django_db
def test_timescale_time_bucket_matches_date_bin() -> None:
    clear_timescale_cache()
    if not timescale_available():
        pytest.skip("TimescaleDB is not installed in the test database (time_bucket unavailable)")
    sessions = session_minutes(DAY) + session_minutes(NEXT_DAY)
    for minutes in ("1", "5", "15", "60", "240", "7", "375"):
        assert _eval(bucket_sql(minutes, timescale=True), sessions) == _eval(
            bucket_sql(minutes, timescale=False), sessions
        )


def test_bucket_ceil() -> None:
    assert bucket_ceil("5", ist(DAY, 9, 15)) == ist(DAY, 9, 15).astimezone(UTC)
    assert bucket_ceil("5", ist(DAY, 9, 16)) == ist(DAY, 9, 20).astimezone(UTC)
    assert bucket_ceil("1D", ist(DAY, 9, 16)) == ist(NEXT_DAY, 0, 0).astimezone(UTC)
    assert bucket_ceil("7", ist(DAY, 23, 58)) == ist(NEXT_DAY, 0, 0).astimezone(UTC)


# --- daily / weekly / monthly ----------------------------------------------------------------------


@pytest.mark.django_db
def test_daily_stamp_is_midnight_utc_of_the_ist_date() -> None:
    probes = [ist(DAY, 9, 15), ist(DAY, 15, 29), ist(DAY, 0, 30), ist(DAY, 23, 59)]
    expected = datetime(2024, 3, 12, tzinfo=UTC)
    assert _eval(daily_stamp_sql(), probes) == [expected] * 4
    assert [daily_stamp(t) for t in probes] == [expected] * 4
    # 00:30 IST on the 12th is 19:00 UTC on the 11th: still the 12th's bar.
    assert ist(DAY, 0, 30).astimezone(UTC).date() == date(2024, 3, 11)


def _periods(resolution: str, days: list[date]) -> list[tuple[Any, datetime]]:
    expr = bucket_expressions(resolution, timescale=False)
    assert expr.stamp_is_aggregate
    times = [ist(d, 9, 15) for d in days] + [ist(d, 15, 29) for d in days]
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {expr.group_key}, {expr.stamp} FROM unnest(%s::timestamptz[]) AS t(time) "
            f"GROUP BY {expr.group_key} ORDER BY 2",
            [times],
        )
        return [(row[0], row[1].astimezone(UTC)) for row in cursor.fetchall()]


def _stamp(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=UTC)


@pytest.mark.django_db
def test_weekly_stamp_is_first_trading_day_present() -> None:
    # 2024-03-25 (Monday, Holi) and 2024-03-29 (Good Friday) were NSE holidays.
    days = [date(2024, 3, 18), date(2024, 3, 22), date(2024, 3, 26), date(2024, 3, 27), date(2024, 3, 28)]
    periods = _periods("W", days)
    assert [stamp for _, stamp in periods] == [_stamp(date(2024, 3, 18)), _stamp(date(2024, 3, 26))]


@pytest.mark.django_db
def test_weekly_groups_cross_month_ends() -> None:
    days = [date(2024, 4, 29), date(2024, 4, 30), date(2024, 5, 2), date(2024, 5, 3), date(2024, 5, 6)]
    assert [stamp for _, stamp in _periods("1W", days)] == [
        _stamp(date(2024, 4, 29)),
        _stamp(date(2024, 5, 6)),
    ]


@pytest.mark.django_db
def test_monthly_stamp_is_first_trading_day_present() -> None:
    # June 2024 starts on a Saturday: its first trading day is Monday the 3rd.
    days = [date(2024, 5, 31), date(2024, 6, 3), date(2024, 6, 28), date(2024, 7, 1)]
    assert [stamp for _, stamp in _periods("M", days)] == [
        _stamp(date(2024, 5, 31)),
        _stamp(date(2024, 6, 3)),
        _stamp(date(2024, 7, 1)),
    ]


@pytest.mark.django_db
def test_quarterly_and_yearly_stamps() -> None:
    days = [date(2024, 1, 1), date(2024, 3, 28), date(2024, 4, 1), date(2024, 12, 31), date(2025, 1, 1)]
    assert [stamp for _, stamp in _periods("3M", days)] == [
        _stamp(date(2024, 1, 1)),
        _stamp(date(2024, 4, 1)),
        _stamp(date(2024, 12, 31)),
        _stamp(date(2025, 1, 1)),
    ]
    assert [stamp for _, stamp in _periods("12M", days)] == [
        _stamp(date(2024, 1, 1)),
        _stamp(date(2025, 1, 1)),
    ]


def test_bucket_expressions_for_intraday_and_daily_are_row_expressions() -> None:
    intraday = bucket_expressions("5", "b.time", timescale=False)
    assert intraday.group_key == intraday.stamp
    assert not intraday.stamp_is_aggregate
    assert intraday.stamp == "date_bin(INTERVAL '5 minutes', b.time, TIMESTAMPTZ '2000-01-03 09:15:00+05:30')"
    assert bucket_expressions("5", timescale=True).stamp == (
        "time_bucket(INTERVAL '5 minutes', time, origin => TIMESTAMPTZ '2000-01-03 09:15:00+05:30')"
    )
    daily = bucket_expressions("D", timescale=True)
    assert daily.stamp == "(date_trunc('day', (time AT TIME ZONE 'Asia/Kolkata')) AT TIME ZONE 'UTC')"
