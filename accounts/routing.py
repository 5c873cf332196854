"""WebSocket routes of the accounts app (mounted under /ws/ by tradeviz.routing)."""

from __future__ import annotations

from typing import Any

from django.urls import path

from accounts.consumers import OrdersConsumer

websocket_urlpatterns: list[Any] = [
    path("ws/orders", OrdersConsumer.as_asgi()),
]
