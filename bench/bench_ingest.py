"""Tick ingestion (issue: Real time): throughput through the consumer, and minute-close latency.

Run with `.venv/bin/python -m bench.run ingest`. Uses the app's database and Redis; creates its own
SIM instruments (tokens from 980_000_000; SIM trades around the clock) and its own stream, and
removes all of it (bars, rollup rows, instruments, stream, last prices, claims) afterwards.

- Throughput: a backlog of ticks (entries of 100 ticks in the contract's shape, ~1000 instruments,
  stamped over the last minute) is consumed by one in-process TickConsumer with the production
  settings: decode + validate + session filter + aggregate + COPY/merge upsert + cache invalidation
  + last prices + XACK + live events.
- Latency: a feed process writes 5k ticks/s stamped "now" for the same instruments while the
  consumer runs; a listener process, subscribed to the live-bar groups of a sample of instruments
  like a WebSocket server would be, records when each closed bar arrives. Latency = arrival time -
  the minute's end; the bar is in the database before it is published (the closer reads it from
  there), which the bench verifies against what the feed sent.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, cast

import orjson
import redis

N_INSTRUMENTS = 1000
TOKEN_BASE = 980_000_000
TICKS_PER_ENTRY = 100
BACKLOG_TICKS = 400_000
THROUGHPUT_TARGET = 100_000  # ticks/s
LATENCY_RATE = 5_000  # ticks/s
LATENCY_ENTRY_TICKS = 50
LATENCY_SAMPLE = 100  # instruments whose closed bars the listener receives
LATENCY_MINUTES = 2  # minute closes observed
LATENCY_P99_TARGET_MS = 500.0
MS_PER_MINUTE = 60_000
BASE_DIR = Path(__file__).resolve().parent.parent


def _tick(token: int, ts: int, price: float, volume: int, rng: random.Random) -> dict[str, Any]:
    """A tick shaped like the contract's example (docs/architecture.md)."""
    bid, ask = round(price - 0.05, 2), round(price + 0.05, 2)
    return {"token": token, "ts": ts, "ltp": price, "volume": volume, "oi": 100_000 + rng.randrange(1000),
            "bid": bid, "bid_qty": 75, "ask": ask, "ask_qty": 150,
            "depth": {"buy": [[bid, 75, 3]], "sell": [[ask, 150, 2]]}}


# --- the feed and listener processes (no Django) ---------------------------------------------------


def feed(redis_url: str, key: str, rate: int, seconds: float, seed: int) -> None:
    """Write `rate` ticks/s stamped with the current time, round-robin over the instruments; print
    the last tick (ts, ltp) sent per (token, minute) as JSON when done."""
    client = redis.Redis.from_url(redis_url)
    rng = random.Random(seed)
    prices = {TOKEN_BASE + k: 100.0 + k for k in range(N_INSTRUMENTS)}
    volumes = dict.fromkeys(prices, 0)
    tokens = list(prices)
    last: dict[str, list[float]] = {}
    interval = LATENCY_ENTRY_TICKS / rate
    started = time.monotonic()
    sent = 0
    cursor = 0
    while time.monotonic() - started < seconds:
        now_ms = int(time.time() * 1000)
        ticks = []
        for _ in range(LATENCY_ENTRY_TICKS):
            token = tokens[cursor % N_INSTRUMENTS]
            cursor += 1
            prices[token] = round(max(prices[token] + rng.choice((-0.05, 0.0, 0.05)), 1.0), 2)
            volumes[token] += rng.randrange(1, 50)
            ticks.append(_tick(token, now_ms, prices[token], volumes[token], rng))
            last[f"{token}:{now_ms - now_ms % MS_PER_MINUTE}"] = [now_ms, prices[token]]
        client.xadd(key, {"d": orjson.dumps(ticks)})
        sent += 1
        sleep = started + sent * interval - time.monotonic()
        if sleep > 0:
            time.sleep(sleep)
    print(json.dumps({"entries": sent, "last": last}))


def listen(redis_url: str, prefix: str, group_names: list[str], seconds: float) -> None:
    """Receive live bar events for the given groups; print (token, t, closed, arrival) of closed ones."""
    from channels_redis.core import RedisChannelLayer

    async def main() -> list[list[Any]]:
        layer = RedisChannelLayer(hosts=[redis_url], prefix=prefix, capacity=10_000)
        channel = await layer.new_channel()
        for name in group_names:
            await layer.group_add(name, channel)
        print("ready", flush=True)
        closed: list[list[Any]] = []
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                message = await asyncio.wait_for(layer.receive(channel), timeout=0.5)
            except TimeoutError:
                continue
            if message.get("closed"):
                closed.append([message["token"], message["t"], time.time(), message["c"]])
        for name in group_names:
            await layer.group_discard(name, channel)
        return closed

    print(json.dumps(asyncio.run(main())), flush=True)


# --- the benchmark (Django) ------------------------------------------------------------------------


def run() -> list[Any]:
    import gc

    from bench.harness import Figure

    gc.freeze()  # as manage.py consume_ticks does
    bench = _Bench()
    try:
        bench.setup()
        figures: list[Figure] = bench.throughput()
        figures += bench.latency()
        # Other processes on the machine move these figures: say how busy it was.
        figures.append(Figure("load average (1 min) at the end of the ingest bench", os.getloadavg()[0], ""))
        return figures
    finally:
        bench.cleanup()


class _Bench:
    def __init__(self) -> None:
        from django.conf import settings

        self.settings = settings
        self.key = f"bench:ticks:{os.getpid()}"
        self.group = "bench-ingest"
        self.ids: dict[int, int] = {}
        self.window: tuple[int, int] | None = None

    def setup(self) -> None:
        from marketdata.models import Instrument
        from marketdata.symbols import make_symbol

        self.cleanup_instruments()
        instruments = [
            Instrument(instrument_token=TOKEN_BASE + k, tradingsymbol=f"BENCHT{k}", name=f"BENCH TICKS {k}",
                       exchange="SIM", instrument_type="EQ", underlying=f"BENCHT{k}",
                       symbol=make_symbol("SIM", f"BENCHT{k}"))
            for k in range(N_INSTRUMENTS)
        ]
        Instrument.objects.bulk_create(instruments, batch_size=1000)
        self.ids = dict(Instrument.objects.filter(instrument_token__gte=TOKEN_BASE,
                                                  instrument_token__lt=TOKEN_BASE + N_INSTRUMENTS)
                        .values_list("instrument_token", "id"))

    def consumer(self, name: str) -> Any:
        from marketdata.ticks.consumer import ConsumerConfig, TickConsumer

        return TickConsumer(ConsumerConfig.from_settings(stream=self.key, group=self.group, consumer=name))

    def _track(self, start_ms: int, end_ms: int) -> None:
        window = self.window
        self.window = (start_ms, end_ms) if window is None else (min(window[0], start_ms), max(window[1], end_ms))

    def throughput(self) -> list[Any]:
        from bench.harness import Figure, percentile
        from marketdata.ticks.stream import stream_lag
        from tradeviz.redis_client import get_redis

        client = get_redis()
        rng = random.Random(7)
        end = int(time.time() * 1000) - 1_000
        start = end - MS_PER_MINUTE
        stamps = sorted(rng.randrange(start, end) for _ in range(BACKLOG_TICKS))
        volumes = dict.fromkeys(self.ids, 0)
        ticks = []
        for ts in stamps:
            token = TOKEN_BASE + rng.randrange(N_INSTRUMENTS)
            volumes[token] += rng.randrange(1, 50)
            ticks.append(_tick(token, ts, round(100 + rng.random() * 10, 2), volumes[token], rng))
        pipe = client.pipeline(transaction=False)
        for k in range(0, len(ticks), TICKS_PER_ENTRY):
            pipe.xadd(self.key, {"d": orjson.dumps(ticks[k : k + TICKS_PER_ENTRY])})
        pipe.execute()
        self._track(start, end)
        del ticks

        consumer = self.consumer("bench-throughput")
        consumer.start()
        batch_ms: list[float] = []
        started = time.perf_counter()
        while True:
            before = time.perf_counter()
            read = consumer.step()
            if read:
                batch_ms.append((time.perf_counter() - before) * 1000)
            elif (lag := stream_lag(client, key=self.key, group=self.group)) and lag.pending == 0:
                break
        elapsed = time.perf_counter() - started
        consumer.shutdown()
        rate = BACKLOG_TICKS / elapsed
        return [
            Figure(f"ingest throughput ({N_INSTRUMENTS} instruments, {TICKS_PER_ENTRY} ticks/entry)", rate,
                   "ticks/s", THROUGHPUT_TARGET, direction="min"),
            Figure(f"ingest batch p50 ({self.settings.TICK_BATCH_ENTRIES} entries)", percentile(batch_ms, 50), "ms"),
            Figure(f"ingest batch p99 ({self.settings.TICK_BATCH_ENTRIES} entries)", percentile(batch_ms, 99), "ms"),
        ]

    def latency(self) -> list[Any]:
        from django.db import connection

        from bench.harness import Figure, percentile
        from marketdata.live import bar_group

        # Start 8 s before a minute boundary and observe LATENCY_MINUTES closes.
        now = time.time()
        boundary = (int(now * 1000) // MS_PER_MINUTE + 1) * MS_PER_MINUTE / 1000
        if boundary - now < 8:
            boundary += 60
        time.sleep(max(boundary - now - 8, 0))
        seconds = 8 + (LATENCY_MINUTES - 1) * 60 + 2  # the feed stops 2 s after the last boundary
        first_minute = int(boundary * 1000) - MS_PER_MINUTE
        self._track(first_minute, first_minute + LATENCY_MINUTES * MS_PER_MINUTE)

        sample = sorted(random.Random(3).sample(sorted(self.ids), LATENCY_SAMPLE))
        layer_config = cast(dict[str, Any], self.settings.CHANNEL_LAYERS["default"]["CONFIG"])
        prefix = layer_config.get("prefix", "asgi")
        python = [sys.executable, "-m", "bench.bench_ingest"]
        listener = subprocess.Popen(
            [*python, "listen", self.settings.REDIS_URL, prefix, str(seconds + 3), *[bar_group(self.ids[t]) for t in sample]],
            cwd=BASE_DIR, stdout=subprocess.PIPE, text=True,
        )
        assert listener.stdout is not None
        assert listener.stdout.readline().strip() == "ready"
        consumer = self.consumer("bench-latency")
        runner = threading.Thread(target=consumer.run, name="bench-consumer")
        runner.start()
        producer = subprocess.run(
            [*python, "feed", self.settings.REDIS_URL, self.key, str(LATENCY_RATE), str(seconds)],
            cwd=BASE_DIR, capture_output=True, text=True, check=True,
        )
        closed = json.loads(listener.communicate(timeout=30)[0].strip().splitlines()[-1])
        consumer.stop()
        runner.join(30)
        sent = json.loads(producer.stdout)

        closes = [first_minute + k * MS_PER_MINUTE for k in range(LATENCY_MINUTES - 1)] + [
            first_minute + (LATENCY_MINUTES - 1) * MS_PER_MINUTE
        ]
        latencies = []
        mismatched = 0
        seen = set()
        for token, t, arrived, close in closed:
            minute = t * 1000
            if minute not in closes or (token, minute) in seen:
                continue
            seen.add((token, minute))
            latencies.append(arrived * 1000 - (minute + MS_PER_MINUTE))
            expected = sent["last"].get(f"{token}:{minute}")
            # The event's ts/ltp are the instrument's latest price (maybe of the next minute already):
            # the bar itself is checked by its close.
            if expected is None or expected[1] != close:
                mismatched += 1
        # The bars must be in the database with the feed's last tick of each minute.
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT instrument_id, (extract(epoch FROM time) * 1000)::bigint, close::float8, last_tick_ms "
                "FROM marketdata_bar WHERE instrument_id = ANY(%s) AND time = ANY(%s)",
                [[self.ids[t] for t in sample], [_dt(m) for m in closes]],
            )
            stored = {(row[0], row[1]): (row[3], row[2]) for row in cursor.fetchall()}
        token_of = {v: k for k, v in self.ids.items()}
        wrong_in_db = sum(
            1 for (iid, minute), (ts, close) in stored.items()
            if sent["last"].get(f"{token_of[iid]}:{minute}") != [ts, close]
        )
        expected_count = LATENCY_SAMPLE * len(closes)
        return [
            Figure(f"minute close → bar in DB and published p50 ({LATENCY_RATE} ticks/s)", percentile(latencies, 50), "ms"),
            Figure(f"minute close → bar in DB and published p99 ({LATENCY_RATE} ticks/s)", percentile(latencies, 99), "ms",
                   LATENCY_P99_TARGET_MS),
            Figure("closed bars received / expected", len(latencies) / expected_count * 100, "%", 100.0, direction="min"),
            Figure("closed bars not matching the feed (published + stored)", mismatched + wrong_in_db, "bars", 0.0),
        ]

    def cleanup_instruments(self) -> None:
        from django.db import connection

        from marketdata.models import Instrument
        from tradeviz.timeseries.rollups import refresh_registered_rollups

        ids = list(Instrument.objects.filter(instrument_token__gte=TOKEN_BASE,
                                             instrument_token__lt=TOKEN_BASE + N_INSTRUMENTS).values_list("id", flat=True))
        if not ids:
            return
        with connection.cursor() as cursor:
            cursor.execute("SELECT min(time), max(time) FROM marketdata_bar WHERE instrument_id = ANY(%s)", [ids])
            first, last = cursor.fetchone()
            cursor.execute("DELETE FROM marketdata_bar WHERE instrument_id = ANY(%s)", [ids])
        if first is not None:
            from datetime import timedelta

            refresh_registered_rollups(start=first, end=last + timedelta(minutes=1), source_table="marketdata_bar")
        with connection.cursor() as cursor:
            # Raw SQL: nothing else refers to bench instruments, and the ORM's emulated cascade would
            # query every app's tables (some may not be migrated in this database).
            cursor.execute("DELETE FROM marketdata_instrument WHERE id = ANY(%s)", [ids])

    def cleanup(self) -> None:
        from marketdata.last_prices import LAST_PRICE_HASH
        from tradeviz.redis_client import get_redis

        self.cleanup_instruments()
        client = get_redis()
        client.delete(self.key)
        client.hdel(LAST_PRICE_HASH, *[str(TOKEN_BASE + k) for k in range(N_INSTRUMENTS)])
        for pattern in (f"tv:ticks:closed:{self.key}:*", f"tv:ticks:minute:{self.key}:*"):
            for key in client.scan_iter(match=pattern, count=1000):
                client.delete(key)


def _dt(ms: int) -> Any:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ms / 1000, UTC)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("role", choices=["feed", "listen"])
    parser.add_argument("args", nargs="*")
    options = parser.parse_args()
    if options.role == "feed":
        url, key, rate, secs = options.args
        feed(url, key, int(rate), float(secs), seed=11)
    else:
        url, prefix, secs, *groups = options.args
        listen(url, prefix, groups, float(secs))
