"""WebSocket routes of the labels app (mounted under /ws/ by tradeviz.routing)."""

from __future__ import annotations

from typing import Any

websocket_urlpatterns: list[Any] = []
