"""The shared WebSocket protocol (tradeviz/ws/consumers.py), through a minimal stream on real Redis."""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

import pytest
from prometheus_client import REGISTRY

from tradeviz.observability.logs import CorrelationIdFilter
from tradeviz.tests.ws_support import channel_layer, communicator, echo_app, jwt_for, receive_all
from tradeviz.ws.consumers import CLOSE_IDLE, MAX_MESSAGE_BYTES

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.redis]
__all__ = ["channel_layer", "echo_app"]


@pytest.fixture
async def client(echo_app: Any, channel_layer: Any, user: Any) -> Any:
    ws = communicator(echo_app, "/ws/test", token=jwt_for(user))
    connected, _ = await ws.connect()
    assert connected
    yield ws
    await ws.disconnect()


async def test_ping_is_answered_with_pong_echoing_the_id(client: Any) -> None:
    await client.send_json_to({"action": "ping"})
    assert await client.receive_json_from() == {"type": "pong"}
    await client.send_json_to({"action": "ping", "id": "p-1"})
    assert await client.receive_json_from() == {"type": "pong", "id": "p-1"}
    await client.send_json_to({"action": "ping", "id": 7})
    assert await client.receive_json_from() == {"type": "pong", "id": 7}


@pytest.mark.parametrize(
    ("frame", "detail"),
    [
        ("{not json", "invalid JSON"),
        ("[1, 2]", "a message must be a JSON object"),
        ('"subscribe"', "a message must be a JSON object"),
        ("{}", "missing action; expected one of subscribe, unsubscribe, ping"),
        ('{"action": "shout"}', "unknown action 'shout'; expected one of subscribe, unsubscribe, ping"),
        ('{"action": 5}', "unknown action '?'; expected one of subscribe, unsubscribe, ping"),
        ('{"action": "subscribe"}', "topic is required (letters and digits)"),
        ('{"action": "subscribe", "topic": "no spaces"}', "topic is required (letters and digits)"),
        ('{"action": "ping", "id": {"a": 1}}', "id must be an integer or a string of at most 64 characters"),
        ('{"action": "ping", "id": true}', "id must be an integer or a string of at most 64 characters"),
    ],
)
async def test_bad_messages_get_an_error_and_the_connection_stays(
    client: Any, frame: str, detail: str
) -> None:
    await client.send_to(text_data=frame)
    assert await client.receive_json_from() == {"type": "error", "detail": detail}
    await client.send_json_to({"action": "ping"})
    assert await client.receive_json_from() == {"type": "pong"}


async def test_errors_echo_the_request_id(client: Any) -> None:
    await client.send_json_to({"action": "subscribe", "id": "s1"})
    assert await client.receive_json_from() == {
        "type": "error",
        "detail": "topic is required (letters and digits)",
        "id": "s1",
    }


async def test_binary_frames_are_refused_politely(client: Any) -> None:
    await client.send_to(bytes_data=b"\x00\x01")
    assert await client.receive_json_from() == {
        "type": "error",
        "detail": "binary frames are not supported; send JSON text",
    }
    await client.send_json_to({"action": "ping"})
    assert await client.receive_json_from() == {"type": "pong"}


async def test_oversized_messages_are_refused(client: Any) -> None:
    padding = "x" * MAX_MESSAGE_BYTES
    await client.send_json_to({"action": "ping", "padding": padding})
    assert await client.receive_json_from() == {
        "type": "error",
        "detail": f"message too large (limit {MAX_MESSAGE_BYTES} bytes)",
    }
    # Multi-byte characters count as bytes, not characters.
    await client.send_json_to({"action": "ping", "padding": "₹" * (MAX_MESSAGE_BYTES // 3)})
    assert (await client.receive_json_from())["type"] == "error"
    await client.send_json_to({"action": "ping", "padding": "x" * (MAX_MESSAGE_BYTES - 100)})
    assert await client.receive_json_from() == {"type": "pong"}


async def test_subscribe_delivers_and_unsubscribe_stops_delivery(client: Any, channel_layer: Any) -> None:
    await client.send_json_to({"action": "subscribe", "topic": "alpha", "id": 1})
    assert await client.receive_json_from() == {"type": "subscribed", "topic": "alpha", "id": 1}
    await channel_layer.group_send("test.alpha", {"type": "test.update", "topic": "alpha", "seq": 1})
    assert await client.receive_json_from() == {"type": "update", "topic": "alpha", "seq": 1}

    await client.send_json_to({"action": "unsubscribe", "topic": "alpha"})
    assert await client.receive_json_from() == {"type": "unsubscribed", "topic": "alpha"}
    await channel_layer.group_send("test.alpha", {"type": "test.update", "topic": "alpha", "seq": 2})
    assert await client.receive_nothing(timeout=0.3)
    # The group was left, not just filtered: Redis no longer lists this connection in it.
    assert await channel_layer.connection(0).zcard(channel_layer._group_key("test.alpha")) == 0


async def test_unsubscribing_what_is_not_subscribed_is_an_error(client: Any) -> None:
    await client.send_json_to({"action": "unsubscribe", "topic": "beta"})
    assert await client.receive_json_from() == {"type": "error", "detail": "not subscribed"}


async def test_subscription_limit(client: Any, settings: Any, echo_app: Any, user: Any) -> None:
    settings.WS_MAX_SUBSCRIPTIONS = 2
    ws = communicator(echo_app, "/ws/test", token=jwt_for(user))
    assert (await ws.connect())[0]
    for topic in ("a", "b"):
        await ws.send_json_to({"action": "subscribe", "topic": topic})
        assert (await ws.receive_json_from())["type"] == "subscribed"
    # Subscribing again to the same topic is idempotent and does not count.
    await ws.send_json_to({"action": "subscribe", "topic": "a"})
    assert await ws.receive_json_from() == {"type": "subscribed", "topic": "a"}
    await ws.send_json_to({"action": "subscribe", "topic": "c"})
    assert await ws.receive_json_from() == {
        "type": "error",
        "detail": "too many subscriptions (limit 2 per connection)",
    }
    await ws.send_json_to({"action": "unsubscribe", "topic": "a"})
    assert (await ws.receive_json_from())["type"] == "unsubscribed"
    await ws.send_json_to({"action": "subscribe", "topic": "c"})
    assert await ws.receive_json_from() == {"type": "subscribed", "topic": "c"}
    await ws.disconnect()


async def test_idle_connections_are_closed(
    settings: Any, echo_app: Any, channel_layer: Any, user: Any
) -> None:
    settings.WS_IDLE_TIMEOUT_SECONDS = 1
    ws = communicator(echo_app, "/ws/test", token=jwt_for(user))
    assert (await ws.connect())[0]
    # Pings keep it open past the timeout...
    for _ in range(4):
        await asyncio.sleep(0.4)
        await ws.send_json_to({"action": "ping"})
        assert await ws.receive_json_from() == {"type": "pong"}
    # ...silence closes it.
    closed = await ws.receive_output(timeout=2)
    assert closed == {"type": "websocket.close", "code": CLOSE_IDLE}
    await ws.disconnect()


async def test_unknown_channel_layer_events_are_ignored(client: Any, channel_layer: Any) -> None:
    await client.send_json_to({"action": "subscribe", "topic": "gamma"})
    await client.receive_json_from()
    await channel_layer.group_send("test.gamma", {"type": "something.new", "x": 1})
    await channel_layer.group_send("test.gamma", {"type": "test.update", "topic": "gamma", "seq": 5})
    assert await client.receive_json_from() == {"type": "update", "topic": "gamma", "seq": 5}


def _sample(name: str, route: str) -> float:
    return REGISTRY.get_sample_value(name, {"route": route}) or 0.0


async def test_connection_gauge_and_message_counter(echo_app: Any, channel_layer: Any, user: Any) -> None:
    open_before = _sample("tradeviz_ws_connections", "test")
    sent_before = _sample("tradeviz_ws_messages_sent_total", "test")
    ws = communicator(echo_app, "/ws/test", token=jwt_for(user))
    assert (await ws.connect())[0]
    assert _sample("tradeviz_ws_connections", "test") == open_before + 1
    for _ in range(3):
        await ws.send_json_to({"action": "ping"})
        await ws.receive_json_from()
    assert _sample("tradeviz_ws_messages_sent_total", "test") == sent_before + 3
    await ws.disconnect()
    assert _sample("tradeviz_ws_connections", "test") == open_before


async def test_refused_connections_do_not_count(echo_app: Any, channel_layer: Any) -> None:
    open_before = _sample("tradeviz_ws_connections", "test")
    ws = communicator(echo_app, "/ws/test")
    assert (await ws.connect())[0] is False
    await ws.disconnect()
    assert _sample("tradeviz_ws_connections", "test") == open_before


async def test_log_lines_carry_the_connection_and_message_correlation_id(
    echo_app: Any, channel_layer: Any, user: Any, caplog: Any
) -> None:
    caplog.handler.addFilter(CorrelationIdFilter())
    caplog.set_level(logging.INFO, logger="tradeviz.ws.consumers")
    ws = communicator(echo_app, "/ws/test", token=jwt_for(user))
    ws.scope["headers"].append((b"x-correlation-id", b"client-abc"))
    assert (await ws.connect())[0]
    await ws.send_to(text_data="{oops")
    await ws.receive_json_from()
    await ws.send_to(text_data="{oops")
    await ws.receive_json_from()
    await ws.disconnect()
    ids = [r.correlation_id for r in caplog.records if "error reply" in r.getMessage()]
    assert ids == ["client-abc.1", "client-abc.2"]
    assert all(re.fullmatch(r"[A-Za-z0-9._:-]+", i) for i in ids)


async def test_async_event_handlers_run_in_order(client: Any, channel_layer: Any) -> None:
    await client.send_json_to({"action": "subscribe", "topic": "delta"})
    await client.receive_json_from()
    for seq in range(5):
        await channel_layer.group_send("test.delta", {"type": "test.later", "topic": "delta", "seq": seq})
    assert [m["seq"] for m in await receive_all(client)] == [0, 1, 2, 3, 4]


async def test_connections_of_one_process_share_one_group_membership(
    client: Any, echo_app: Any, channel_layer: Any, user: Any
) -> None:
    other = communicator(echo_app, "/ws/test", token=jwt_for(user))
    assert (await other.connect())[0]
    for ws in (client, other):
        await ws.send_json_to({"action": "subscribe", "topic": "shared"})
        await ws.receive_json_from()
    group_key = channel_layer._group_key("test.shared")
    assert await channel_layer.connection(0).zcard(group_key) == 1
    await channel_layer.group_send("test.shared", {"type": "test.update", "topic": "shared", "seq": 1})
    for ws in (client, other):
        assert await ws.receive_json_from() == {"type": "update", "topic": "shared", "seq": 1}
    await other.disconnect()
    await channel_layer.group_send("test.shared", {"type": "test.update", "topic": "shared", "seq": 2})
    assert await client.receive_json_from() == {"type": "update", "topic": "shared", "seq": 2}
    assert await channel_layer.connection(0).zcard(group_key) == 1
