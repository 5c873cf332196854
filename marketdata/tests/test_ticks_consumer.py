"""The tick consumer against the real Redis and database: stream → bars, last prices, acks, bad input,
minute closes and hooks, live events, token reloads, database outages, readiness."""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import OperationalError, connection
from django.test import override_settings
from prometheus_client import REGISTRY

from marketdata.hooks import MinuteClosed, register_minute_close_hook, unregister_minute_close_hook
from marketdata.last_prices import LAST_PRICE_HASH, read_last_prices
from marketdata.live import bar_group
from marketdata.models import Instrument
from marketdata.services.instruments import INSTRUMENTS_VERSION_KEY
from marketdata.tests.factories import make_instrument
from marketdata.ticks import consumer as consumer_module
from marketdata.ticks.consumer import ConsumerConfig, TickConsumer
from marketdata.ticks.readiness import tick_consumer_check
from marketdata.ticks.stream import stream_lag
from marketdata.ticks.testing import FakeClock, ms, reference_bars, stored_bars, xadd_ticks
from marketdata.ticks.tokens import TokenMap
from tradeviz.health import CheckFailed
from tradeviz.redis_client import get_redis

pytestmark = pytest.mark.django_db

T0 = datetime(2025, 12, 1, 4, 30, tzinfo=UTC)  # 10:00 IST, Monday
M0 = ms(T0)
MIN = 60_000
TOKEN_BASE = 970_200_000


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture
def stream() -> Iterator[dict[str, str]]:
    names = {"key": f"test:ticks:{uuid.uuid4().hex[:10]}", "group": "test-consumers"}
    yield names
    client = get_redis()
    client.delete(names["key"])
    for pattern in (f"tv:ticks:closed:{names['key']}:*", f"tv:ticks:minute:{names['key']}:*"):
        for key in client.scan_iter(match=pattern, count=1000):
            client.delete(key)


@pytest.fixture
def instruments(stream: dict[str, str]) -> Iterator[dict[int, Instrument]]:
    made = {
        TOKEN_BASE + k: make_instrument(token=TOKEN_BASE + k, tradingsymbol=f"TSIM{k}", exchange="SIM")
        for k in range(4)
    }
    made[TOKEN_BASE + 9] = make_instrument(token=TOKEN_BASE + 9, tradingsymbol="TNSE9", exchange="NSE")
    yield made
    get_redis().hdel(LAST_PRICE_HASH, *[str(t) for t in [*made, TOKEN_BASE + 50]])


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0.timestamp() + 10 * 60)


@pytest.fixture
def make_consumer(stream: dict[str, str], clock: FakeClock) -> Iterator[Callable[..., TickConsumer]]:
    made: list[TickConsumer] = []

    def make(**overrides: Any) -> TickConsumer:
        config = ConsumerConfig.from_settings(
            stream=stream["key"], group=stream["group"], consumer=f"test-{len(made)}", batch_entries=5,
            block_ms=5, grace_ms=200, publish_interval_ms=0, claim_min_idle_ms=60_000, max_future_ms=10_000,
        )
        consumer = TickConsumer(config.__class__(**{**config.__dict__, **overrides}), clock=clock)
        consumer.tokens = TokenMap(redis_client=get_redis, check_seconds=0)
        made.append(consumer)
        return consumer

    yield make
    for consumer in made:
        consumer.stop_threads()


def drain(*consumers: TickConsumer, key: str, group: str, timeout: float = 30) -> None:
    """Step the consumers until the group has nothing unread or unacknowledged."""
    deadline = time.monotonic() + timeout
    for consumer in consumers:
        consumer.start()
    while True:
        read = sum(consumer.step() for consumer in consumers)
        lag = stream_lag(get_redis(), key=key, group=group)
        if read == 0 and lag is not None and lag.pending == 0 and lag.lag_seconds == 0:
            return
        assert time.monotonic() < deadline, f"not drained: {lag}"


def random_ticks(tokens: list[int], *, seed: int, per_token: int = 200, minutes: int = 5, start_ms: int = M0
                 ) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    ticks = []
    for token in tokens:
        volume = rng.randrange(0, 10_000)
        for ts in sorted(rng.randrange(start_ms, start_ms + minutes * MIN) for _ in range(per_token)):
            volume += rng.randrange(0, 100)
            ticks.append({"token": token, "ts": ts, "ltp": round(rng.uniform(990, 1010), 2), "volume": volume,
                          "oi": rng.randrange(5000, 6000), "bid": 1.0, "ask": 2.0, "bid_qty": 3, "ask_qty": 4,
                          "depth": {"buy": [[1.0, 3, 1]], "sell": [[2.0, 4, 1]]}})
    # Mostly in time order, as a feed sends them, with local disorder (out-of-order within seconds).
    ticks.sort(key=lambda t: t["ts"] + rng.randrange(0, 3_000))
    return ticks


def ids_of(instruments: dict[int, Instrument]) -> dict[int, int]:
    return {token: inst.pk for token, inst in instruments.items()}


def test_ticks_become_bars_last_prices_and_acknowledged_entries(
    instruments: dict[int, Instrument], stream: dict[str, str], make_consumer: Callable[..., TickConsumer]
) -> None:
    tokens = list(instruments)[:4]
    ticks = random_ticks(tokens, seed=1)
    # A first tick mid-minute: the bar is stamped with the minute's start and opens at that tick.
    ticks.append({"token": tokens[0], "ts": M0 + 7 * MIN + 42_500, "ltp": 1234.5, "volume": 10**6})
    entry_ids = xadd_ticks(get_redis(), stream["key"], ticks, per_entry=37)
    ingested, bars_written = metric("tradeviz_ticks_ingested_total"), metric("tradeviz_bars_written_total")

    consumer = make_consumer()
    drain(consumer, **stream)

    expected = reference_bars(ticks, instrument_of=ids_of(instruments))
    assert stored_bars([instruments[t].pk for t in tokens]) == expected
    assert expected[(instruments[tokens[0]].pk, M0 + 7 * MIN)] == {
        "open": 1234.5, "high": 1234.5, "low": 1234.5, "close": 1234.5,
        "volume": 10**6 - max(t["volume"] for t in ticks if t["token"] == tokens[0] and t["ts"] < M0 + 7 * MIN),
        "oi": None,
    }
    assert consumer.entries_acked == len(entry_ids)
    assert metric("tradeviz_ticks_ingested_total") - ingested == len(ticks)
    assert metric("tradeviz_bars_written_total") - bars_written >= len(expected)
    latest = {}
    for tick in ticks:
        if tick["ts"] >= latest.get(tick["token"], {"ts": -1})["ts"]:
            latest[tick["token"]] = tick
    quotes = read_last_prices(tokens)
    assert quotes == {
        token: {k: v for k, v in latest[token].items() if k in ("ltp", "ts", "bid", "ask", "bid_qty", "ask_qty",
                                                                  "volume", "oi", "depth")}
        for token in tokens
    }
    # The book travels as [price, qty, orders] levels, which the market-depth API reads.
    assert quotes[tokens[1]]["depth"] == {"buy": [[1.0, 3, 1]], "sell": [[2.0, 4, 1]]}


def test_duplicate_entries_change_nothing(
    instruments: dict[int, Instrument], stream: dict[str, str], make_consumer: Callable[..., TickConsumer]
) -> None:
    tokens = list(instruments)[:2]
    ticks = random_ticks(tokens, seed=2, per_token=120)
    xadd_ticks(get_redis(), stream["key"], ticks, per_entry=10)
    xadd_ticks(get_redis(), stream["key"], ticks[::-1], per_entry=7)  # every tick again, other order
    xadd_ticks(get_redis(), stream["key"], ticks[:50], per_entry=50)
    drain(make_consumer(), **stream)
    assert stored_bars([instruments[t].pk for t in tokens]) == reference_bars(ticks, instrument_of=ids_of(instruments))


def test_bad_input_is_counted_and_skipped_and_the_rest_ingested(
    instruments: dict[int, Instrument], stream: dict[str, str], make_consumer: Callable[..., TickConsumer],
    caplog: pytest.LogCaptureFixture,
) -> None:
    sim, nse = TOKEN_BASE, TOKEN_BASE + 9
    client = get_redis()
    good = [{"token": sim, "ts": M0 + 1_000, "ltp": 10.0, "volume": 5}]
    bad_json_id = client.xadd(stream["key"], {"d": b'[{"token": 1, "ts": 2, "ltp": NaN'})
    client.xadd(stream["key"], {"other": b"x"})
    client.xadd(stream["key"], {"d": orjson.dumps([
        *good,
        {"token": TOKEN_BASE + 50, "ts": M0, "ltp": 1.0},  # unknown token
        {"token": sim, "ts": M0, "ltp": -3.0},
        {"token": sim, "ltp": 3.0},
        {"token": nse, "ts": M0 + 2_000, "ltp": 20.0},  # 10:00 IST: in the NSE session
        {"token": nse, "ts": M0 - 3 * 3_600_000, "ltp": 21.0},  # 07:00 IST: outside
    ])})
    before = {r: metric("tradeviz_ticks_rejected_total", reason=r) for r in ("bad_json", "bad_entry", "unknown_token",
                                                                              "bad_price", "missing_field")}
    outside = metric("tradeviz_ticks_out_of_session_total")

    consumer = make_consumer()
    drain(consumer, **stream)

    assert {r: metric("tradeviz_ticks_rejected_total", reason=r) - v for r, v in before.items()} == {
        "bad_json": 1, "bad_entry": 1, "unknown_token": 1, "bad_price": 1, "missing_field": 1,
    }
    assert metric("tradeviz_ticks_out_of_session_total") - outside == 1
    assert consumer.entries_acked == 3
    bars = stored_bars([instruments[sim].pk, instruments[nse].pk])
    assert bars == {
        (instruments[sim].pk, M0): {"open": 10.0, "high": 10.0, "low": 10.0, "close": 10.0, "volume": 5, "oi": None},
        (instruments[nse].pk, M0): {"open": 20.0, "high": 20.0, "low": 20.0, "close": 20.0, "volume": 0, "oi": None},
    }
    logged = [r for r in caplog.records if r.getMessage() == "tick consumer: stream entry rejected"]
    assert logged[0].entry_id == bad_json_id.decode()


def test_instruments_loaded_while_running_are_picked_up(
    instruments: dict[int, Instrument], stream: dict[str, str], make_consumer: Callable[..., TickConsumer]
) -> None:
    new_token = TOKEN_BASE + 50
    client = get_redis()
    consumer = make_consumer()
    xadd_ticks(client, stream["key"], [{"token": new_token, "ts": M0, "ltp": 5.0}])
    unknown = metric("tradeviz_ticks_rejected_total", reason="unknown_token")
    drain(consumer, **stream)
    assert metric("tradeviz_ticks_rejected_total", reason="unknown_token") - unknown == 1

    created = make_instrument(token=new_token, tradingsymbol="TSIM50", exchange="SIM")
    client.incr(INSTRUMENTS_VERSION_KEY)  # what load_instruments does after its commit
    # Its first ticks come right away: long before the periodic version check is due.
    consumer.tokens._check_seconds = 3600
    consumer.tokens._next_check = time.monotonic() + 3600
    xadd_ticks(client, stream["key"], [{"token": new_token, "ts": M0 + 1, "ltp": 6.0}])
    drain(consumer, **stream)
    assert metric("tradeviz_ticks_rejected_total", reason="unknown_token") - unknown == 1
    assert stored_bars([created.pk]) == {
        (created.pk, M0): {"open": 6.0, "high": 6.0, "low": 6.0, "close": 6.0, "volume": 0, "oi": None}
    }


def test_database_outage_is_retried_and_nothing_acknowledged_meanwhile(
    instruments: dict[int, Instrument], stream: dict[str, str], make_consumer: Callable[..., TickConsumer],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ticks = random_ticks([TOKEN_BASE], seed=3, per_token=30)
    xadd_ticks(get_redis(), stream["key"], ticks, per_entry=30)
    real_write = consumer_module.write_bars
    failures = []

    def flaky_write(bars: Any) -> Any:
        if len(failures) < 2:
            lag = stream_lag(get_redis(), key=stream["key"], group=stream["group"])
            failures.append(lag.pending if lag else None)
            raise OperationalError("server closed the connection unexpectedly")
        return real_write(bars)

    monkeypatch.setattr(consumer_module, "write_bars", flaky_write)
    monkeypatch.setattr(consumer_module, "BACKOFF_INITIAL_SECONDS", 0.01)
    monkeypatch.setattr(connection, "close", lambda: None)  # keep the test's transaction open
    errors = metric("tradeviz_tick_consumer_errors_total", dependency="database")
    drain(make_consumer(), **stream)
    assert failures == [1, 1]  # the entry stayed pending through both failures
    assert metric("tradeviz_tick_consumer_errors_total", dependency="database") - errors == 2
    assert stored_bars([instruments[TOKEN_BASE].pk]) == reference_bars(ticks, instrument_of=ids_of(instruments))


def test_each_minute_closes_once_across_consumers_and_runs_the_hooks(
    instruments: dict[int, Instrument], stream: dict[str, str], make_consumer: Callable[..., TickConsumer],
    clock: FakeClock,
) -> None:
    calls: list[MinuteClosed] = []
    register_minute_close_hook("test-ticks", calls.append)
    try:
        a, b = make_consumer(batch_entries=1), make_consumer(batch_entries=1)
        clock.set((M0 + 55_000) / 1000)
        a.start()
        b.start()
        client = get_redis()
        t1, t2 = TOKEN_BASE, TOKEN_BASE + 1
        xadd_ticks(client, stream["key"], [{"token": t1, "ts": M0 + 5_000, "ltp": 1.0}])
        xadd_ticks(client, stream["key"], [{"token": t2, "ts": M0 + 6_000, "ltp": 2.0}])
        xadd_ticks(client, stream["key"], [{"token": t1, "ts": M0 + MIN + 1_000, "ltp": 3.0}])
        drain(a, b, **stream)
        assert calls == []  # 10:00 is still forming

        clock.set((M0 + MIN + 150) / 1000)  # inside the grace window
        drain(a, b, **stream)
        assert calls == []
        clock.set((M0 + MIN + 250) / 1000)
        drain(a, b, **stream)
        a.hooks.join_pending()
        b.hooks.join_pending()
        assert [(c.minute, sorted(c.instrument_ids)) for c in calls] == [
            (T0, sorted([instruments[t1].pk, instruments[t2].pk]))
        ]
        clock.set((M0 + 3 * MIN) / 1000)
        drain(a, b, **stream)
        a.hooks.join_pending()
        b.hooks.join_pending()
        assert [(c.minute, list(c.instrument_ids)) for c in calls[1:]] == [
            (T0 + timedelta(minutes=1), [instruments[t1].pk])
        ]
        # A late tick for a closed minute merges, but the minute does not close again.
        xadd_ticks(client, stream["key"], [{"token": t2, "ts": M0 + 7_000, "ltp": 9.0}])
        clock.advance(5)
        drain(a, b, **stream)
        assert len(calls) == 2
        assert stored_bars([instruments[t2].pk])[(instruments[t2].pk, M0)]["high"] == 9.0
    finally:
        unregister_minute_close_hook("test-ticks")


def _receive(channel: str, timeout: float = 5.0) -> dict[str, Any]:
    layer = get_channel_layer()

    async def receive() -> dict[str, Any]:
        import asyncio

        return await asyncio.wait_for(layer.receive(channel), timeout)

    return async_to_sync(receive)()


def test_forming_and_closed_bars_are_published_to_the_instrument_group(
    instruments: dict[int, Instrument], stream: dict[str, str], make_consumer: Callable[..., TickConsumer],
    clock: FakeClock,
) -> None:
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    inst = instruments[TOKEN_BASE]
    async_to_sync(layer.group_add)(bar_group(inst.pk), channel)
    try:
        consumer = make_consumer()
        clock.set((M0 + 20_000) / 1000)
        xadd_ticks(get_redis(), stream["key"], [
            {"token": TOKEN_BASE, "ts": M0 + 1_000, "ltp": 100.0, "volume": 10, "oi": 7},
            {"token": TOKEN_BASE, "ts": M0 + 2_000, "ltp": 101.5, "volume": 25, "oi": 8},
        ])
        drain(consumer, **stream)
        forming = _receive(channel)
        expected = {"type": "md.bar", "instrument_id": inst.pk, "token": TOKEN_BASE, "symbol": "SIM:TSIM0",
                    "t": M0 // 1000, "o": 100.0, "h": 101.5, "l": 100.0, "c": 101.5, "v": 25, "oi": 8,
                    "closed": False, "ltp": 101.5, "ts": M0 + 2_000}
        assert forming == expected

        clock.set((M0 + MIN + 300) / 1000)
        drain(consumer, **stream)
        assert _receive(channel) == {**expected, "closed": True}

        # The next minute starts, then a late tick for the closed one arrives: the corrected bar goes out
        # as closed at once, while its ltp stays the instrument's latest price.
        xadd_ticks(get_redis(), stream["key"], [{"token": TOKEN_BASE, "ts": M0 + MIN + 500, "ltp": 105.0, "volume": 40}])
        xadd_ticks(get_redis(), stream["key"], [{"token": TOKEN_BASE, "ts": M0 + 30_000, "ltp": 99.0, "volume": 30}])
        drain(consumer, **stream)
        received = sorted([_receive(channel), _receive(channel)], key=lambda e: e["t"])
        assert received == [
            {**expected, "l": 99.0, "c": 99.0, "v": 30, "closed": True, "ltp": 105.0, "ts": M0 + MIN + 500},
            {**expected, "t": (M0 + MIN) // 1000, "o": 105.0, "h": 105.0, "l": 105.0, "c": 105.0, "v": 10,
             "oi": None, "ltp": 105.0, "ts": M0 + MIN + 500},
        ]
    finally:
        async_to_sync(layer.group_discard)(bar_group(inst.pk), channel)


@pytest.mark.django_db(transaction=True)  # the refresh runs on its own thread and connection
def test_old_buckets_are_acknowledged_after_the_rollup_refresh(
    instruments: dict[int, Instrument], stream: dict[str, str], make_consumer: Callable[..., TickConsumer],
    clock: FakeClock,
) -> None:
    inst = instruments[TOKEN_BASE]
    clock.set((M0 + 12 * MIN) / 1000)  # 10:12 IST: the 10:00 5m bucket is closed
    consumer = make_consumer()
    xadd_ticks(get_redis(), stream["key"], [{"token": TOKEN_BASE, "ts": M0 + 1_000, "ltp": 50.0, "volume": 3}])
    drain(consumer, **stream)
    with connection.cursor() as cursor:
        cursor.execute("SELECT close::float8, volume FROM marketdata_bar_5m_store WHERE instrument_id = %s AND bucket = %s",
                       [inst.pk, T0])
        assert cursor.fetchone() == (50.0, 3)
    assert consumer.entries_acked == 1


def test_readiness_reports_the_group_lag(
    instruments: dict[int, Instrument], stream: dict[str, str], make_consumer: Callable[..., TickConsumer],
) -> None:
    with override_settings(TICK_STREAM=stream["key"], TICK_CONSUMER_GROUP=stream["group"],
                           TICK_READY_MAX_LAG_SECONDS=0.5):
        assert tick_consumer_check() == {
            "note": f"no stream {stream['key']!r} with group {stream['group']!r} yet"
        }
        consumer = make_consumer()
        consumer.start()
        assert tick_consumer_check() == {"pending": 0, "undelivered": 0, "oldest_pending_seconds": 0.0,
                                         "lag_seconds": 0.0}
        xadd_ticks(get_redis(), stream["key"], [{"token": TOKEN_BASE, "ts": M0, "ltp": 1.0}])
        time.sleep(0.6)
        with pytest.raises(CheckFailed, match="tick consumer lags"):
            tick_consumer_check()
        drain(consumer, **stream)
        assert tick_consumer_check()["pending"] == 0


def test_an_entry_the_database_refuses_is_isolated_and_the_rest_written(
    instruments: dict[int, Instrument], stream: dict[str, str], make_consumer: Callable[..., TickConsumer],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from django.db import DataError

    poison = instruments[TOKEN_BASE + 3].pk
    real_write = consumer_module.write_bars

    def picky_write(bars: Any) -> Any:
        if poison in bars.instrument_id.tolist():
            raise DataError("numeric field overflow")
        return real_write(bars)

    monkeypatch.setattr(consumer_module, "write_bars", picky_write)
    good = [{"token": TOKEN_BASE, "ts": M0 + k, "ltp": 10.0 + k} for k in range(3)]
    client = get_redis()
    xadd_ticks(client, stream["key"], good[:2], per_entry=2)
    bad_id = client.xadd(stream["key"], {"d": orjson.dumps([{"token": TOKEN_BASE + 3, "ts": M0, "ltp": 1.0}])})
    xadd_ticks(client, stream["key"], good[2:])
    refused = metric("tradeviz_ticks_rejected_total", reason="db_rejected")
    consumer = make_consumer(batch_entries=10)
    drain(consumer, **stream)
    assert metric("tradeviz_ticks_rejected_total", reason="db_rejected") - refused == 1
    assert consumer.entries_acked == 3
    assert stored_bars([instruments[TOKEN_BASE].pk]) == {
        (instruments[TOKEN_BASE].pk, M0): {"open": 10.0, "high": 12.0, "low": 10.0, "close": 12.0, "volume": 0,
                                           "oi": None}
    }
    assert stored_bars([poison]) == {}
    assert bad_id  # acknowledged as rejected: nothing left pending
    assert stream_lag(client, key=stream["key"], group=stream["group"]).pending == 0


def test_the_readiness_endpoint_includes_the_consumer_check(client: Any) -> None:
    body = client.get("/health/ready").json()
    assert "tick_consumer" in body["checks"]
