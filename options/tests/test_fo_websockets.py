"""/ws/fo/stream and /ws/nifty-monitor end to end: the real ASGI application, the real Redis channel
layer, minutes published by the per-minute job. Wednesday 25 November 2026 is a regular NSE session."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from marketdata.calendar import reset_calendar_cache
from marketdata.services.calendar import seed_exchange_holidays
from options.chains import clear_chain_cache
from options.consumers import FoStreamConsumer, MonitorConsumer, live_cache
from options.pricing import time_to_expiry
from options.services.analytics import compute_minute
from options.tests.factories import ChainFixture, ist, make_chain, model_premium
from tradeviz.asgi import application
from tradeviz.tests.ws_support import channel_layer, communicator, jwt_for, receive_type

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.redis]
__all__ = ["channel_layer"]

EXPIRY = date(2026, 12, 1)
MINUTE = ist(2026, 11, 25, 10, 0)
NOW = MINUTE + timedelta(seconds=25)
STRIKES = (23_800.0, 23_900.0, 24_000.0, 24_100.0, 24_200.0)


@pytest.fixture(autouse=True)
def _calendar_and_clock(monkeypatch: Any, settings: Any) -> Iterator[None]:
    seed_exchange_holidays(exchange="NSE", years=[2026], source="merged")
    reset_calendar_cache()
    clear_chain_cache()
    live_cache.clear()
    settings.FO_STREAM_INTERVAL_SECONDS = 0.2
    settings.FO_RISK_FREE_RATE = 0.065
    for consumer in (FoStreamConsumer, MonitorConsumer):
        monkeypatch.setattr(consumer, "now", lambda self: NOW)
    yield
    live_cache.clear()
    reset_calendar_cache()


def seed(chain: ChainFixture, minute: datetime, forward: float) -> None:
    t = time_to_expiry(minute + timedelta(minutes=1), EXPIRY)
    chain.bar(chain.spot, minute, forward - 40)
    assert chain.futures is not None
    chain.bar(chain.futures, minute, forward, oi=10, volume=1)
    for k in chain.strikes:
        chain.bar(chain.calls[k], minute, model_premium(forward, k, t, 0.12, 0.065, "CE"), oi=1_000, volume=2)
        chain.bar(chain.puts[k], minute, model_premium(forward, k, t, 0.12, 0.065, "PE"), oi=1_500, volume=3)


@pytest.fixture
async def chain() -> ChainFixture:
    fixture: ChainFixture = await sync_to_async(make_chain)(strikes=STRIKES, token_base=5_500_000)
    await sync_to_async(seed)(fixture, MINUTE, 24_010.0)
    return fixture


@pytest.fixture
async def fo(channel_layer: Any, user: Any) -> AsyncIterator[Any]:
    client = communicator(application, "/ws/fo/stream", token=jwt_for(user))
    assert (await client.connect())[0]
    yield client
    await client.disconnect()


@pytest.fixture
async def monitor(channel_layer: Any, user: Any) -> AsyncIterator[Any]:
    client = communicator(application, "/ws/nifty-monitor", token=jwt_for(user))
    assert (await client.connect())[0]
    yield client
    await client.disconnect()


async def test_subscribe_sends_the_live_chain_windowed_on_atm(fo: Any, chain: ChainFixture) -> None:
    await fo.send_json_to(
        {"action": "subscribe", "underlying": "testidx", "expiry": "2026-12-01", "strikes": 1, "id": 7}
    )

    assert await receive_type(fo, "subscribed") == {
        "type": "subscribed",
        "underlying": "TESTIDX",
        "expiry": "2026-12-01",
        "strikes": 1,
        "id": 7,
    }
    message = await receive_type(fo, "chain")
    assert message["closed"] is False
    body = message["chain"]
    assert body["live"] is True
    assert body["as_of"] == NOW.isoformat()
    assert body["forward"] == 24_010.0
    assert body["atm_strike"] == 24_000.0
    assert [r["strike"] for r in body["rows"]] == [23_900.0, 24_000.0, 24_100.0]
    assert body["pcr_oi"] == 1.5  # the whole expiry, not only the rows sent


async def test_forming_minute_updates_keep_coming(fo: Any, chain: ChainFixture) -> None:
    await fo.send_json_to({"action": "subscribe", "underlying": "TESTIDX", "expiry": "2026-12-01"})
    await receive_type(fo, "chain")
    await sync_to_async(chain.bar)(chain.calls[24_000.0], MINUTE, 250.0, oi=1_000, volume=2)  # a fresher bar
    live_cache.clear()

    update = await receive_type(fo, "chain", timeout=3)

    assert update["closed"] is False
    atm = next(r for r in update["chain"]["rows"] if r["strike"] == 24_000.0)
    assert atm["ce"]["ltp"] == 250.0


async def test_a_closed_minute_arrives_with_its_metrics(fo: Any, chain: ChainFixture, settings: Any) -> None:
    settings.FO_STREAM_INTERVAL_SECONDS = 60  # only the published minute, no forming updates
    await fo.send_json_to(
        {"action": "subscribe", "underlying": "TESTIDX", "expiry": "2026-12-01", "strikes": 0}
    )
    await receive_type(fo, "chain")

    await sync_to_async(compute_minute)(minute=MINUTE, underlyings=["TESTIDX"], publish=True)

    closed = await receive_type(fo, "chain")
    assert closed["closed"] is True
    assert closed["chain"]["minute"] == MINUTE.isoformat()
    assert closed["chain"]["as_of"] == (MINUTE + timedelta(minutes=1)).isoformat()
    assert len(closed["chain"]["rows"]) == len(STRIKES)
    metrics = await receive_type(fo, "metrics")
    assert metrics["metrics"]["t"] == int(MINUTE.timestamp())
    assert metrics["metrics"]["pcr_oi"] == 1.5
    assert metrics["metrics"]["max_pain"] == closed["chain"]["max_pain"]


@pytest.mark.parametrize(
    ("message", "detail"),
    [
        ({"action": "subscribe", "underlying": "NOSUCH", "expiry": "2026-12-01"}, "Unknown underlying"),
        (
            {"action": "subscribe", "underlying": "TESTIDX", "expiry": "2026-12-09"},
            "No TESTIDX options expire",
        ),
        ({"action": "subscribe", "underlying": "TESTIDX"}, "expiry is required"),
        ({"action": "subscribe", "underlying": "TESTIDX", "expiry": "soon"}, "expiry must be a date"),
        (
            {"action": "subscribe", "underlying": "TESTIDX", "expiry": "2026-12-01", "strikes": -3},
            "strikes must be",
        ),
        ({"action": "subscribe", "expiry": "2026-12-01"}, "underlying is required"),
    ],
)
async def test_bad_subscriptions_are_errors_on_an_open_connection(
    fo: Any, chain: ChainFixture, message: dict[str, Any], detail: str
) -> None:
    await fo.send_json_to(message)

    error = await receive_type(fo, "error")
    assert detail in error["detail"]
    await fo.send_json_to({"action": "ping"})
    assert (await receive_type(fo, "pong"))["type"] == "pong"


async def test_unsubscribe(fo: Any, chain: ChainFixture) -> None:
    request = {"action": "subscribe", "underlying": "TESTIDX", "expiry": "2026-12-01", "strikes": 2}
    await fo.send_json_to(request)
    await receive_type(fo, "chain")

    await fo.send_json_to({**request, "action": "unsubscribe"})

    assert (await receive_type(fo, "unsubscribed"))["strikes"] == 2


async def test_monitor_snapshot_and_refresh_on_a_closed_minute(
    monitor: Any, chain: ChainFixture, settings: Any
) -> None:
    settings.FO_STREAM_INTERVAL_SECONDS = 60
    await monitor.send_json_to(
        {"action": "subscribe", "underlying": "TESTIDX", "expiries": 1, "otm_levels": 1}
    )

    assert (await receive_type(monitor, "subscribed"))["otm_levels"] == 1
    first = await receive_type(monitor, "monitor")
    assert first["monitor"]["underlying"] == "TESTIDX"
    assert first["monitor"]["futures"][0]["ltp"] == 24_010.0
    assert [r["strike"] for r in first["monitor"]["expiries"][0]["rows"]] == [23_900.0, 24_000.0, 24_100.0]

    live_cache.clear()
    await sync_to_async(compute_minute)(minute=MINUTE, underlyings=["TESTIDX"], publish=True)

    refreshed = await receive_type(monitor, "monitor")
    assert refreshed["monitor"]["expiries"][0]["atm_strike"] == 24_000.0


async def test_monitor_unknown_underlying_is_an_error(monitor: Any) -> None:
    await monitor.send_json_to({"action": "subscribe", "underlying": "NOSUCH"})

    assert "Unknown underlying" in (await receive_type(monitor, "error"))["detail"]


async def test_streams_refuse_unauthenticated_clients(channel_layer: Any) -> None:
    for path in ("/ws/fo/stream", "/ws/nifty-monitor"):
        client = communicator(application, path)
        connected, code = await client.connect()
        assert not connected
        assert code == 4401
