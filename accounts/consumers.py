"""`/ws/orders`: a user's order and position changes as the order stream delivers them.

    → {"action": "subscribe"}                       every trading account of the user
    → {"action": "subscribe", "account": 12}        one account (must be the user's, else an error)
    ← {"type": "subscribed", "account": 12}
    ← {"type": "snapshot", "account": 12, "orders": [… the newest orders, newest first …]}
    ← {"type": "order", "order": {… as the orders API …}}
    ← {"type": "position", "position": {… id, account, instrument, tradingsymbol, quantity, …}}

Events come from the user's own channel-layer group (accounts.services.live.orders_group), so a
connection never receives another user's orders; an account filter only narrows that. Updates are
conflated per order (and per position): a slow client gets each order's newest state.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

from channels.db import database_sync_to_async

from accounts.models import Order, TradingAccount
from accounts.services.live import order_payload, orders_group
from tradeviz.errors import InvalidInput, NotFound
from tradeviz.ws.consumers import StreamConsumer

SNAPSHOT_ORDERS = 50
ALL_ACCOUNTS = "all"

_ORDER_COLUMNS = (
    "id", "account_id", "broker_order_id", "instrument_token", "tradingsymbol", "product", "side", "status",
    "quantity", "filled_quantity", "price", "average_price", "tag", "status_message", "placed_at",
    "exchange_updated_at", "open_at", "trigger_pending_at", "completed_at", "cancelled_at", "rejected_at",
)


@database_sync_to_async
def _owned_account(user_id: int, account_id: int) -> bool:
    return TradingAccount.objects.filter(owner_id=user_id, pk=account_id).exists()


@database_sync_to_async
def _recent_orders(user_id: int, account_id: int | None) -> list[dict[str, Any]]:
    queryset = Order.objects.filter(account__owner_id=user_id)
    if account_id is not None:
        queryset = queryset.filter(account_id=account_id)
    rows = queryset.order_by("-placed_at", "-id").values(*_ORDER_COLUMNS)[:SNAPSHOT_ORDERS]
    return [order_payload(row) for row in rows]


class OrdersConsumer(StreamConsumer):
    route = "orders"

    async def subscription_key(self, message: Mapping[str, Any]) -> tuple[Hashable, Any]:
        raw = message.get("account")
        if raw is None:
            return ALL_ACCOUNTS, None
        if isinstance(raw, bool) or not isinstance(raw, int | str) or not str(raw).isdigit():
            raise InvalidInput("account must be the id of one of your trading accounts")
        account_id = int(raw)
        if not await _owned_account(self.user.pk, account_id):
            raise NotFound("No such trading account.")
        return account_id, account_id

    async def start_subscription(self, key: Hashable, subscription: Any, *, request_id: Any = None) -> None:
        # Join before the snapshot: an update published meanwhile arrives after it and is newer.
        await self.join(orders_group(self.user.pk))
        self.reply(self.subscribed_message(key, subscription), request_id=request_id)
        orders = await _recent_orders(self.user.pk, subscription)
        self.reply({"type": "snapshot", "account": subscription, "orders": orders})

    async def stop_subscription(self, key: Hashable, subscription: Any) -> None:
        await self.leave(orders_group(self.user.pk))

    def subscribed_message(self, key: Hashable, subscription: Any) -> dict[str, Any]:
        return {"type": "subscribed", "account": subscription}

    def unsubscribed_message(self, key: Hashable, subscription: Any) -> dict[str, Any]:
        return {"type": "unsubscribed", "account": subscription}

    def _matching(self, account_id: int) -> list[Hashable]:
        return [key for key, account in self.subscriptions.items() if account is None or account == account_id]

    # --- channel-layer events (accounts.services.live) -------------------------------------------

    def orders_order(self, event: dict[str, Any]) -> None:
        order = event["order"]
        for key in self._matching(order["account"]):
            self.push((key, "order", order["id"]), {"type": "order", "order": order})

    def orders_position(self, event: dict[str, Any]) -> None:
        position = event["position"]
        for key in self._matching(position["account"]):
            self.push((key, "position", position["id"]), {"type": "position", "position": position})
