"""All WebSocket routes under /ws/. Apps contribute their consumers here explicitly."""

from __future__ import annotations

from typing import Any

websocket_urlpatterns: list[Any] = []
