"""/ws/strategies on real Redis: the M2M job's updates reach the owner's subscribers, nobody else's."""

from __future__ import annotations

from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.routing import URLRouter

from marketdata.ticker_client import TickerError
from strategies.m2m import m2m_run
from strategies.routing import websocket_urlpatterns
from strategies.tests.factories import IN_SESSION, long_future, ms, straddle
from tradeviz.tests.ws_support import channel_layer, communicator, jwt_for, receive_all, receive_type
from tradeviz.ws.auth import WebSocketAuthStack
from tradeviz.ws.consumers import CLOSE_UNAUTHENTICATED
from tradeviz.ws.origins import OriginCheck

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.redis]
__all__ = ["channel_layer"]


@pytest.fixture
def app() -> Any:
    return OriginCheck(WebSocketAuthStack(URLRouter(websocket_urlpatterns)))


def no_ticker(tokens: list[int]) -> Any:
    raise TickerError("down")


@database_sync_to_async
def run_job() -> Any:
    return m2m_run(now=IN_SESSION, fetch_quotes=no_ticker)


async def connect(app: Any, user: Any) -> Any:
    ws = communicator(app, "/ws/strategies", token=jwt_for(user))
    connected, _ = await ws.connect()
    assert connected
    return ws


async def test_the_owner_receives_each_minutes_m2m(app: Any, channel_layer: Any, user: Any, instruments: Any,
                                                   prices: Any) -> None:
    strategy = await database_sync_to_async(long_future)(user, instruments)
    other = await database_sync_to_async(straddle)(user, instruments)
    prices({instruments["fut"]: (24150.0, ms(IN_SESSION) - 1000)})
    ws = await connect(app, user)
    await ws.send_json_to({"action": "subscribe", "strategy": strategy.pk})
    assert await ws.receive_json_from() == {"type": "subscribed", "strategy": strategy.pk}
    result = await run_job()
    assert result.pushed == 1
    update = await receive_type(ws, "m2m")
    assert update == {
        "type": "m2m", "strategy": strategy.pk, "time": int(result.minute.timestamp()), "open": 7500.0,
        "high": 7500.0, "low": 7500.0, "close": 7500.0, "m2m": 7500.0, "realised": 0.0, "unrealised": 7500.0,
        "stale_legs": 0,
    }
    # The other strategy (not subscribed) is filtered out.
    assert [m for m in await receive_all(ws) if m.get("strategy") == other.pk] == []
    await ws.disconnect()


async def test_a_stranger_cannot_subscribe_and_receives_nothing(app: Any, channel_layer: Any, user: Any,
                                                                other_user: Any, instruments: Any,
                                                                prices: Any) -> None:
    strategy = await database_sync_to_async(long_future)(user, instruments)
    prices({instruments["fut"]: (24150.0, ms(IN_SESSION) - 1000)})
    ws = await connect(app, other_user)
    await ws.send_json_to({"action": "subscribe", "strategy": strategy.pk})
    assert await ws.receive_json_from() == {"type": "error", "detail": "No such strategy."}
    await ws.send_json_to({"action": "subscribe"})
    assert await ws.receive_json_from() == {"type": "subscribed", "strategy": None}
    await run_job()
    assert await receive_all(ws) == []
    await ws.disconnect()


async def test_anonymous_connections_are_refused(app: Any, channel_layer: Any) -> None:
    ws = communicator(app, "/ws/strategies")
    connected, code = await ws.connect()
    assert (connected, code) == (False, CLOSE_UNAUTHENTICATED)
