from __future__ import annotations

from typing import Any

from rest_framework import authentication, exceptions
from rest_framework.request import Request

from tradeviz.observability.metrics import API_KEY_AUTH

from .apikeys import api_key_authenticate

KEYWORD = "Api-Key"


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """`Authorization: Api-Key <key>`."""

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        keyword, _, raw_key = header.partition(" ")
        if keyword != KEYWORD:
            return None
        raw_key = raw_key.strip()
        if not raw_key:
            API_KEY_AUTH.labels(result="malformed").inc()
            raise exceptions.AuthenticationFailed("Empty API key.")
        api_key = api_key_authenticate(raw_key=raw_key)
        if api_key is None:
            API_KEY_AUTH.labels(result="rejected").inc()
            raise exceptions.AuthenticationFailed("Invalid or revoked API key.")
        API_KEY_AUTH.labels(result="accepted").inc()
        return api_key.user, api_key

    def authenticate_header(self, request: Request) -> str:
        return KEYWORD
