"""Publishing to real Redis: entries read back as published, MAXLEN, backoff and reconnect after a Redis
restart, and the live loop end to end (ticks, order updates, HTTP, clean stop)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import redis
from django.conf import settings
from django.core.management import call_command

from marketdata import calendar
from marketdata.demo import INDEX, SIM_INDEX, seed_demo_market
from marketdata.models import Bar
from marketdata.simulator.engine import TickEngine
from marketdata.simulator.orders import ORDER_TRANSITIONS
from marketdata.simulator.publisher import BACKOFF_INITIAL_SECONDS, StreamPublisher
from marketdata.simulator.runner import LiveSimulator, SimulatorConfig
from marketdata.tests.test_simulator_engine import BATCH_MS, MONDAY_10, ist_ms, make_universe
from tradeviz.devstack.embedded import EmbeddedRedis
from tradeviz.redis_client import get_redis

pytestmark = pytest.mark.redis


@pytest.fixture
def keys() -> Iterator[Callable[[str], str]]:
    made: list[str] = []

    def key(name: str) -> str:
        made.append(f"test:sim:{name}:{uuid.uuid4().hex}")
        return made[-1]

    yield key
    if made:
        get_redis().delete(*made)


def real_redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)


def entries(stream: str) -> list[Any]:
    return [orjson.loads(fields[b"d"]) for _, fields in get_redis().xrange(stream)]


def test_batches_read_back_exactly_as_generated(keys: Callable[[str], str]) -> None:
    stream = keys("ticks")
    engine = TickEngine(make_universe(), seed=9, start_ms=MONDAY_10, ticks_per_second=400, batch_ms=BATCH_MS)
    publisher = StreamPublisher(real_redis, maxlen=10_000, max_pending=100)
    batches = [engine.step(MONDAY_10 + k * BATCH_MS, {"NSE", "SIM"}) for k in range(25)]
    for batch in batches:
        publisher.publish(stream, orjson.dumps(batch))
    assert (publisher.published, publisher.pending) == (25, 0)
    assert entries(stream) == batches  # one entry per batch, many ticks each, field `d`
    assert all(set(fields) == {b"d"} for _, fields in get_redis().xrange(stream))


def test_the_stream_is_bounded_with_maxlen(keys: Callable[[str], str]) -> None:
    stream = keys("bounded")
    publisher = StreamPublisher(real_redis, maxlen=100, max_pending=10_000)
    for k in range(2_000):
        publisher.publish(stream, orjson.dumps([{"token": 1, "ts": k, "ltp": 1.0}]))
    length = get_redis().xlen(stream)
    assert 100 <= length < 300  # approximate trimming works in whole nodes
    assert entries(stream)[-1] == [{"token": 1, "ts": 1999, "ltp": 1.0}]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_backoff_while_redis_is_down_then_the_backlog_in_order(keys: Callable[[str], str]) -> None:
    stream = keys("backoff")
    dead_port = free_port()
    target = {"url": f"redis://127.0.0.1:{dead_port}/0"}
    connects: list[str] = []

    def factory() -> redis.Redis:
        connects.append(target["url"])
        return redis.Redis.from_url(target["url"], socket_timeout=0.5, socket_connect_timeout=0.5)

    clock = FakeClock()
    publisher = StreamPublisher(factory, maxlen=1_000, max_pending=3, clock=clock)
    publisher.publish(stream, b"[1]")
    assert (publisher.pending, publisher.connected, len(connects)) == (1, False, 1)
    publisher.publish(stream, b"[2]")  # inside the backoff: not even tried
    assert len(connects) == 1
    clock.now += BACKOFF_INITIAL_SECONDS
    publisher.publish(stream, b"[3]")
    assert len(connects) == 2  # tried again, failed again; the next wait is twice as long
    clock.now += BACKOFF_INITIAL_SECONDS
    publisher.publish(stream, b"[4]")  # the oldest entry goes: at most 3 wait
    assert (len(connects), publisher.pending, publisher.dropped) == (2, 3, 1)

    target["url"] = settings.REDIS_URL  # Redis is back
    clock.now += 2 * BACKOFF_INITIAL_SECONDS
    assert publisher.flush() is True
    assert (publisher.pending, publisher.connected) == (0, True)
    assert entries(stream) == [[2], [3], [4]]


@dataclass
class ThrowawayRedis:
    port: int
    directory: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [EmbeddedRedis.executable(), "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
             "--appendonly", "no", "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                redis.Redis(port=self.port, socket_connect_timeout=0.2).ping()
                return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("throwaway Redis did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


def test_a_redis_restart_is_survived_with_backoff(tmp_path: Path) -> None:
    server = ThrowawayRedis(free_port(), tmp_path)
    server.start()
    try:
        def factory() -> redis.Redis:
            return redis.Redis(port=server.port, socket_timeout=0.5, socket_connect_timeout=0.5)

        clock = FakeClock()
        publisher = StreamPublisher(factory, maxlen=1_000, max_pending=100, clock=clock)
        publisher.publish("s", b"[1]")
        assert publisher.published == 1
        server.stop()
        publisher.publish("s", b"[2]")  # the pooled connection is dead now
        assert (publisher.pending, publisher.connected) == (1, False)
        server.start()  # an empty Redis (no persistence)
        publisher.publish("s", b"[3]")  # still inside the backoff
        assert publisher.pending == 2
        clock.now += BACKOFF_INITIAL_SECONDS
        publisher.publish("s", b"[4]")
        assert (publisher.pending, publisher.connected) == (0, True)
        fresh = redis.Redis(port=server.port)
        assert [orjson.loads(f[b"d"]) for _, f in fresh.xrange("s")] == [[2], [3], [4]]
    finally:
        server.stop()


# --- the live loop ----------------------------------------------------------------------------------


@pytest.fixture
def demo_market() -> Iterator[None]:
    calendar.reset_calendar_cache()
    # History up to 10:00 IST on a Monday; the simulator then runs "at" 10:00 or 02:00 IST.
    seed_demo_market(now=datetime.fromtimestamp(MONDAY_10 / 1000, tz=UTC), history_days=1, sim_history_days=1)
    yield
    calendar.reset_calendar_cache()


def live_config(keys: Callable[[str], str], **overrides: Any) -> SimulatorConfig:
    base = SimulatorConfig.from_settings(
        ticks_per_second=400.0, batch_ms=100, tick_stream=keys("live-ticks"), order_stream=keys("live-orders"),
        http_host="127.0.0.1", http_port=0, order_interval_seconds=0.2, account="DEMO-TEST1",
    )
    return SimulatorConfig(**{**base.__dict__, **overrides})


def shifted_clock(at_ms: int) -> Callable[[], int]:
    """Real time running, but starting at `at_ms`: the loop keeps its real pace."""
    offset = at_ms - int(time.time() * 1000)
    return lambda: int(time.time() * 1000) + offset


@pytest.mark.django_db
@pytest.mark.parametrize(("at", "expected"), [
    (MONDAY_10, {"NSE", "NFO", "SIM"}),
    (ist_ms(2026, 12, 1, 2, 0), {"SIM"}),
])
def test_the_live_simulator_publishes_ticks_and_orders_and_serves_http(
    demo_market: None, keys: Callable[[str], str], at: int, expected: set[str],
) -> None:
    config = live_config(keys, duration_seconds=1.5)
    stop = threading.Event()
    simulator = LiveSimulator(config, stop=stop, clock=shifted_clock(at))
    last_close = float(Bar.objects.filter(instrument__instrument_token=INDEX.token).latest("time").close)
    sim_close = float(Bar.objects.filter(instrument__instrument_token=SIM_INDEX.token).latest("time").close)
    thread = threading.Thread(target=simulator.run)
    thread.start()
    try:
        assert simulator.http is not None
        url = simulator.http.url
        time.sleep(0.6)
        quotes = httpx.get(f"{url}/quotes", params={"tokens": f"{SIM_INDEX.token}"}).json()["data"]
        assert quotes[str(SIM_INDEX.token)]["ts"] >= at
    finally:
        thread.join(timeout=10)
    assert not thread.is_alive()
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{url}/health", timeout=1)  # the server stopped with the loop

    ticks = [tick for batch in entries(config.tick_stream) for tick in batch]
    assert simulator.ticks_published == len(ticks) > 300
    assert all(at <= t["ts"] < at + 1_600 for t in ticks)
    exchanges = {simulator.universe.get(t["token"]).exchange for t in ticks}  # type: ignore[union-attr]
    assert exchanges == expected
    # Prices continue from the last stored bar of each index.
    sim_first = next(t["ltp"] for t in ticks if t["token"] == SIM_INDEX.token)
    assert abs(sim_first / sim_close - 1) < 0.002
    if "NSE" in expected:
        nse_first = next(t["ltp"] for t in ticks if t["token"] == INDEX.token)
        assert abs(nse_first / last_close - 1) < 0.005

    updates = entries(config.order_stream)
    assert updates
    assert {u["account"] for u in updates} == {"DEMO-TEST1"}
    assert all(u["status"] in {s for allowed in ORDER_TRANSITIONS.values() for s in allowed} for u in updates)
    traded = {simulator.universe.get(u["token"]).exchange for u in updates}  # type: ignore[union-attr]
    assert traded <= expected


@pytest.mark.django_db
def test_a_stop_request_ends_the_loop_promptly_and_flushes(demo_market: None, keys: Callable[[str], str]) -> None:
    config = live_config(keys, http_port=None)
    stop = threading.Event()
    simulator = LiveSimulator(config, stop=stop, clock=shifted_clock(MONDAY_10))
    thread = threading.Thread(target=simulator.run)
    thread.start()
    time.sleep(0.5)
    stop.set()
    started = time.monotonic()
    thread.join(timeout=5)
    assert not thread.is_alive()
    assert time.monotonic() - started < 1.0
    assert simulator.publisher.pending == 0
    assert sum(len(batch) for batch in entries(config.tick_stream)) == simulator.ticks_published > 0


@pytest.mark.django_db
def test_sigterm_stops_the_command_cleanly(demo_market: None, keys: Callable[[str], str],
                                            caplog: pytest.LogCaptureFixture) -> None:
    stream = keys("sigterm")
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    timer = threading.Timer(1.0, os.kill, args=(os.getpid(), signal.SIGTERM))
    timer.start()
    started = time.monotonic()
    with caplog.at_level("INFO", logger="marketdata.simulator"):
        call_command("simulate_market", "--duration", "30", "--no-http", "--rate", "100", "--stream", stream,
                     "--order-stream", keys("sigterm-orders"), "--seed", "5")
    assert time.monotonic() - started < 5
    stopped = [r for r in caplog.records if r.getMessage() == "simulator: stopped"]
    assert len(stopped) == 1
    assert stopped[0].ticks_published == sum(len(b) for b in entries(stream)) > 0  # type: ignore[attr-defined]
    assert {sig: signal.getsignal(sig) for sig in before} == before  # handlers restored
