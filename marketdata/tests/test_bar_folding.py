"""Folding 1-minute events into longer bars (marketdata/bar_folding.py): bucket bounds that agree with
history's buckets, and merges that count every minute once."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from marketdata.bar_folding import (
    OPEN_WINDOW_MINUTES,
    BarFolder,
    Bucket,
    BucketBounds,
    Ohlcv,
    _raw_bounds,
    bucket_bounds,
    clear_close_cache,
)
from marketdata.calendar import reset_calendar_cache
from marketdata.services.calendar import seed_exchange_holidays
from marketdata.tests.factories import ist
from tradeviz.timeseries.buckets import bucket_floor, parse_resolution


@pytest.fixture(autouse=True)
def _fresh_close_cache() -> Iterator[None]:
    clear_close_cache()
    yield
    clear_close_cache()


def ts(moment: datetime) -> int:
    return int(moment.timestamp())


@pytest.mark.parametrize("minutes", [1, 2, 5, 7, 15, 45, 60, 90, 120, 240, 375, 1440])
def test_intraday_bounds_tile_the_day_like_history_buckets(minutes: int) -> None:
    resolution = parse_resolution(str(minutes))
    day = ist(2026, 11, 23, 0, 0)
    for k in range(24 * 60):
        moment = day + timedelta(minutes=k)
        start, end = _raw_bounds(resolution, moment)
        assert start == bucket_floor(resolution, moment)
        assert start <= moment < end
        # `end` is exactly where history's next bucket starts.
        assert bucket_floor(resolution, end) == end
        assert bucket_floor(resolution, end - timedelta(minutes=1)) == start


def test_sizes_not_dividing_a_day_restart_at_ist_midnight() -> None:
    resolution = parse_resolution("7")
    start, end = _raw_bounds(resolution, ist(2026, 11, 23, 0, 0))
    # 09:15 is on the grid, so the first bucket of the day is cut short at 00:02.
    assert (start, end) == (ist(2026, 11, 23, 0, 0), ist(2026, 11, 23, 0, 2))
    start, end = _raw_bounds(resolution, ist(2026, 11, 23, 23, 59))
    assert end == ist(2026, 11, 24, 0, 0)


@pytest.mark.parametrize(
    ("resolution", "moment", "first", "after"),
    [
        ("W", (2026, 11, 26, 14, 0), (2026, 11, 23), (2026, 11, 30)),
        ("M", (2026, 11, 30, 23, 0), (2026, 11, 1), (2026, 12, 1)),
        ("3M", (2026, 11, 2, 9, 15), (2026, 10, 1), (2027, 1, 1)),
        ("6M", (2026, 3, 2, 9, 15), (2026, 1, 1), (2026, 7, 1)),
        ("12M", (2026, 12, 31, 15, 0), (2026, 1, 1), (2027, 1, 1)),
    ],
)
def test_period_bounds_follow_the_ist_calendar(
    resolution: str, moment: tuple[int, ...], first: tuple[int, int, int], after: tuple[int, int, int]
) -> None:
    start, end = _raw_bounds(parse_resolution(resolution), ist(*moment))
    assert (start, end) == (ist(*first, 0, 0), ist(*after, 0, 0))


@pytest.mark.django_db
def test_buckets_close_with_the_session() -> None:
    seed_exchange_holidays(exchange="NSE", years=[2026], source="merged")
    reset_calendar_cache()
    hourly = bucket_bounds(parse_resolution("60"), "NSE", ist(2026, 11, 23, 15, 20))
    assert (hourly.start, hourly.end, hourly.close_at) == (
        ts(ist(2026, 11, 23, 15, 15)),
        ts(ist(2026, 11, 23, 16, 15)),
        ts(ist(2026, 11, 23, 15, 30)),
    )
    daily = bucket_bounds(parse_resolution("D"), "NSE", ist(2026, 11, 23, 10, 0))
    assert daily.stamp == ts(datetime(2026, 11, 23, tzinfo=UTC))
    assert daily.close_at == ts(ist(2026, 11, 23, 15, 30))
    # The week's last session is Friday's.
    weekly = bucket_bounds(parse_resolution("W"), "NSE", ist(2026, 11, 23, 10, 0))
    assert weekly.close_at == ts(ist(2026, 11, 27, 15, 30))
    # SIM trades around the clock: the bucket's own end.
    sim = bucket_bounds(parse_resolution("60"), "SIM", ist(2026, 11, 28, 23, 30))
    assert sim.close_at == sim.end
    reset_calendar_cache()


@pytest.mark.django_db
def test_a_year_without_calendar_falls_back_to_the_bucket_end(caplog: Any) -> None:
    caplog.set_level(logging.WARNING, logger="marketdata.bar_folding")
    bounds = bucket_bounds(parse_resolution("60"), "NSE", ist(2031, 3, 3, 15, 20))
    assert bounds.close_at == bounds.end
    assert "No calendar for NSE" in caplog.text


def _bucket(start: datetime, minutes: int = 5) -> Bucket:
    end = start + timedelta(minutes=minutes)
    bounds = BucketBounds(start=ts(start), end=ts(end), stamp=ts(start), close_at=ts(end))
    return Bucket(bounds=bounds, stamp=ts(start), sealed_until=ts(start))


def test_a_republished_minute_replaces_its_earlier_version() -> None:
    bucket = _bucket(ist(2026, 11, 23, 9, 15))
    t0 = ts(ist(2026, 11, 23, 9, 15))
    assert bucket.apply(t0, Ohlcv(10, 11, 9, 10.5, 5), closed=False)
    assert bucket.apply(t0, Ohlcv(10, 12, 9, 11.5, 8), closed=False)
    assert bucket.apply(t0 + 60, Ohlcv(11.5, 11.6, 11.0, 11.2, 2), closed=False)
    assert bucket.aggregate() == Ohlcv(10, 12, 9, 11.2, 10)


def test_an_older_version_delivered_late_never_shrinks_a_minute() -> None:
    bucket = _bucket(ist(2026, 11, 23, 9, 15))
    t0 = ts(ist(2026, 11, 23, 9, 15))
    bucket.apply(t0, Ohlcv(10, 12, 8, 11.0, 8), closed=False)
    bucket.apply(t0, Ohlcv(10, 11, 9, 10.5, 5), closed=False)
    assert bucket.aggregate() == Ohlcv(10, 12, 8, 10.5, 8)


def test_minutes_behind_the_open_window_are_sealed() -> None:
    bucket = _bucket(ist(2026, 11, 23, 9, 15), minutes=60)
    t0 = ts(ist(2026, 11, 23, 9, 15))
    for k in range(OPEN_WINDOW_MINUTES + 3):
        assert bucket.apply(t0 + 60 * k, Ohlcv(100 + k, 101 + k, 99 + k, 100.5 + k, 1), closed=False)
    assert len(bucket.minutes) == OPEN_WINDOW_MINUTES + 1
    # An update of a sealed minute cannot be merged without counting it twice: it is ignored.
    assert not bucket.apply(t0, Ohlcv(100, 500, 1, 100.5, 99), closed=True)
    assert bucket.aggregate() == Ohlcv(100, 108, 99, 107.5, OPEN_WINDOW_MINUTES + 3)


def test_the_bar_closes_when_its_last_trading_minute_closes() -> None:
    bucket = _bucket(ist(2026, 11, 23, 9, 15))
    last = ts(ist(2026, 11, 23, 9, 19))
    bucket.apply(last, Ohlcv(1, 1, 1, 1, 1), closed=False)
    assert not bucket.closed
    bucket.apply(last - 60, Ohlcv(1, 1, 1, 1, 1), closed=True)
    assert not bucket.closed
    bucket.apply(last, Ohlcv(1, 1, 1, 1, 1), closed=True)
    assert bucket.closed


def test_the_folder_keeps_the_current_and_the_previous_bucket() -> None:
    folder = BarFolder(parse_resolution("5"), "SIM")
    first, second, third = (ist(2026, 11, 23, 9, 15 + 5 * k) for k in range(3))

    def bounds(start: datetime) -> BucketBounds:
        return BucketBounds(start=ts(start), end=ts(start) + 300, stamp=ts(start), close_at=ts(start) + 300)

    assert folder.starts_new_bucket(ts(first))
    assert folder.open_bucket(bounds(first), ts(first)) is None
    assert folder.open_bucket(bounds(second), ts(second)) is None
    assert folder.bucket_for(ts(first) + 60) is folder.previous
    assert folder.bucket_for(ts(second) + 60) is folder.current
    dropped = folder.open_bucket(bounds(third), ts(third))
    assert dropped is not None
    assert dropped.stamp == ts(first)
    # A minute of the bucket that fell out is neither open nor new.
    assert folder.bucket_for(ts(first)) is None
    assert not folder.starts_new_bucket(ts(first))
