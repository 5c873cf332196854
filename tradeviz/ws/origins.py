from __future__ import annotations

from typing import Any

from channels.security.websocket import OriginValidator
from django.conf import settings


def OriginCheck(inner: Any) -> Any:
    """Browsers may connect only from ALLOWED_HOSTS or WS_ALLOWED_ORIGINS; clients without Origin pass."""
    allowed = list(settings.ALLOWED_HOSTS) + list(settings.WS_ALLOWED_ORIGINS)
    if settings.DEBUG:
        allowed += ["localhost", "127.0.0.1", "[::1]"]
    return OriginValidator(inner, allowed)
