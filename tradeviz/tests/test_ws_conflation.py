"""Slow clients get the latest update per key, never a backlog (tradeviz/ws/conflation.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tradeviz.tests.ws_support import channel_layer, communicator, echo_app, jwt_for, receive_all
from tradeviz.ws.conflation import ConflatingOutbox

__all__ = ["channel_layer", "echo_app"]


class Gate:
    """A `send` that waits for the test to open the gate, recording what it sent."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.open = asyncio.Event()
        self.open.set()

    async def send(self, text: str) -> None:
        await self.open.wait()
        self.sent.append(text)


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_latest_message_per_key_in_first_queued_order() -> None:
    gate = Gate()
    gate.open.clear()
    outbox = ConflatingOutbox(gate.send)
    sender = asyncio.create_task(outbox.run())
    outbox.put("a", "a1")
    outbox.put("b", "b1")
    outbox.put("a", "a2")
    outbox.put_unique("ack")
    outbox.put("b", "b2")
    assert len(outbox) == 3
    gate.open.set()
    await _settle()
    assert gate.sent == ["a2", "b2", "ack"]
    assert outbox.conflated == 2
    outbox.close()
    await sender


async def test_a_blocked_send_keeps_conflating_behind_it() -> None:
    gate = Gate()
    outbox = ConflatingOutbox(gate.send)
    sender = asyncio.create_task(outbox.run())
    gate.open.clear()
    outbox.put("k", "v0")
    await _settle()  # the sender now waits on the socket with v0
    for n in range(1, 1000):
        outbox.put("k", f"v{n}")
    assert len(outbox) == 1
    gate.open.set()
    await _settle()
    assert gate.sent == ["v0", "v999"]
    outbox.close()
    await sender


async def test_unique_messages_are_never_replaced_but_are_bounded() -> None:
    gate = Gate()
    gate.open.clear()
    outbox = ConflatingOutbox(gate.send, max_pending=3)
    sender = asyncio.create_task(outbox.run())
    for n in range(5):
        outbox.put_unique(f"m{n}")
    assert len(outbox) == 3
    assert outbox.dropped == 2
    gate.open.set()
    await _settle()
    assert gate.sent == ["m2", "m3", "m4"]
    outbox.close()
    await sender


async def test_discard_forgets_waiting_messages() -> None:
    gate = Gate()
    gate.open.clear()
    outbox = ConflatingOutbox(gate.send)
    sender = asyncio.create_task(outbox.run())
    outbox.put(("s1", "bar", 1), "x")
    outbox.put(("s2", "bar", 1), "y")
    outbox.put(("s1", "bar", 2), "z")
    outbox.discard_where(lambda key: key[0] == "s1")
    outbox.discard(("nothing",))
    gate.open.set()
    await _settle()
    assert gate.sent == ["y"]
    outbox.close()
    await sender


@pytest.mark.django_db(transaction=True)
@pytest.mark.redis
async def test_a_slow_client_gets_the_latest_and_does_not_hold_back_a_fast_one(
    echo_app: Any, channel_layer: Any, user: Any
) -> None:
    token = jwt_for(user)
    slow = communicator(echo_app, "/ws/test", token=token, slow=True)
    fast = communicator(echo_app, "/ws/test", token=token)
    for client in (slow, fast):
        assert (await client.connect())[0]
        await client.send_json_to({"action": "subscribe", "topic": "hot"})
        assert (await client.receive_json_from())["type"] == "subscribed"

    updates = 300
    for seq in range(updates):
        await channel_layer.group_send("test.hot", {"type": "test.update", "topic": "hot", "seq": seq})
    # The fast client keeps up: its last message is the last update, in order, with no gaps
    # beyond conflation (which only ever skips to a newer one).
    received = await receive_all(fast)
    seqs = [m["seq"] for m in received]
    assert seqs[-1] == updates - 1
    assert seqs == sorted(seqs)

    # The slow client's socket held one message all along; reading now yields at most the one
    # stuck in the socket, the one the sender was blocked on, and the newest: not 300.
    backlog = await receive_all(slow)
    assert 1 <= len(backlog) <= 3
    assert backlog[-1] == {"type": "update", "topic": "hot", "seq": updates - 1}
    # And it is still a working connection.
    await slow.send_json_to({"action": "ping"})
    assert await slow.receive_json_from() == {"type": "pong"}
    for client in (slow, fast):
        await client.disconnect()
