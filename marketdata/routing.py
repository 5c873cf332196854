"""WebSocket routes of the marketdata app (mounted under /ws/ by tradeviz.routing)."""

from __future__ import annotations

from typing import Any

websocket_urlpatterns: list[Any] = []
