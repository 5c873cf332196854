"""WebSocket routes of the strategies app (mounted under /ws/ by tradeviz.routing)."""

from __future__ import annotations

from typing import Any

from django.urls import path

from strategies.consumers import StrategiesConsumer

websocket_urlpatterns: list[Any] = [
    path("ws/strategies", StrategiesConsumer.as_asgi()),
]
