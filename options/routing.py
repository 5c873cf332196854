"""WebSocket routes of the options app (mounted under /ws/ by tradeviz.routing)."""

from __future__ import annotations

from typing import Any

from django.urls import path

from options.consumers import FoStreamConsumer, MonitorConsumer

websocket_urlpatterns: list[Any] = [
    path("ws/fo/stream", FoStreamConsumer.as_asgi()),
    path("ws/nifty-monitor", MonitorConsumer.as_asgi()),
]
