"""The correlation id of the work in hand (a request, a task, a WebSocket message)."""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar

_correlation_id: ContextVar[str | None] = ContextVar("correlation_id", default=None)

# Accept callers' ids only when they are short and plain, so they are safe to log and echo.
_VALID_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def get_correlation_id() -> str | None:
    return _correlation_id.get()


def set_correlation_id(value: str | None) -> None:
    _correlation_id.set(value)


def new_correlation_id() -> str:
    return uuid.uuid4().hex


def accept_or_new(candidate: str | None) -> str:
    if candidate and _VALID_ID.match(candidate):
        return candidate
    return new_correlation_id()
