"""The M2M job and /ws/orders delivery (issue: trading accounts, strategies and M2M).

* M2M: 1,000 and 10,000 active strategies x 4 legs on 200 instruments, fresh prices in the Redis
  last-price hash. One run = the whole job as beat runs it: one SQL read of the legs, one HMGET,
  numpy, one transaction writing a candle per strategy, the totals and the marks, then the push to
  the owners' channel-layer groups (10 strategies per owner). Each timed run is a new minute (the
  INSERT path); "rerun" repeats a minute (the ON CONFLICT update path).
* /ws/orders: order updates are XADDed to a stream of the benchmark's own, read by the order-stream
  consumer (a thread, like `consume_orders`) and stored; a client connected to /ws/orders through
  the real ASGI stack and the Redis channel layer receives each one. The figure is the time from
  the consumer having read the entry to the client having the message.

Creates its own users, instruments, strategies, accounts and Redis keys, and removes them.
"""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import orjson
from django.contrib.auth import get_user_model
from django.db import connection, transaction

from bench.harness import Figure, percentile
from marketdata.last_prices import LAST_PRICE_HASH, write_last_prices
from marketdata.models import Instrument
from marketdata.ticker_client import TickerError
from strategies.m2m import m2m_run
from strategies.models import LegSide, LegStatus, Strategy, StrategyInstrument
from tradeviz.redis_client import get_redis

TOKEN_BASE = 990_200_000
INSTRUMENTS = 200
LEGS_PER_STRATEGY = 4
STRATEGIES_PER_OWNER = 10
USER_PREFIX = "bench-m2m-"
# Monday 6 January 2020, 10:00 IST: a session minute no real data uses.
FIRST_RUN = datetime(2020, 1, 6, 4, 30, 0, 300_000, tzinfo=UTC)
RUNS = {1_000: 15, 10_000: 5}
TARGET_MS = {1_000: 100.0, 10_000: 1000.0}
ORDER_UPDATES = 200
ORDER_TARGET_P99_MS = 100.0


def _no_ticker(tokens: list[int]) -> Any:
    raise TickerError("benchmark: prices come from Redis only")


def _cleanup() -> None:
    user_model = get_user_model()
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM strategies_m2mcandle WHERE strategy_id IN (SELECT s.id FROM strategies_strategy s"
            " JOIN accounts_user u ON u.id = s.owner_id WHERE u.username LIKE %s)", [f"{USER_PREFIX}%"])
        cursor.execute(
            "DELETE FROM strategies_strategyinstrument WHERE strategy_id IN (SELECT s.id FROM strategies_strategy s"
            " JOIN accounts_user u ON u.id = s.owner_id WHERE u.username LIKE %s)", [f"{USER_PREFIX}%"])
        cursor.execute(
            "DELETE FROM strategies_strategy WHERE owner_id IN (SELECT id FROM accounts_user WHERE username LIKE %s)",
            [f"{USER_PREFIX}%"])
        cursor.execute(
            "DELETE FROM strategies_instrumentmark WHERE instrument_id IN"
            " (SELECT id FROM marketdata_instrument WHERE instrument_token >= %s AND instrument_token < %s)",
            [TOKEN_BASE, TOKEN_BASE + INSTRUMENTS + 10])
    from accounts.models import TradingAccount

    TradingAccount.objects.filter(owner__username__startswith=USER_PREFIX).delete()
    user_model.objects.filter(username__startswith=USER_PREFIX).delete()
    Instrument.objects.filter(instrument_token__gte=TOKEN_BASE, instrument_token__lt=TOKEN_BASE + INSTRUMENTS + 10).delete()
    get_redis().hdel(LAST_PRICE_HASH, *[str(TOKEN_BASE + k) for k in range(INSTRUMENTS + 10)])


def _instruments() -> list[Instrument]:
    rows = [
        Instrument(instrument_token=TOKEN_BASE + k, tradingsymbol=f"BENCHM2M{k}", symbol=f"NFO:BENCHM2M{k}",
                   exchange="NFO", instrument_type="FUT", lot_size=50, underlying="BENCHM2M", name="BENCH")
        for k in range(INSTRUMENTS)
    ]
    return Instrument.objects.bulk_create(rows)


def _strategies(count: int, instruments: list[Instrument]) -> None:
    user_model = get_user_model()
    owners = user_model.objects.bulk_create([
        user_model(username=f"{USER_PREFIX}{uuid.uuid4().hex[:10]}", password="!")
        for _ in range(count // STRATEGIES_PER_OWNER)
    ])
    rng = np.random.default_rng(7)
    entry_time = FIRST_RUN - timedelta(days=1)
    with transaction.atomic():
        strategies = Strategy.objects.bulk_create([
            Strategy(owner=owners[k // STRATEGIES_PER_OWNER], name=f"bench {k}") for k in range(count)
        ])
        legs = []
        for strategy in strategies:
            for instrument_index in rng.choice(INSTRUMENTS, LEGS_PER_STRATEGY, replace=False):
                lots = int(rng.integers(1, 5))
                legs.append(StrategyInstrument(
                    strategy=strategy, instrument=instruments[instrument_index],
                    side=LegSide.BUY if rng.random() < 0.5 else LegSide.SELL, lots=lots, quantity=lots * 50,
                    entry_price=round(float(rng.uniform(90, 110)), 2), entry_time=entry_time, status=LegStatus.OPEN,
                ))
        StrategyInstrument.objects.bulk_create(legs, batch_size=5000)


def _write_prices(instruments: list[Instrument], *, ts_ms: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    write_last_prices({i.instrument_token: {"ltp": round(float(rng.uniform(95, 105)), 2), "ts": ts_ms}
                       for i in instruments})


def _m2m_figures(count: int, instruments: list[Instrument]) -> list[Figure]:
    _strategies(count, instruments)
    # Prices stamped after the last timed minute stay fresh for every run.
    _write_prices(instruments, ts_ms=int((FIRST_RUN + timedelta(minutes=100)).timestamp() * 1000), seed=count)
    m2m_run(now=FIRST_RUN - timedelta(minutes=1), fetch_quotes=_no_ticker)  # warm-up: connections, plans
    samples, push_counts, push_ms = [], [], []
    for k in range(RUNS[count]):
        started = time.perf_counter()
        result = m2m_run(now=FIRST_RUN + timedelta(minutes=k), fetch_quotes=_no_ticker)
        samples.append((time.perf_counter() - started) * 1000)
        push_counts.append(result.pushed)
        push_ms.append(result.push_seconds * 1000)
        assert result.strategies >= count, result
    reruns = []
    for k in range(3):
        started = time.perf_counter()
        m2m_run(now=FIRST_RUN + timedelta(minutes=k, seconds=30), fetch_quotes=_no_ticker)
        reruns.append((time.perf_counter() - started) * 1000)
    label = f"{count:,} strategies x {LEGS_PER_STRATEGY} legs"
    return [
        Figure(f"M2M run, {label} (median)", statistics.median(samples), "ms", TARGET_MS[count]),
        Figure(f"M2M run, {label} (max)", max(samples), "ms"),
        Figure(f"M2M rerun of a minute, {label} (median)", statistics.median(reruns), "ms", TARGET_MS[count]),
        Figure(f"M2M run, {label}: of which pushing {int(statistics.median(push_counts)):,} owner events",
               statistics.median(push_ms), "ms"),
    ]


def _orders_figures() -> list[Figure]:
    from channels.routing import URLRouter
    from channels.testing import WebsocketCommunicator
    from rest_framework_simplejwt.tokens import AccessToken

    from accounts.models import TradingAccount
    from accounts.orderstream import OrderStreamConsumer
    from accounts.routing import websocket_urlpatterns
    from tradeviz.ws.auth import WebSocketAuthStack

    user = get_user_model().objects.create_user(username=f"{USER_PREFIX}orders-{uuid.uuid4().hex[:6]}")
    account = TradingAccount.objects.create(owner=user, broker="sim", broker_account_id=f"BENCH-{uuid.uuid4().hex[:8]}")
    instrument = Instrument.objects.create(instrument_token=TOKEN_BASE + INSTRUMENTS + 1, tradingsymbol="BENCHORD",
                                           exchange="NFO", instrument_type="FUT", lot_size=50, name="BENCH")
    stream = f"tv:bench:orders:{uuid.uuid4().hex[:8]}"
    consumer = OrderStreamConsumer(stream=stream, group="bench", consumer="bench-1", block_ms=50, batch=1)
    consumer.ensure_group()
    read_at: dict[str, float] = {}
    latencies: list[float] = []
    done = threading.Event()

    def run_stream() -> None:
        # The consumer as `consume_orders` runs it, timing from the moment entries are read.
        while not done.is_set():
            entries = consumer._read()
            if not entries:
                continue
            now = time.perf_counter()
            for _, fields in entries:
                read_at[orjson.loads(fields[b"d"])["order_id"]] = now
            consumer.process(entries)
        connection.close()

    async def client() -> None:
        app = WebSocketAuthStack(URLRouter(websocket_urlpatterns))
        ws = WebsocketCommunicator(app, f"/ws/orders?token={AccessToken.for_user(user)}")
        connected, _ = await ws.connect()
        assert connected
        await ws.send_json_to({"action": "subscribe", "account": account.pk})
        await ws.receive_json_from(timeout=5)  # subscribed
        await ws.receive_json_from(timeout=5)  # snapshot
        reader = threading.Thread(target=run_stream, daemon=True)
        reader.start()
        redis = get_redis()
        base_ms = int(time.time() * 1000)
        for k in range(ORDER_UPDATES):
            order_id = f"B{k}"
            message = {"account": account.broker_account_id, "order_id": order_id, "status": "COMPLETE",
                       "token": instrument.instrument_token, "tradingsymbol": "BENCHORD", "side": "BUY",
                       "quantity": 50, "filled_quantity": 50, "price": 100.0, "average_price": 100.0,
                       "ts": base_ms + k}
            redis.xadd(stream, {"d": orjson.dumps(message)})
            while True:
                event = await ws.receive_json_from(timeout=5)
                if event["type"] == "order" and event["order"]["broker_order_id"] == order_id:
                    latencies.append((time.perf_counter() - read_at[order_id]) * 1000)
                    break
        done.set()
        reader.join(timeout=5)
        await ws.disconnect()

    try:
        asyncio.run(client())
    finally:
        done.set()
        get_redis().delete(stream)
        TradingAccount.objects.filter(pk=account.pk).delete()
    return [
        Figure("/ws/orders delivery after stream read (p50)", statistics.median(latencies), "ms"),
        Figure("/ws/orders delivery after stream read (p99)", percentile(latencies, 99), "ms", ORDER_TARGET_P99_MS),
    ]


def run() -> list[Figure]:
    _cleanup()
    figures: list[Figure] = []
    try:
        instruments = _instruments()
        for count in (1_000, 10_000):
            figures += _m2m_figures(count, instruments)
            _cleanup()
            instruments = _instruments()
        figures += _orders_figures()
    finally:
        _cleanup()
    return figures
