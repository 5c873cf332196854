"""All WebSocket routes under /ws/, gathered from each app's routing module."""

from __future__ import annotations

from typing import Any

from accounts import routing as accounts_routing
from labels import routing as labels_routing
from marketdata import routing as marketdata_routing
from options import routing as options_routing
from strategies import routing as strategies_routing

websocket_urlpatterns: list[Any] = [
    *marketdata_routing.websocket_urlpatterns,
    *options_routing.websocket_urlpatterns,
    *strategies_routing.websocket_urlpatterns,
    *accounts_routing.websocket_urlpatterns,
    *labels_routing.websocket_urlpatterns,
]
