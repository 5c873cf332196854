"""Small SQL building blocks shared by the time-series modules: identifiers and interval literals.

Table and column names end up interpolated into DDL and into the bucketing SQL, so they are
validated against a strict pattern first and always double-quoted.
"""

from __future__ import annotations

import re
from datetime import timedelta

from django.db import connection

# PostgreSQL truncates identifiers longer than NAMEDATALEN - 1 bytes.
MAX_IDENTIFIER_LENGTH = 63
_IDENTIFIER_RE = re.compile(r"^[a-z_][a-z0-9_]*$")
_INTERVAL_RE = re.compile(
    r"^\d+\s*(microseconds?|milliseconds?|seconds?|minutes?|hours?|days?|weeks?|months?|years?)"
    r"(\s+\d+\s*(microseconds?|milliseconds?|seconds?|minutes?|hours?|days?|weeks?|months?|years?))*$"
)
SECONDS_PER_MINUTE = 60
SECONDS_PER_HOUR = 3600
SECONDS_PER_DAY = 86400


def check_identifier(name: str, *, what: str = "identifier", reserve: int = 0) -> str:
    """A lower-case SQL identifier that still fits when `reserve` characters are appended to it."""
    if not isinstance(name, str) or not _IDENTIFIER_RE.match(name):
        raise ValueError(f"{what} {name!r} must match {_IDENTIFIER_RE.pattern}")
    if len(name) + reserve > MAX_IDENTIFIER_LENGTH:
        raise ValueError(f"{what} {name!r} is too long (max {MAX_IDENTIFIER_LENGTH - reserve} characters)")
    return name


def qn(name: str) -> str:
    """Double-quote an identifier (PostgreSQL rules)."""
    quoted: str = connection.ops.quote_name(name)
    return quoted


def interval_text(value: str | timedelta) -> str:
    """The text of a PostgreSQL interval: `'1 day'` stays, timedelta(minutes=5) → `'5 minutes'`."""
    if isinstance(value, timedelta):
        if value <= timedelta(0):
            raise ValueError(f"interval must be positive, got {value!r}")
        seconds = value.total_seconds()
        if seconds != int(seconds):
            raise ValueError(f"interval must be whole seconds, got {value!r}")
        whole = int(seconds)
        for unit, size in (
            ("days", SECONDS_PER_DAY),
            ("hours", SECONDS_PER_HOUR),
            ("minutes", SECONDS_PER_MINUTE),
        ):
            if whole % size == 0:
                return f"{whole // size} {unit}"
        return f"{whole} seconds"
    text = str(value).strip().lower()
    if not _INTERVAL_RE.match(text):
        raise ValueError(f"not a simple interval: {value!r} (expected e.g. '1 day', '7 days', '6 months')")
    return text


def interval_literal(value: str | timedelta) -> str:
    """`INTERVAL '…'` — safe to interpolate, since interval_text only lets digits and unit words through."""
    return f"INTERVAL '{interval_text(value)}'"
