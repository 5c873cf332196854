"""WebSocket authentication: the session cookie, or `?token=<JWT access token>`.

The token wins when both are present, so an API client never rides on a stale browser session.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware
from django.contrib.auth.models import AnonymousUser
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError

_jwt = JWTAuthentication()


@database_sync_to_async
def _user_from_token(raw: str) -> Any:
    try:
        validated = _jwt.get_validated_token(raw.encode())
        return _jwt.get_user(validated)
    except (InvalidToken, TokenError, Exception):
        return AnonymousUser()


class JwtQueryAuthMiddleware(BaseMiddleware):
    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        tokens = query.get("token")
        if tokens:
            scope = dict(scope, user=await _user_from_token(tokens[0]))
        return await super().__call__(scope, receive, send)


def WebSocketAuthStack(inner: Any) -> Any:
    return AuthMiddlewareStack(JwtQueryAuthMiddleware(inner))
