"""Losing nothing: a consumer dying between persist and ack, `kill -9` of the real command mid-stream,
graceful SIGTERM, and a Redis restart under a running consumer. Real Redis, real database, real
processes and threads; every tick must end up in bars equal to the reference aggregation."""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from django.conf import settings
from django.db import connection
from django.test import override_settings
from prometheus_client import REGISTRY

from marketdata.last_prices import LAST_PRICE_HASH
from marketdata.models import Instrument
from marketdata.tests.factories import make_instrument
from marketdata.ticks import consumer as consumer_module
from marketdata.ticks.consumer import ConsumerConfig, TickConsumer
from marketdata.ticks.stream import stream_lag
from marketdata.ticks.testing import entries_of, reference_bars, stored_bars, xadd_ticks
from marketdata.ticks.tokens import TokenMap
from tradeviz.devstack.embedded import EmbeddedRedis, free_port_near
from tradeviz.redis_client import get_redis

pytestmark = pytest.mark.django_db(transaction=True)

TOKEN_BASE = 970_300_000
MIN = 60_000
BASE_DIR = Path(settings.BASE_DIR)


class SimulatedCrash(BaseException):
    """Stands in for the process dying: nothing after it runs, nothing is cleaned up."""


@pytest.fixture
def stream() -> Iterator[dict[str, str]]:
    names = {"key": f"test:ticks:{uuid.uuid4().hex[:10]}", "group": "test-recovery"}
    yield names
    try:
        client = get_redis()
        client.delete(names["key"])
        for pattern in (f"tv:ticks:closed:{names['key']}:*", f"tv:ticks:minute:{names['key']}:*"):
            for key in client.scan_iter(match=pattern, count=1000):
                client.delete(key)
    except redis.RedisError:
        pass


@pytest.fixture
def instruments() -> Iterator[dict[int, Instrument]]:
    yield {
        TOKEN_BASE + k: make_instrument(token=TOKEN_BASE + k, tradingsymbol=f"RSIM{k}", exchange="SIM")
        for k in range(5)
    }
    with contextlib.suppress(redis.RedisError):  # a test may have left its private Redis configured
        get_redis().hdel(LAST_PRICE_HASH, *[str(TOKEN_BASE + k) for k in range(5)])


def live_ticks(tokens: list[int], *, seed: int, per_token: int, span_ms: int = 3 * MIN) -> list[dict[str, Any]]:
    """Ticks of the last few minutes (SIM trades around the clock), in rough time order."""
    rng = random.Random(seed)
    end = int(time.time() * 1000) - 1_000
    ticks = []
    for token in tokens:
        volume = 0
        for ts in sorted(rng.randrange(end - span_ms, end) for _ in range(per_token)):
            volume += rng.randrange(1, 30)
            ticks.append({"token": token, "ts": ts, "ltp": round(rng.uniform(99, 101), 2), "volume": volume,
                          "oi": rng.randrange(1, 100)})
    ticks.sort(key=lambda t: t["ts"] + rng.randrange(0, 2_000))
    return ticks


def consumer_for(stream: dict[str, str], name: str, **overrides: Any) -> TickConsumer:
    config = ConsumerConfig.from_settings(stream=stream["key"], group=stream["group"], consumer=name,
                                          batch_entries=4, block_ms=20, claim_min_idle_ms=200)
    consumer = TickConsumer(config.__class__(**{**config.__dict__, **overrides}))
    consumer.tokens = TokenMap(redis_client=get_redis, check_seconds=0)
    return consumer


def wait_until(condition: Callable[[], bool], *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def drained(stream: dict[str, str], client: redis.Redis | None = None) -> bool:
    try:
        lag = stream_lag(client or get_redis(), key=stream["key"], group=stream["group"])
    except redis.RedisError:
        return False
    return lag is not None and lag.pending == 0 and lag.lag_seconds == 0


def expected_bars(ticks: list[dict[str, Any]], instruments: dict[int, Instrument]) -> dict[Any, Any]:
    return reference_bars(ticks, instrument_of={t: i.pk for t, i in instruments.items()})


def test_a_consumer_dying_between_persist_and_ack_loses_nothing(
    instruments: dict[int, Instrument], stream: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    ticks = live_ticks(list(instruments), seed=11, per_token=150)
    xadd_ticks(get_redis(), stream["key"], ticks, per_entry=15)

    doomed = consumer_for(stream, "doomed")
    writes = 0
    real_write = consumer_module.write_bars

    def write_then_die(bars: Any) -> Any:
        nonlocal writes
        written = real_write(bars)
        writes += 1
        if writes == 3:
            raise SimulatedCrash  # the third batch is committed, but nothing after it happens
        return written

    monkeypatch.setattr(consumer_module, "write_bars", write_then_die)
    doomed.start()

    def run_until_it_dies() -> None:
        for _ in range(1000):
            doomed.step()

    with pytest.raises(SimulatedCrash):
        run_until_it_dies()
    monkeypatch.setattr(consumer_module, "write_bars", real_write)
    doomed.stop_threads()
    lag = stream_lag(get_redis(), key=stream["key"], group=stream["group"])
    # The crashed batch stays pending (with any batches held back for a rollup refresh).
    assert lag is not None
    assert lag.pending >= 4

    time.sleep(0.25)  # past claim_min_idle_ms: the entries are up for reclaiming
    survivor = consumer_for(stream, "survivor")
    survivor.start()
    wait_until(lambda: survivor.step() == 0 and drained(stream), timeout=30, what="the survivor to drain")
    survivor.shutdown()
    assert stored_bars([i.pk for i in instruments.values()]) == expected_bars(ticks, instruments)


def _command(stream: dict[str, str], name: str, **env: str) -> subprocess.Popen[bytes]:
    db = connection.settings_dict
    environment = {
        **os.environ,
        "DJANGO_ENV": "test",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "REDIS_URL": settings.REDIS_URL,
        "TICK_CLAIM_MIN_IDLE_MS": "300",
        "LOG_LEVEL": "WARNING",
        **env,
    }
    return subprocess.Popen(
        [sys.executable, str(BASE_DIR / "manage.py"), "consume_ticks", "--stream", stream["key"], "--group",
         stream["group"], "--consumer", name, "--batch", "3", "--block-ms", "20"],
        cwd=BASE_DIR, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )


def test_kill_9_mid_stream_then_restart_accounts_for_every_tick(
    instruments: dict[int, Instrument], stream: dict[str, str]
) -> None:
    client = get_redis()
    ticks = live_ticks(list(instruments), seed=12, per_token=600)
    payloads = entries_of(ticks, per_entry=10)
    first_half, second_half = payloads[: len(payloads) // 2], payloads[len(payloads) // 2 :]
    for payload in first_half:  # a backlog, consumed 3 entries per batch
        client.xadd(stream["key"], {"d": payload})

    def read_and_left() -> tuple[int, int]:
        """(entries the group has read, entries not yet acknowledged)."""
        info = next((g for g in client.xinfo_groups(stream["key"]) if g["name"].decode() == stream["group"]), None)
        if info is None:
            return 0, len(first_half)
        return int(info["entries-read"] or 0), int(info["pending"]) + int(info["lag"] or 0)

    first = _command(stream, "kill-1")
    try:
        wait_until(lambda: read_and_left()[0] > 10, timeout=60, what="the first consumer to make progress")
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
    read, left = read_and_left()
    assert read > 10
    assert left > 0  # killed mid-stream: entries read but not acknowledged, or not read yet

    second = _command(stream, "kill-2")
    try:
        for payload in second_half:  # the feed goes on meanwhile
            client.xadd(stream["key"], {"d": payload})
            time.sleep(0.002)
        wait_until(lambda: drained(stream), timeout=90, what="the restarted consumer to drain")
        second.send_signal(signal.SIGTERM)
        assert second.wait(30) == 0, second.stderr.read().decode()[-3000:] if second.stderr else ""
    finally:
        if second.poll() is None:
            second.kill()
    assert stored_bars([i.pk for i in instruments.values()]) == expected_bars(ticks, instruments)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis(tmp_path, port=free_port_near(46479))
    server.start()
    yield server
    server.stop()


@pytest.mark.skipif(not shutil.which("redis-server") and not EmbeddedRedis.executable(), reason="no redis-server")
def test_redis_restart_under_a_running_consumer_loses_nothing(
    instruments: dict[int, Instrument], stream: dict[str, str], private_redis: EmbeddedRedis
) -> None:
    url = private_redis.url
    layers = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [url]}}}
    ticks = live_ticks(list(instruments), seed=13, per_token=400)
    payloads = entries_of(ticks, per_entry=10)
    with override_settings(REDIS_URL=url, CHANNEL_LAYERS=layers):
        get_redis.cache_clear()
        try:
            client = get_redis()
            errors = REGISTRY.get_sample_value("tradeviz_tick_consumer_errors_total", {"dependency": "redis"}) or 0
            consumer = consumer_for(stream, "through-restart")
            runner = threading.Thread(target=consumer.run, name="consumer-under-test")
            runner.start()
            try:
                half = len(payloads) // 2
                for payload in payloads[:half]:
                    client.xadd(stream["key"], {"d": payload})
                wait_until(lambda: consumer.entries_acked > 5, timeout=30, what="progress before the restart")

                private_redis.stop()
                time.sleep(1.5)  # the consumer sees connection errors and backs off
                private_redis.start()

                for payload in payloads[half:]:
                    for _attempt in range(100):
                        try:
                            client.xadd(stream["key"], {"d": payload})
                            break
                        except redis.ConnectionError:
                            time.sleep(0.1)
                wait_until(lambda: drained(stream, client), timeout=60, what="the consumer to resume and drain")
            finally:
                consumer.stop()
                runner.join(30)
            assert not runner.is_alive()
            assert REGISTRY.get_sample_value("tradeviz_tick_consumer_errors_total", {"dependency": "redis"}) > errors
            assert consumer.entries_acked >= len(payloads) - half  # it kept going after the restart
        finally:
            get_redis.cache_clear()
    assert stored_bars([i.pk for i in instruments.values()]) == expected_bars(ticks, instruments)


def test_two_consumers_in_one_group_share_the_load_and_converge(
    instruments: dict[int, Instrument], stream: dict[str, str]
) -> None:
    """Both consumers write the same minutes of the same instruments at the same time; the merge
    upsert makes the result the reference aggregation whatever the interleaving."""
    ticks = live_ticks(list(instruments), seed=14, per_token=500)
    consumers = [consumer_for(stream, f"share-{k}", batch_entries=2) for k in range(2)]
    for consumer in consumers:
        consumer.start()  # creates the group before anything is added
    runners = [threading.Thread(target=c.run, name=f"share-{k}") for k, c in enumerate(consumers)]
    for runner in runners:
        runner.start()
    try:
        xadd_ticks(get_redis(), stream["key"], ticks, per_entry=5)
        wait_until(lambda: drained(stream), timeout=60, what="both consumers to drain")
    finally:
        for consumer in consumers:
            consumer.stop()
        for runner in runners:
            runner.join(30)
    assert all(c.entries_acked > 0 for c in consumers)
    assert sum(c.entries_acked for c in consumers) == len(entries_of(ticks, per_entry=5))
    assert stored_bars([i.pk for i in instruments.values()]) == expected_bars(ticks, instruments)
