"""One channel-layer reader per group per process, shared by every WebSocket connection following it.

With plain Channels, each connection joins a group with its own channel, and every group message
is handed to each connection through the layer's receive machinery (a lock, two tasks and an
`asyncio.wait` per message per connection): with a hundred connections on one symbol that is most
of a daphne process's CPU, and when it falls behind, every connection's layer buffer fills with
stale messages that conflation can no longer help with. The hub joins each group once per process
(with a channel of its own), receives each message once, and hands it synchronously to the local
connections' `deliver`, which only updates their conflated outboxes. A process that cannot keep
up then skips intermediate updates instead of queueing them.

One hub per (event loop, channel layer). It also re-joins its groups every
`GROUP_REFRESH_SECONDS`, because the Redis layer forgets group members after `group_expiry`
(a day by default) and a connection can live longer than that, and after a failed receive
(Redis restarted and lost the memberships).
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from dataclasses import dataclass, field
from typing import Any, Protocol

logger = logging.getLogger(__name__)

# Well under channels_redis' default group_expiry (86400 s).
GROUP_REFRESH_SECONDS = 3600.0
# After a failed receive (Redis down), wait this long before trying again.
RECEIVE_RETRY_SECONDS = 1.0


class Listener(Protocol):
    def deliver(self, event: dict[str, Any]) -> None:
        """Handle one group message; called synchronously, so it must not block."""


@dataclass(eq=False)
class _Group:
    name: str
    ready: asyncio.Future[None]
    members: set[Listener] = field(default_factory=set)
    channel: str = ""
    reader: asyncio.Task[None] | None = None


class GroupHub:
    def __init__(self, layer: Any) -> None:
        self.layer = layer
        self._groups: dict[str, _Group] = {}
        self._refresher: asyncio.Task[None] | None = None

    def members(self, group: str) -> int:
        state = self._groups.get(group)
        return len(state.members) if state else 0

    async def join(self, group: str, listener: Listener) -> None:
        state = self._groups.get(group)
        if state is not None:
            # Counted before waiting, so a concurrent last leave cannot tear the group down under us.
            state.members.add(listener)
            try:
                await asyncio.shield(state.ready)
            except BaseException:
                state.members.discard(listener)
                raise
            return
        state = _Group(name=group, ready=asyncio.get_running_loop().create_future(), members={listener})
        self._groups[group] = state
        try:
            # The layer's default ("specific") prefix: channels_redis reads all of a process's
            # channels with that prefix from one Redis key under one lock; another prefix would
            # only be read while its own reader happened to hold that lock.
            state.channel = await self.layer.new_channel()
            await self.layer.group_add(group, state.channel)
        except BaseException as exc:
            self._groups.pop(group, None)
            state.ready.set_exception(exc)
            state.ready.exception()  # retrieved: waiters get it through their own await
            raise
        state.reader = asyncio.create_task(self._read(state), name=f"ws-hub-{group}")
        state.ready.set_result(None)
        if self._refresher is None:
            self._refresher = asyncio.create_task(self._refresh(), name="ws-hub-refresh")
        if not state.members:  # everyone left while the group was being joined
            await self._teardown(state)

    async def leave(self, group: str, listener: Listener) -> None:
        state = self._groups.get(group)
        if state is None:
            return
        state.members.discard(listener)
        if state.members or not state.ready.done():
            return
        await self._teardown(state)

    async def _teardown(self, state: _Group) -> None:
        group = state.name
        if self._groups.get(group) is not state:
            return
        del self._groups[group]
        if state.reader is not None:
            state.reader.cancel()
        try:
            await self.layer.group_discard(group, state.channel)
        except Exception:
            # The membership expires on its own (group_expiry); nothing else depends on it.
            logger.warning("WebSocket hub: leaving group %s failed", group, exc_info=True)
        if not self._groups and self._refresher is not None:
            self._refresher.cancel()
            self._refresher = None

    async def _read(self, state: _Group) -> None:
        while True:
            try:
                message = await self.layer.receive(state.channel)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("WebSocket hub: receive on %s failed; retrying", state.name, exc_info=True)
                await asyncio.sleep(RECEIVE_RETRY_SECONDS)
                await self._rejoin(state)
                continue
            for listener in tuple(state.members):
                try:
                    listener.deliver(message)
                except Exception:
                    logger.exception("WebSocket hub: a connection failed to handle %s", message.get("type"))

    async def _rejoin(self, state: _Group) -> None:
        try:
            await self.layer.group_add(state.name, state.channel)
        except Exception:
            logger.debug("WebSocket hub: re-joining %s failed", state.name, exc_info=True)

    async def _refresh(self) -> None:
        while True:
            await asyncio.sleep(GROUP_REFRESH_SECONDS)
            for state in list(self._groups.values()):
                if state.ready.done() and not state.ready.exception():
                    await self._rejoin(state)


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[int, GroupHub]] = weakref.WeakKeyDictionary()


def hub_for(layer: Any) -> GroupHub:
    """The hub of this event loop for `layer` (created on first use)."""
    per_loop = _hubs.setdefault(asyncio.get_running_loop(), {})
    hub = per_loop.get(id(layer))
    if hub is None or hub.layer is not layer:
        hub = per_loop[id(layer)] = GroupHub(layer)
    return hub
