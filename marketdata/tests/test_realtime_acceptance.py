"""The real-time path end to end, as a user would check it: ticks written to the stream for an
instrument loaded with load_instruments come back as 1-minute bars from /api/v1/udf/history within
a second of the minute closing, and arrive on /ws/ticks — with `manage.py consume_ticks` running
as a real process."""

from __future__ import annotations

import asyncio
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest
from asgiref.sync import sync_to_async
from django.conf import settings as django_settings
from django.db import connections
from django.test import Client

from marketdata.services.instruments import REQUIRED_COLUMNS, load_instruments
from tradeviz.asgi import application
from tradeviz.redis_client import get_redis
from tradeviz.tests.ws_support import communicator, jwt_for, receive_type

BASE_DIR = Path(__file__).resolve().parents[2]
TOKEN = 969_000_001
SYMBOL = "SIM:ACCEPTCO"  # the 24x7 exchange, so the check runs at any hour
START_TIMEOUT = 30.0
# Ticks are written with at least this much of the minute left, so the minute closes after them.
MIN_SECONDS_LEFT = 8


def _database_url() -> str:
    # The test database (create_test_db points settings at it) for the consumer process.
    db = django_settings.DATABASES["default"]
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def _instrument_csv() -> str:
    row = dict.fromkeys(REQUIRED_COLUMNS, "")
    row.update(instrument_token=str(TOKEN), tradingsymbol="ACCEPTCO", name="ACCEPTANCE CO", tick_size="0.05",
               lot_size="1", instrument_type="EQ", segment="SIM", exchange="SIM")
    return ",".join(REQUIRED_COLUMNS) + "\n" + ",".join(row[c] for c in REQUIRED_COLUMNS) + "\n"


async def _wait_for_group(stream: str, group: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        try:
            if any(g["name"].decode() == group for g in get_redis().xinfo_groups(stream)):
                return
        except Exception:  # noqa: S110 - the stream does not exist until the consumer creates it
            pass
        await asyncio.sleep(0.2)
    raise AssertionError("consume_ticks did not create its consumer group")


@pytest.mark.django_db(transaction=True)
async def test_stream_ticks_come_back_from_udf_history_and_the_websocket(user: Any, settings: Any) -> None:
    run = uuid.uuid4().hex[:10]
    stream, group, prefix = f"test:accept:{run}", f"accept-{run}", f"tv:test:accept:{run}"
    layer = dict(settings.CHANNEL_LAYERS["default"])
    layer["CONFIG"] = {**layer["CONFIG"], "prefix": prefix}
    settings.CHANNEL_LAYERS = {"default": layer}
    report = await sync_to_async(load_instruments)(text=_instrument_csv())
    assert report.created == 1

    env = {
        **os.environ,
        "DJANGO_ENV": "test",
        "DATABASE_URL": _database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "TICK_STREAM": stream,
        "TICK_CONSUMER_GROUP": group,
        "CHANNEL_LAYER_PREFIX": prefix,
        "HISTORY_CACHE_NAMESPACE": settings.HISTORY_CACHE_NAMESPACE,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(BASE_DIR / "manage.py"), "consume_ticks", env=env, cwd=BASE_DIR,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )
    client = communicator(application, "/ws/ticks", token=await sync_to_async(jwt_for)(user))
    try:
        await _wait_for_group(stream, group)
        connected, _ = await client.connect()
        assert connected
        await client.send_json_to({"action": "subscribe", "symbol": SYMBOL, "resolution": "1"})
        await receive_type(client, "subscribed", timeout=5)

        if 60 - time.time() % 60 < MIN_SECONDS_LEFT:
            await asyncio.sleep(60 - time.time() % 60 + 0.2)
        now = time.time()
        minute = int(now // 60) * 60
        # Five ticks in the minute so far, none in the future; cumulative day volume rises.
        stamps = [int((minute + (now - minute) * k / 5) * 1000) for k in range(5)]
        prices = [101.0, 103.5, 99.25, 102.0, 100.75]
        volumes = [1_000, 1_040, 1_100, 1_150, 1_230]
        ticks = [{"token": TOKEN, "ts": ts, "ltp": p, "volume": v}
                 for ts, p, v in zip(stamps, prices, volumes, strict=True)]
        get_redis().xadd(stream, {"d": orjson.dumps(ticks)})

        await asyncio.sleep(minute + 60 - time.time() + 1.0)  # one second after the minute closed
        response = await sync_to_async(Client(SERVER_NAME="localhost").get)(
            "/api/v1/udf/history",
            {"symbol": SYMBOL, "resolution": "1", "from": minute, "to": minute + 60},
            HTTP_AUTHORIZATION=f"Bearer {await sync_to_async(jwt_for)(user)}",
        )
        body = response.json()
        assert body == {"s": "ok", "t": [minute], "o": [101.0], "h": [103.5], "l": [99.25], "c": [100.75],
                        "v": [1_230]}

        async with asyncio.timeout(5):
            while True:
                message = await receive_type(client, "bar", timeout=5)
                if message["closed"] and message["bar"]["time"] == minute:
                    break
        assert message["bar"] == {"time": minute, "open": 101.0, "high": 103.5, "low": 99.25, "close": 100.75,
                                  "volume": 1_230}
    finally:
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), timeout=15)
        except TimeoutError:
            process.kill()
            await process.wait()
        await client.disconnect()
        get_redis().delete(stream)
        await sync_to_async(connections.close_all)()
