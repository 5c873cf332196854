"""WebSocket routes of the marketdata app (mounted under /ws/ by tradeviz.routing)."""

from __future__ import annotations

from typing import Any

from django.urls import path

from marketdata.consumers import TicksConsumer

websocket_urlpatterns: list[Any] = [
    path("ws/ticks", TicksConsumer.as_asgi()),
]
