"""The base of every WebSocket stream under /ws/: one protocol, one set of limits, one way to send.

Protocol (docs/websockets.md): the client sends JSON objects with an `action` —
`subscribe` and `unsubscribe` (with stream-specific parameters) and `ping`; the server sends JSON
objects with a `type`. Errors are `{"type": "error", "detail": "..."}` and never close the
connection. A client message may carry an `id` (a short string or an integer); every reply to that
message echoes it.

A stream subclasses `StreamConsumer`, names its `route` (the metrics label) and implements three
hooks:

* `subscription_key(message)` — validate the parameters (raise `InvalidInput` / `NotFound`) and
  return a hashable key plus whatever the stream needs later (its "subscription" object).
* `start_subscription(key, subscription, message)` — join groups (`self.join`), send the
  snapshot; called only when the key is new and the per-connection limit allows it.
* `stop_subscription(key, subscription)` — leave groups (`self.leave`).

and one handler per channel-layer event type of the groups it joins (`md.bar` → `def md_bar(event)`),
which translates events into client messages with `self.push(key, message)` (conflated: only the
latest message per key waits for a slow client) or `self.reply(message)` (never conflated).

Groups are joined through the process's hub (tradeviz/ws/hub.py): each group message is read once
per process and handed to the handlers of every local connection in that group. Handlers should be
plain functions that do not await (they run inline, for every connection, on the hot path); an
`async def` handler also works, run in order by a task of the connection.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Coroutine, Hashable, Mapping
from typing import Any, ClassVar

import orjson
from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

from tradeviz.errors import DomainError
from tradeviz.observability.context import accept_or_new, set_correlation_id
from tradeviz.observability.metrics import WS_CONNECTIONS, WS_MESSAGES_SENT
from tradeviz.ws.conflation import ConflatingOutbox
from tradeviz.ws.hub import GroupHub, hub_for

logger = logging.getLogger(__name__)

# Close codes (4000-4999 are the application's): 4401 mirrors HTTP 401, 4408 mirrors HTTP 408.
CLOSE_UNAUTHENTICATED = 4401
CLOSE_IDLE = 4408
# The largest client message accepted; protocol messages are a few hundred bytes.
MAX_MESSAGE_BYTES = 4096
# `id` values echoed back to the client are kept short so they cannot bloat replies.
MAX_ID_LENGTH = 64
ACTIONS = ("subscribe", "unsubscribe", "ping")


class StreamConsumer(AsyncJsonWebsocketConsumer):
    """Authenticated, rate-safe JSON stream; subclasses add subscriptions and event handlers."""

    # Label of the connection gauge and message counter: the route under /ws/ ("ticks", "orders").
    route: ClassVar[str] = "unknown"
    max_message_bytes: ClassVar[int] = MAX_MESSAGE_BYTES

    # --- connection lifecycle --------------------------------------------------------------------

    async def connect(self) -> None:
        self.accepted = False
        self.subscriptions: dict[Hashable, Any] = {}
        self._group_refs: dict[str, int] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._inbox: asyncio.Queue[dict[str, Any]] | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._message_seq = 0
        self.connection_id = accept_or_new(self._header(b"x-correlation-id"))
        set_correlation_id(self.connection_id)
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            # Before accept, so an unauthenticated client never sees a byte of the stream
            # (the handshake is refused: browsers see HTTP 403, ASGI test clients code 4401).
            logger.info("WebSocket %s refused: not authenticated", self.route)
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.user = user
        self.max_subscriptions: int = settings.WS_MAX_SUBSCRIPTIONS
        self.idle_timeout: float = float(settings.WS_IDLE_TIMEOUT_SECONDS)
        self._sent_counter = WS_MESSAGES_SENT.labels(route=self.route)
        self.outbox = ConflatingOutbox(self._send_text)
        self.hub: GroupHub = hub_for(self.channel_layer)
        await self.accept()
        self.accepted = True
        WS_CONNECTIONS.labels(route=self.route).inc()
        self._last_received = time.monotonic()
        self._tasks = [
            asyncio.create_task(self._run_sender(), name=f"ws-{self.route}-sender"),
            asyncio.create_task(self._watch_idle(), name=f"ws-{self.route}-idle"),
        ]
        logger.debug("WebSocket %s opened for user %s", self.route, user.pk)

    async def disconnect(self, code: int) -> None:
        if not getattr(self, "accepted", False):
            return
        self.accepted = False
        WS_CONNECTIONS.labels(route=self.route).dec()
        self.outbox.close()
        for task in [*self._tasks, *self._background]:
            task.cancel()
        for key, subscription in list(self.subscriptions.items()):
            try:
                await self.stop_subscription(key, subscription)
            except Exception:
                logger.exception("WebSocket %s: stopping subscription %r failed", self.route, key)
        self.subscriptions.clear()
        for group in list(self._group_refs):
            await self.hub.leave(group, self)
        self._group_refs.clear()
        logger.debug("WebSocket %s closed (code %s)", self.route, code)

    async def dispatch(self, message: dict[str, Any]) -> None:
        # Channels' dispatch runs close_old_connections in a thread before every message. Database
        # work here goes through database_sync_to_async, which already does that around each call.
        handler = self._event_handler(message)
        if handler is None:
            return
        result = handler(message)
        if inspect.isawaitable(result):
            await result

    def deliver(self, event: dict[str, Any]) -> None:
        """A message of a joined group, from the hub: handled inline (or queued for an async handler)."""
        if not self.accepted:
            return
        handler = self._event_handler(event)
        if handler is None:
            return
        if inspect.iscoroutinefunction(handler):
            if self._inbox is None:
                self._inbox = asyncio.Queue()
                self._tasks.append(asyncio.create_task(self._run_inbox(), name=f"ws-{self.route}-inbox"))
            self._inbox.put_nowait(event)
            return
        handler(event)

    def _event_handler(self, message: dict[str, Any]) -> Any:
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            if message["type"].startswith("websocket."):
                raise ValueError(f"No handler for message type {message['type']}")
            # An event this stream does not know (a newer publisher): not worth a dropped connection.
            logger.warning("WebSocket %s: ignoring channel-layer event %s", self.route, message["type"])
        return handler

    async def _run_inbox(self) -> None:
        assert self._inbox is not None
        while True:
            event = await self._inbox.get()
            try:
                await self._event_handler(event)(event)
            except Exception:
                logger.exception("WebSocket %s: handling %s failed", self.route, event.get("type"))

    # --- client messages -------------------------------------------------------------------------

    async def receive(
        self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any
    ) -> None:
        self._last_received = time.monotonic()
        self._message_seq += 1
        set_correlation_id(f"{self.connection_id}.{self._message_seq}")
        try:
            await self._handle_frame(text_data, bytes_data)
        finally:
            set_correlation_id(self.connection_id)

    async def _handle_frame(self, text_data: str | None, bytes_data: bytes | None) -> None:
        if text_data is None:
            self.error("binary frames are not supported; send JSON text")
            return
        if len(text_data) > self.max_message_bytes or len(text_data.encode()) > self.max_message_bytes:
            self.error(f"message too large (limit {self.max_message_bytes} bytes)")
            return
        try:
            content = orjson.loads(text_data)
        except orjson.JSONDecodeError:
            self.error("invalid JSON")
            return
        if not isinstance(content, dict):
            self.error("a message must be a JSON object")
            return
        request_id = content.get("id")
        if request_id is not None and not self._valid_id(request_id):
            self.error(f"id must be an integer or a string of at most {MAX_ID_LENGTH} characters")
            return
        await self.receive_json(content, request_id=request_id)

    async def receive_json(self, content: dict[str, Any], request_id: Any = None, **kwargs: Any) -> None:
        action = content.get("action")
        try:
            if action == "ping":
                self.reply({"type": "pong"}, request_id=request_id)
            elif action == "subscribe":
                await self._subscribe(content, request_id)
            elif action == "unsubscribe":
                await self._unsubscribe(content, request_id)
            else:
                shown = action if isinstance(action, str) and len(action) <= MAX_ID_LENGTH else "?"
                raise_detail = f"unknown action {shown!r}; expected one of {', '.join(ACTIONS)}"
                if action is None:
                    raise_detail = f"missing action; expected one of {', '.join(ACTIONS)}"
                self.error(raise_detail, request_id=request_id)
        except DomainError as exc:
            self.error(exc.message, request_id=request_id)
        except Exception:
            logger.exception("WebSocket %s: %s failed", self.route, action)
            self.error("internal error", request_id=request_id)

    async def _subscribe(self, content: Mapping[str, Any], request_id: Any) -> None:
        key, subscription = await self.subscription_key(content)
        if key in self.subscriptions:
            # Idempotent: the client gets the acknowledgement and the snapshot again.
            await self.resend_subscription(key, self.subscriptions[key], request_id=request_id)
            return
        if len(self.subscriptions) >= self.max_subscriptions:
            self.error(
                f"too many subscriptions (limit {self.max_subscriptions} per connection)",
                request_id=request_id,
            )
            return
        self.subscriptions[key] = subscription
        try:
            await self.start_subscription(key, subscription, request_id=request_id)
        except BaseException:
            self.subscriptions.pop(key, None)
            await self.stop_subscription(key, subscription)
            raise

    async def _unsubscribe(self, content: Mapping[str, Any], request_id: Any) -> None:
        key, _ = await self.subscription_key(content)
        subscription = self.subscriptions.pop(key, None)
        if subscription is None:
            self.error("not subscribed", request_id=request_id)
            return
        await self.stop_subscription(key, subscription)
        self.outbox.discard_where(lambda k: isinstance(k, tuple) and len(k) > 0 and k[0] == key)
        self.reply(self.unsubscribed_message(key, subscription), request_id=request_id)

    # --- hooks for streams -----------------------------------------------------------------------

    async def subscription_key(self, message: Mapping[str, Any]) -> tuple[Hashable, Any]:
        """Validate a subscribe/unsubscribe message: (key, subscription object)."""
        raise NotImplementedError

    async def start_subscription(self, key: Hashable, subscription: Any, *, request_id: Any = None) -> None:
        """Begin delivering a new subscription: join groups, reply `subscribed`, send the snapshot."""
        raise NotImplementedError

    async def resend_subscription(self, key: Hashable, subscription: Any, *, request_id: Any = None) -> None:
        """A repeated subscribe; by default only acknowledged again."""
        self.reply(self.subscribed_message(key, subscription), request_id=request_id)

    async def stop_subscription(self, key: Hashable, subscription: Any) -> None:
        """Stop delivering a subscription (leave the groups it joined). Must tolerate partial starts."""

    def subscribed_message(self, key: Hashable, subscription: Any) -> dict[str, Any]:
        return {"type": "subscribed"}

    def unsubscribed_message(self, key: Hashable, subscription: Any) -> dict[str, Any]:
        return {"type": "unsubscribed"}

    # --- helpers for streams ---------------------------------------------------------------------

    async def join(self, group: str) -> None:
        """Receive a channel-layer group's messages; reference-counted across this connection's
        subscriptions. From the moment this returns, no message of the group is missed."""
        count = self._group_refs.get(group, 0)
        self._group_refs[group] = count + 1
        if count == 0:
            try:
                await self.hub.join(group, self)
            except BaseException:
                self._group_refs.pop(group, None)
                raise

    async def leave(self, group: str) -> None:
        """Release one reference; the group is left when no subscription needs it any more."""
        count = self._group_refs.get(group, 0)
        if count <= 1:
            if self._group_refs.pop(group, None) is not None:
                await self.hub.leave(group, self)
            return
        self._group_refs[group] = count - 1

    def push(self, key: Hashable, message: Mapping[str, Any]) -> None:
        """Queue an update; a later push with the same key replaces it if it is still waiting.

        Keys of a subscription's updates should be tuples starting with the subscription key, so
        unsubscribing drops whatever is still waiting for it.
        """
        self.outbox.put(key, orjson.dumps(message).decode())

    def discard(self, key: Hashable) -> None:
        self.outbox.discard(key)

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` beside the connection (cancelled when it closes); failures are logged."""
        task = asyncio.create_task(self._guard(work))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _guard(self, work: Coroutine[Any, Any, None]) -> None:
        try:
            await work
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("WebSocket %s: background work failed", self.route)

    def reply(self, message: Mapping[str, Any], *, request_id: Any = None) -> None:
        """Queue a message that is never conflated (acknowledgements, errors, pongs)."""
        if request_id is not None:
            message = {**message, "id": request_id}
        self.outbox.put_unique(orjson.dumps(message).decode())

    def error(self, detail: str, *, request_id: Any = None) -> None:
        logger.info("WebSocket %s error reply: %s", self.route, detail)
        self.reply({"type": "error", "detail": detail}, request_id=request_id)

    # --- internals -------------------------------------------------------------------------------

    @staticmethod
    def _valid_id(value: Any) -> bool:
        if isinstance(value, bool):
            return False
        return isinstance(value, int) or (isinstance(value, str) and len(value) <= MAX_ID_LENGTH)

    def _header(self, name: bytes) -> str | None:
        for header, value in self.scope.get("headers", []):
            if header == name:
                return str(value.decode("latin-1"))
        return None

    async def _send_text(self, text: str) -> None:
        await self.send(text_data=text)
        self._sent_counter.inc()

    async def _run_sender(self) -> None:
        try:
            await self.outbox.run()
        except asyncio.CancelledError:
            raise
        except Exception:
            # The transport went away under us; the disconnect that follows cleans up.
            logger.debug("WebSocket %s sender stopped", self.route, exc_info=True)

    async def _watch_idle(self) -> None:
        """Close the connection when the client has sent nothing (not even a ping) for too long."""
        while True:
            remaining = self._last_received + self.idle_timeout - time.monotonic()
            if remaining <= 0:
                logger.info("WebSocket %s idle for %.0f s; closing", self.route, self.idle_timeout)
                self.outbox.close()
                await self.close(code=CLOSE_IDLE)
                return
            await asyncio.sleep(remaining)
