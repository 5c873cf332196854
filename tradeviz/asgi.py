from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradeviz.settings")

# Django must be set up before anything imports models.
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from tradeviz.routing import websocket_urlpatterns  # noqa: E402
from tradeviz.ws.auth import WebSocketAuthStack  # noqa: E402
from tradeviz.ws.origins import OriginCheck  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": OriginCheck(WebSocketAuthStack(URLRouter(websocket_urlpatterns))),
    }
)
