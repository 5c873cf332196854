"""Helpers of the WebSocket tests: the real ASGI stack over the real Redis channel layer.

Every test gets its own channel-layer prefix, so parallel runs (and a running `make run`) sharing
one Redis never see each other's groups, and the keys are flushed afterwards.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.conf import settings as django_settings
from django.db import connections
from django.urls import path
from rest_framework_simplejwt.tokens import AccessToken

from tradeviz.errors import InvalidInput
from tradeviz.ws.auth import WebSocketAuthStack
from tradeviz.ws.consumers import StreamConsumer
from tradeviz.ws.origins import OriginCheck

ORIGIN = b"http://localhost"


class EchoStream(StreamConsumer):
    """The smallest stream: subscribe to a `topic`, receive its `test.update` events as `update`."""

    route = "test"

    async def subscription_key(self, message: Any) -> tuple[Any, Any]:
        topic = message.get("topic")
        if not isinstance(topic, str) or not topic.isalnum():
            raise InvalidInput("topic is required (letters and digits)")
        return topic, {"topic": topic}

    async def start_subscription(self, key: Any, subscription: Any, *, request_id: Any = None) -> None:
        await self.join(f"test.{key}")
        self.reply(self.subscribed_message(key, subscription), request_id=request_id)

    async def stop_subscription(self, key: Any, subscription: Any) -> None:
        await self.leave(f"test.{key}")

    def subscribed_message(self, key: Any, subscription: Any) -> dict[str, Any]:
        return {"type": "subscribed", **subscription}

    def unsubscribed_message(self, key: Any, subscription: Any) -> dict[str, Any]:
        return {"type": "unsubscribed", **subscription}

    def test_update(self, event: dict[str, Any]) -> None:
        self.push(
            (event["topic"], "update"), {"type": "update", "topic": event["topic"], "seq": event["seq"]}
        )

    async def test_later(self, event: dict[str, Any]) -> None:
        """An async handler: run in order by the connection's inbox task."""
        await asyncio.sleep(0)
        self.push((event["topic"], "later", event["seq"]), {"type": "later", "seq": event["seq"]})


@pytest.fixture
def echo_app() -> Any:
    """EchoStream at /ws/test behind the same origin check and authentication as the real routes."""
    from channels.routing import URLRouter

    return OriginCheck(WebSocketAuthStack(URLRouter([path("ws/test", EchoStream.as_asgi())])))


@pytest.fixture
async def channel_layer(settings: Any) -> AsyncIterator[Any]:
    """The Redis channel layer of the app, under a prefix of its own."""
    config = dict(django_settings.CHANNEL_LAYERS["default"])
    config["CONFIG"] = {**config["CONFIG"], "prefix": f"tv:test:ws:{uuid.uuid4().hex[:12]}"}
    settings.CHANNEL_LAYERS = {"default": config}
    layer = get_channel_layer()
    assert type(layer).__name__ == "RedisChannelLayer"
    yield layer
    await layer.flush()
    # The consumers' database work ran in asgiref's sync thread; its connection must not outlive
    # the test (the test database could not be dropped).
    await sync_to_async(connections.close_all)()


def jwt_for(user: Any) -> str:
    return str(AccessToken.for_user(user))


def communicator(
    application: Any,
    path: str,
    *,
    token: str | None = None,
    cookie: str | None = None,
    origin: bytes | None = ORIGIN,
    slow: bool = False,
) -> WebsocketCommunicator:
    """A client of `path`; `slow` makes it a client that reads nothing until told to (its socket is
    full after one message, so the server's sends wait, like a TCP connection nobody reads)."""
    if token is not None:
        path = f"{path}?token={token}"
    headers = []
    if origin is not None:
        headers.append((b"origin", origin))
    if cookie is not None:
        headers.append((b"cookie", cookie.encode()))
    client = WebsocketCommunicator(application, path, headers=headers)
    if slow:
        client._output_queue = asyncio.Queue(maxsize=1)
    return client


async def receive_all(client: WebsocketCommunicator, *, quiet: float = 0.3) -> list[dict[str, Any]]:
    """Every message until none arrives for `quiet` seconds."""
    messages = []
    while not await client.receive_nothing(timeout=quiet):
        messages.append(await client.receive_json_from())
    return messages


async def receive_type(client: WebsocketCommunicator, kind: str, *, timeout: float = 2.0) -> dict[str, Any]:
    """The next message of type `kind`, skipping others (ltp between bars, say)."""
    async with asyncio.timeout(timeout):
        while True:
            message = await client.receive_json_from(timeout=timeout)
            if message["type"] == kind:
                return message
