"""/ws/orders on real Redis: a user receives their own order and position changes, never anyone else's."""

from __future__ import annotations

from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.routing import URLRouter

from accounts.orderstream import push_applied
from accounts.routing import websocket_urlpatterns
from accounts.services.orders import order_updates_apply
from accounts.tests.trading_factories import make_account, make_instrument, parsed, update
from tradeviz.tests.ws_support import channel_layer, communicator, jwt_for, receive_all, receive_type
from tradeviz.ws.auth import WebSocketAuthStack
from tradeviz.ws.consumers import CLOSE_UNAUTHENTICATED
from tradeviz.ws.origins import OriginCheck

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.redis]
__all__ = ["channel_layer"]


@pytest.fixture
def app() -> Any:
    return OriginCheck(WebSocketAuthStack(URLRouter(websocket_urlpatterns)))


@database_sync_to_async
def setup_book(user: Any, tradingsymbol: str = "NIFTYWSFUT") -> tuple[Any, Any]:
    return make_account(user), make_instrument(tradingsymbol=tradingsymbol)


@database_sync_to_async
def apply_and_push(*messages: Any) -> int:
    return push_applied(order_updates_apply(updates=parsed(*messages)))


async def connect(app: Any, user: Any) -> Any:
    ws = communicator(app, "/ws/orders", token=jwt_for(user))
    connected, _ = await ws.connect()
    assert connected
    return ws


async def test_subscriber_gets_snapshot_then_live_order_and_position(app: Any, channel_layer: Any, user: Any) -> None:
    account, future = await setup_book(user)
    await apply_and_push(update(account, future, order_id="OLD", status="CANCELLED"))
    ws = await connect(app, user)
    await ws.send_json_to({"action": "subscribe", "account": account.pk, "id": 1})
    assert await ws.receive_json_from() == {"type": "subscribed", "account": account.pk, "id": 1}
    snapshot = await ws.receive_json_from()
    assert snapshot["type"] == "snapshot"
    assert [o["broker_order_id"] for o in snapshot["orders"]] == ["OLD"]

    assert await apply_and_push(update(account, future, order_id="NEW", status="COMPLETE", filled=75,
                                       average="100", at=5)) == 2
    order = await receive_type(ws, "order")
    assert {k: order["order"][k] for k in ("broker_order_id", "status", "filled_quantity", "average_price",
                                           "account")} == {
        "broker_order_id": "NEW", "status": "COMPLETE", "filled_quantity": 75, "average_price": 100.0,
        "account": account.pk}
    position = await receive_type(ws, "position")
    assert {k: position["position"][k] for k in ("tradingsymbol", "quantity", "average_price")} == {
        "tradingsymbol": "NIFTYWSFUT", "quantity": 75, "average_price": 100.0}
    # A duplicate changes nothing and pushes nothing.
    assert await apply_and_push(update(account, future, order_id="NEW", status="COMPLETE", filled=75,
                                       average="100", at=5)) == 0
    assert await receive_all(ws) == []
    await ws.disconnect()


async def test_a_stranger_cannot_subscribe_to_an_account_nor_receive_its_orders(
    app: Any, channel_layer: Any, user: Any, other_user: Any
) -> None:
    account, future = await setup_book(user)
    stranger = await connect(app, other_user)
    await stranger.send_json_to({"action": "subscribe", "account": account.pk})
    assert await stranger.receive_json_from() == {"type": "error", "detail": "No such trading account."}
    await stranger.send_json_to({"action": "subscribe"})
    assert (await stranger.receive_json_from())["type"] == "subscribed"
    assert (await stranger.receive_json_from()) == {"type": "snapshot", "account": None, "orders": []}
    await apply_and_push(update(account, future, status="COMPLETE", filled=75, average="100"))
    assert await receive_all(stranger) == []
    await stranger.disconnect()


async def test_an_account_filter_narrows_to_that_account(app: Any, channel_layer: Any, user: Any) -> None:
    first, future = await setup_book(user)
    second, _ = await setup_book(user, "OTHERFUT")
    ws = await connect(app, user)
    await ws.send_json_to({"action": "subscribe", "account": first.pk})
    await receive_all(ws)
    await apply_and_push(update(second, future, order_id="X"), update(first, future, order_id="Y"))
    messages = await receive_all(ws)
    assert [m["order"]["broker_order_id"] for m in messages if m["type"] == "order"] == ["Y"]
    await ws.disconnect()


@pytest.mark.parametrize("bad", ["abc", True, -3, {"id": 1}])
async def test_bad_account_ids_are_errors(app: Any, channel_layer: Any, user: Any, bad: Any) -> None:
    ws = await connect(app, user)
    await ws.send_json_to({"action": "subscribe", "account": bad})
    assert await ws.receive_json_from() == {
        "type": "error", "detail": "account must be the id of one of your trading accounts"}
    await ws.disconnect()


async def test_anonymous_connections_are_refused(app: Any, channel_layer: Any) -> None:
    ws = communicator(app, "/ws/orders")
    connected, code = await ws.connect()
    assert not connected
    assert code == CLOSE_UNAUTHENTICATED
