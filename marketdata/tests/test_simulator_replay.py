"""Replay: stored 1-minute bars played back as ticks reproduce the bars when re-aggregated."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

import orjson
import pytest
from django.core.management import CommandError, call_command
from hypothesis import given, settings
from hypothesis import strategies as st

from marketdata.models import Instrument
from marketdata.simulator.minutes import aggregate
from marketdata.simulator.replay import StoredBar, bar_prices, replay_ticks
from marketdata.simulator.runner import run_replay
from marketdata.tests.factories import make_instrument, session_minutes, write_bars
from tradeviz.redis_client import get_redis

DAY = date(2026, 11, 27)  # a Friday


@st.composite
def bars(draw: Any) -> StoredBar:
    low = draw(st.integers(1, 100_000)) * 0.05
    high = low + draw(st.integers(0, 400)) * 0.05
    open_ = low + draw(st.integers(0, round((high - low) / 0.05))) * 0.05
    close = low + draw(st.integers(0, round((high - low) / 0.05))) * 0.05
    return StoredBar(0, round(open_, 2), round(high, 2), round(low, 2), round(close, 2), 100, None)


@settings(max_examples=300, deadline=None)
@given(bar=bars(), ticks=st.integers(1, 20))
def test_a_bars_ticks_open_reach_the_extremes_and_close(bar: StoredBar, ticks: int) -> None:
    prices = bar_prices(bar, ticks, 0.05)
    assert len(prices) == max(ticks, 4)
    assert prices[0] == bar.open
    assert prices[-1] == bar.close
    assert max(prices) == bar.high
    assert min(prices) == bar.low


def test_the_path_goes_to_the_nearer_side_first() -> None:
    rising = StoredBar(0, 100.0, 103.0, 99.0, 102.0, 10, None)
    assert bar_prices(rising, 4, 0.05) == [100.0, 99.0, 103.0, 102.0]  # open, low, high, close
    falling = StoredBar(0, 100.0, 101.0, 97.0, 98.0, 10, None)
    assert bar_prices(falling, 4, 0.05) == [100.0, 101.0, 97.0, 98.0]
    assert bar_prices(StoredBar(0, 100.0, 100.0, 100.0, 100.0, 0, None), 6, 0.05) == [100.0] * 6


def test_replay_ticks_sit_inside_their_minute_with_cumulative_volume() -> None:
    minute = 1_796_013_000_000
    stored = [StoredBar(minute + k * 60_000, 10.0, 10.5, 9.5, 10.25, 100 + k, 7 + k) for k in range(3)]
    ticks = replay_ticks(stored, token=5, tick_size=0.05, ticks_per_bar=5)
    assert len(ticks) == 15
    assert [t["ts"] - minute for t in ticks[:5]] == [0, 12_000, 24_000, 36_000, 48_000]
    assert [t["volume"] for t in ticks[:5]] == [20, 40, 60, 80, 100]
    assert ticks[5]["volume"] == 100 + 20
    assert ticks[-1]["volume"] == 100 + 101 + 102
    assert {t["oi"] for t in ticks[10:]} == {9}
    index_ticks = replay_ticks(stored, token=5, tick_size=0.05, has_volume=False)
    assert "volume" not in index_ticks[0]


@pytest.fixture
def stream() -> Iterator[str]:
    key = f"test:sim:replay:{uuid.uuid4().hex}"
    yield key
    get_redis().delete(key)


def read_ticks(stream: str) -> list[dict[str, Any]]:
    return [tick for _, fields in get_redis().xrange(stream) for tick in orjson.loads(fields[b"d"])]


def stored_day(count: int = 375) -> tuple[Instrument, list[tuple[datetime, float, float, float, float, int]]]:
    instrument = make_instrument(token=8001, tradingsymbol="REPLAYCO", tick_size="0.05")
    rows = []
    price = 500.0
    for k, moment in enumerate(session_minutes(datetime(2026, 11, 27), count=count)):
        close = round(price + ((k * 7) % 11 - 5) * 0.05, 2)
        rows.append((moment, price, round(max(price, close) + 0.35, 2), round(min(price, close) - 0.2, 2), close,
                     1_000 + 37 * k))
        price = close
    write_bars(instrument, rows, oi=[float(100 + k) for k in range(count)])
    return instrument, rows


@pytest.mark.django_db
def test_a_replayed_day_reaggregates_to_the_stored_bars(stream: str) -> None:
    instrument, rows = stored_day()
    result = run_replay(symbol="nse:replayco", day=DAY, speed=1e9, stream=stream, stop=threading.Event(),
                        ticks_per_bar=6)
    assert (result.symbol, result.bars, result.ticks) == ("NSE:REPLAYCO", 375, 375 * 6)
    ticks = read_ticks(stream)
    assert len(ticks) == 375 * 6
    assert {t["token"] for t in ticks} == {instrument.instrument_token}
    rebuilt = aggregate(ticks)[instrument.instrument_token]
    assert len(rebuilt) == 375
    for k, (moment, o, h, low, c, v) in enumerate(rows):
        bar = rebuilt[int(moment.timestamp() * 1000)]
        assert bar[:4] == [o, h, low, c], moment
        assert bar[5] == 100 + k
        if k:  # volume from cumulative differences; the first minute has no earlier tick to differ from
            assert bar[4] == v


@pytest.mark.django_db
def test_replay_paces_ticks_at_the_chosen_speed(stream: str) -> None:
    stored_day(count=5)
    started = time.monotonic()
    result = run_replay(symbol="NSE:REPLAYCO", day=DAY, speed=600, stream=stream, stop=threading.Event(),
                        ticks_per_bar=4)
    elapsed = time.monotonic() - started
    # The last tick is at 4 min 45 s of market time: 0.475 s of wall time at 600x.
    assert 0.45 <= elapsed < 2.0
    assert result.entries > 3  # published progressively, not in one go
    assert len(read_ticks(stream)) == 20


@pytest.mark.django_db
def test_the_command_replays_and_rejects_bad_arguments(stream: str, capsys: Any) -> None:
    stored_day(count=10)
    call_command("simulate_market", "--replay", "NSE:REPLAYCO", "--date", "2026-11-27", "--speed", "1e9",
                 "--stream", stream)
    assert "replayed NSE:REPLAYCO 2026-11-27: 10 bars as 60 ticks" in capsys.readouterr().out
    assert len(read_ticks(stream)) == 60
    with pytest.raises(CommandError, match="No instrument"):
        call_command("simulate_market", "--replay", "NSE:NOPE", "--date", "2026-11-27", "--stream", stream)
    with pytest.raises(CommandError, match="no stored bars"):
        call_command("simulate_market", "--replay", "NSE:REPLAYCO", "--date", "2026-11-26", "--stream", stream)
    with pytest.raises(CommandError, match="--date"):
        call_command("simulate_market", "--replay", "NSE:REPLAYCO", "--stream", stream)
    with pytest.raises(CommandError, match="--replay"):
        call_command("simulate_market", "--date", "2026-11-27", "--stream", stream)
    with pytest.raises(CommandError, match="--speed"):
        call_command("simulate_market", "--replay", "NSE:REPLAYCO", "--date", "2026-11-27", "--speed", "0")
