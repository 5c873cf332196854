from __future__ import annotations

from typing import Any

from channels.security.websocket import OriginValidator
from django.conf import settings


class _BrowserOriginValidator(OriginValidator):
    """Browsers always send Origin, so a cross-site page riding on a user's cookie is refused here.

    A client sending no Origin is not a browser (scripts, the benchmark): it has no victim's cookie
    to abuse and must authenticate with a token like any API client, so it passes this check.
    """

    def valid_origin(self, parsed_origin: Any) -> bool:
        if parsed_origin is None:
            return True
        return bool(super().valid_origin(parsed_origin))


def OriginCheck(inner: Any) -> Any:
    """Browsers may connect only from ALLOWED_HOSTS or WS_ALLOWED_ORIGINS; clients without Origin pass."""
    allowed = list(settings.ALLOWED_HOSTS) + list(settings.WS_ALLOWED_ORIGINS)
    if settings.DEBUG:
        allowed += ["localhost", "127.0.0.1", "[::1]"]
    return _BrowserOriginValidator(inner, allowed)
