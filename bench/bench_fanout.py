"""Fan-out: live bar events through the Redis channel layer to 500 WebSocket clients of one daphne.

The real path end to end: a `daphne tradeviz.asgi:application` subprocess on a free port, clients
speaking the `/ws/ticks` protocol over TCP (the `websockets` library, in a few client processes so
their parsing does not share one core), each subscribed at 1-minute resolution to one of a few
symbols, and this process playing the tick consumer: `md.bar` events (marketdata/live.py) sent
with `group_send` at a steady rate. Every event reaches each subscriber as a `bar` and an `ltp`
message; the event's `ts` is its publish time, so the `ltp` message gives the delivery latency.

Figures: bar updates delivered per second (the target counts only those; the `ltp` messages double
the WebSocket messages actually sent), p50/p99 publish → receive latency, and how much was
conflated away (a server that falls behind sends the newest bar instead of a backlog).

Instruments, the user and the channel-layer keys (a prefix of their own) are removed afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing as mp
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import orjson

from bench.harness import Figure, percentile

CLIENTS = int(os.environ.get("BENCH_FANOUT_CLIENTS", "500"))
SYMBOLS = 5
# Events per second per symbol; each reaches CLIENTS / SYMBOLS subscribers.
# 5/s x 5 symbols x 100 subscribers = 2.5k bar updates/s offered (plus as many last prices): the
# latency target is judged at a throughput above its own target.
EVENTS_PER_SECOND_PER_SYMBOL = float(os.environ.get("BENCH_FANOUT_RATE", "5"))
WARMUP_SECONDS = 3.0
MEASURE_SECONDS = float(os.environ.get("BENCH_FANOUT_SECONDS", "15"))
DRAIN_SECONDS = 2.0
CLIENT_PROCESSES = 2
CONNECT_CONCURRENCY = 25
SERVER_START_TIMEOUT_SECONDS = 30.0
TOKEN_BASE = 990_000_100
TARGET_DELIVERIES_PER_SECOND = 2000.0
TARGET_P99_MS = 250.0


@dataclass(frozen=True)
class Window:
    start_ms: float
    end_ms: float


# --- clients (run in their own processes) ---------------------------------------------------------


async def _client(
    url: str,
    origin: str,
    symbol: str,
    limiter: asyncio.Semaphore,
    ready: asyncio.Queue[bool],
    window: asyncio.Future[Window],
    stats: dict[str, Any],
) -> None:
    from websockets.asyncio.client import connect

    async with limiter:  # a bounded number of handshakes at a time
        ws = await connect(url, origin=origin, compression=None, max_queue=None, open_timeout=60)  # type: ignore[arg-type]
        await ws.send(orjson.dumps({"action": "subscribe", "symbol": symbol, "resolution": "1"}).decode())
        reply = orjson.loads(await ws.recv())
        if reply.get("type") != "subscribed":
            raise RuntimeError(f"subscribe failed: {reply}")
    await ready.put(True)
    try:
        bounds = await window
        async for raw in ws:
            received = time.time() * 1000
            message = orjson.loads(raw)
            kind = message["type"]
            if kind == "ltp":
                if bounds.start_ms <= message["ts"] < bounds.end_ms:
                    stats["ltp"] += 1
                    stats["latency"].append(received - message["ts"])
            elif kind == "bar" and bounds.start_ms <= message["bar"]["volume"] < bounds.end_ms:
                # The volume carries the publish time of the event the bar was built from.
                stats["bars"] += 1
    finally:
        await ws.close()


async def _client_group(conn: Connection, url: str, origin: str, symbols: list[str]) -> None:
    loop = asyncio.get_running_loop()
    ready: asyncio.Queue[bool] = asyncio.Queue()
    window: asyncio.Future[Window] = loop.create_future()
    stats: dict[str, Any] = {"bars": 0, "ltp": 0, "latency": []}
    limiter = asyncio.Semaphore(CONNECT_CONCURRENCY)
    tasks = [asyncio.create_task(_client(url, origin, s, limiter, ready, window, stats)) for s in symbols]
    waiting = [asyncio.create_task(ready.get()) for _ in symbols]
    while waiting:
        finished, _ = await asyncio.wait([*waiting, *tasks], return_when=asyncio.FIRST_COMPLETED)
        failed = [t for t in tasks if t in finished and t.exception() is not None]
        if failed:
            raise RuntimeError(f"client failed before the run: {failed[0].exception()!r}")
        waiting = [t for t in waiting if not t.done()]
    conn.send("ready")
    start_ms, end_ms = await loop.run_in_executor(None, conn.recv)
    window.set_result(Window(start_ms, end_ms))
    await asyncio.sleep(max(0.0, end_ms / 1000 - time.time()) + DRAIN_SECONDS)
    errors = [
        repr(t.exception()) for t in tasks if t.done() and not t.cancelled() and t.exception() is not None
    ]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    conn.send(
        {
            "bars": stats["bars"],
            "ltp": stats["ltp"],
            "latency": stats["latency"],
            "errors": errors[:3],
            "failed": len(errors),
        }
    )


def _client_main(conn: Connection, url: str, origin: str, symbols: list[str]) -> None:
    try:
        asyncio.run(_client_group(conn, url, origin, symbols))
    except BaseException as exc:  # report, so the parent does not wait forever
        conn.send({"fatal": repr(exc)})
        raise


# --- server and publisher --------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_daphne(port: int, env: dict[str, str], log: Any) -> subprocess.Popen[bytes]:
    daphne = Path(sys.executable).with_name("daphne")
    process = subprocess.Popen(
        [str(daphne), "-b", "127.0.0.1", "-p", str(port), "-v", "0", "tradeviz.asgi:application"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + SERVER_START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"daphne exited with {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return process
        time.sleep(0.1)
    process.terminate()
    raise RuntimeError("daphne did not start listening in time")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def _publisher(layer: Any, instruments: list[Any], window: Window) -> int:
    """Steady `md.bar` events, round-robin over the symbols, until the window (plus warm-up) ends."""
    from marketdata.live import bar_event, bar_group

    interval = 1.0 / (EVENTS_PER_SECOND_PER_SYMBOL * len(instruments))
    minute = int(time.time()) // 60 * 60
    next_at = time.monotonic()
    sent_in_window = 0
    index = 0
    while True:
        now_ms = time.time() * 1000
        if now_ms >= window.end_ms:
            return sent_in_window
        instrument = instruments[index % len(instruments)]
        index += 1
        ts = int(time.time() * 1000)
        price = 100.0 + (index % 50) / 10
        event = bar_event(
            instrument_id=instrument.pk,
            token=instrument.instrument_token,
            symbol=instrument.symbol,
            t=minute,
            o=100.0,
            h=106.0,
            l=99.0,
            c=price,
            v=ts,
            oi=None,
            closed=False,
            ltp=price,
            ts=ts,
        )
        await layer.group_send(bar_group(instrument.pk), dict(event))
        if window.start_ms <= ts < window.end_ms:
            sent_in_window += 1
        next_at += interval
        delay = next_at - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)


def _instruments() -> list[Any]:
    from marketdata.models import Instrument

    Instrument.objects.filter(instrument_token__in=[TOKEN_BASE + k for k in range(SYMBOLS)]).delete()
    made = []
    for k in range(SYMBOLS):
        instrument = Instrument(
            instrument_token=TOKEN_BASE + k,
            tradingsymbol=f"BENCHFAN{k}",
            exchange="NSE",
            instrument_type="EQ",
            name=f"BENCH FANOUT {k}",
            underlying=f"BENCHFAN{k}",
        )
        instrument.save()
        made.append(instrument)
    return made


def run() -> list[Figure]:
    # Imported here: the client processes import this module without setting Django up.
    from django.conf import settings
    from rest_framework_simplejwt.tokens import AccessToken

    from accounts.models import User

    prefix = f"tv:bench:{uuid.uuid4().hex[:10]}"
    instruments = _instruments()
    user, _ = User.objects.get_or_create(username="bench-fanout")
    token = str(AccessToken.for_user(user))
    port = _free_port()
    env = {
        **os.environ,
        "CHANNEL_LAYER_PREFIX": prefix,
        "DJANGO_SETTINGS_MODULE": "tradeviz.settings",
        "LOG_LEVEL": "WARNING",
    }
    layer_config: dict[str, Any] = dict(settings.CHANNEL_LAYERS["default"])
    layer_config["CONFIG"] = {**layer_config["CONFIG"], "prefix": prefix}
    url = f"ws://127.0.0.1:{port}/ws/ticks?token={token}"
    origin = f"http://127.0.0.1:{port}"
    ctx = mp.get_context("spawn")
    processes: list[Any] = []
    pipes: list[Connection] = []
    with tempfile.NamedTemporaryFile("w+b", prefix="daphne-", suffix=".log") as log:
        server = _start_daphne(port, env, log)
        try:
            symbols = [instruments[k % SYMBOLS].symbol for k in range(CLIENTS)]
            for p in range(CLIENT_PROCESSES):
                parent, child = ctx.Pipe()
                process = ctx.Process(
                    target=_client_main, args=(child, url, origin, symbols[p::CLIENT_PROCESSES]), daemon=True
                )
                process.start()
                processes.append(process)
                pipes.append(parent)
            connect_started = time.monotonic()
            for pipe in pipes:
                answer = pipe.recv()
                if answer != "ready":
                    raise RuntimeError(f"client process failed: {answer}")
            connect_seconds = time.monotonic() - connect_started
            start_ms = time.time() * 1000 + WARMUP_SECONDS * 1000
            window = Window(start_ms, start_ms + MEASURE_SECONDS * 1000)
            for pipe in pipes:
                pipe.send((window.start_ms, window.end_ms))
            published = asyncio.run(_publish(layer_config, instruments, window))
            load_average = os.getloadavg()[0]
            results = [pipe.recv() for pipe in pipes]
        finally:
            for process in processes:
                process.join(timeout=15)
                if process.is_alive():
                    process.terminate()
            _stop(server)
            log.seek(0)
            server_log = log.read().decode(errors="replace")
        for result in results:
            if "fatal" in result:
                raise RuntimeError(f"client process failed: {result['fatal']}\n{server_log[-3000:]}")
    _cleanup(instruments, user)

    latency = [x for r in results for x in r["latency"]]
    bars = sum(r["bars"] for r in results)
    ltps = sum(r["ltp"] for r in results)
    failed = sum(r["failed"] for r in results)
    offered = published * (CLIENTS // SYMBOLS)
    if failed:
        print(f"fanout: {failed} client(s) failed: {[r['errors'] for r in results]}", file=sys.stderr)
    return [
        Figure(f"fan-out: {CLIENTS} clients connected and subscribed", connect_seconds, "s"),
        Figure(
            f"fan-out: events published ({published / MEASURE_SECONDS:.0f}/s over {SYMBOLS} symbols)",
            float(published),
            "events",
        ),
        Figure(
            "fan-out: bar updates delivered per second (1 daphne)",
            bars / MEASURE_SECONDS,
            "msg/s",
            TARGET_DELIVERIES_PER_SECOND,
            direction="min",
        ),
        Figure(
            "fan-out: WebSocket messages delivered per second (bar + ltp)",
            (bars + ltps) / MEASURE_SECONDS,
            "msg/s",
            direction="min",
        ),
        Figure(
            "fan-out: delivered / offered (the rest conflated)",
            100.0 * ltps / offered if offered else 0.0,
            "%",
            direction="min",
        ),
        Figure(
            "fan-out: delivery latency p50 (publish → client)",
            statistics.median(latency) if latency else float("nan"),
            "ms",
        ),
        Figure(
            "fan-out: delivery latency p99 (publish → client)", percentile(latency, 99), "ms", TARGET_P99_MS
        ),
        Figure("fan-out: clients failed", float(failed), "clients", 0.0),
        # Clients, publisher, Redis and daphne share this machine: its load says how far to trust the tail.
        Figure(f"fan-out: load average during the run ({os.cpu_count()} CPUs)", load_average, "load"),
    ]


async def _publish(layer_config: dict[str, Any], instruments: list[Any], window: Window) -> int:
    from channels_redis.core import RedisChannelLayer

    layer = RedisChannelLayer(**layer_config["CONFIG"])
    try:
        return await _publisher(layer, instruments, window)
    finally:
        await asyncio.sleep(DRAIN_SECONDS)
        await layer.flush()


def _cleanup(instruments: list[Any], user: Any) -> None:
    for instrument in instruments:
        instrument.delete()
    user.delete()
