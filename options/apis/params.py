"""Query-parameter parsing shared by the F&O APIs: every bad value is InvalidInput (400, error shape)."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from typing import Any

import orjson
from django.http import HttpResponse
from rest_framework.request import Request

from options.pricing import IST
from tradeviz.errors import InvalidInput

# 2000-01-01 .. 2100-01-01: anything outside is a client bug, not a market time.
MIN_EPOCH = 946_684_800
MAX_EPOCH = 4_102_444_800
MAX_PARAM_LENGTH = 64


def json_response(body: Any, status: int = 200) -> HttpResponse:
    """orjson straight to bytes. Selectors hand over plain floats with None for undefined values; numpy
    scalars are accepted too, and orjson writes NaN/inf as null, so no response can carry them."""
    return HttpResponse(
        orjson.dumps(body, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY),
        status=status,
        content_type="application/json",
    )


def _raw(request: Request, name: str) -> str | None:
    value = request.query_params.get(name)
    if value is None or value.strip() == "":
        return None
    if len(value) > MAX_PARAM_LENGTH and name not in ("strikes", "q"):
        raise InvalidInput(f"{name} is too long")
    return value.strip()


def text_param(request: Request, name: str, *, required: bool = False, default: str = "") -> str:
    value = _raw(request, name)
    if value is None:
        if required:
            raise InvalidInput(f"missing parameter: {name}")
        return default
    return value


def int_param(request: Request, name: str, *, default: int, minimum: int, maximum: int) -> int:
    value = _raw(request, name)
    if value is None:
        return default
    if not (value.isdigit() or (value[0] == "-" and value[1:].isdigit())) or len(value) > 12:
        raise InvalidInput(f"{name} must be an integer, got {value[:20]!r}")
    number = int(value)
    if not minimum <= number <= maximum:
        raise InvalidInput(f"{name} must be between {minimum} and {maximum}")
    return number


def float_param(
    request: Request, name: str, *, default: float | None, minimum: float, maximum: float
) -> float | None:
    value = _raw(request, name)
    if value is None:
        return default
    try:
        number = float(value)
    except ValueError:
        raise InvalidInput(f"{name} must be a number, got {value[:20]!r}") from None
    if not math.isfinite(number) or not minimum <= number <= maximum:
        raise InvalidInput(f"{name} must be between {minimum:g} and {maximum:g}")
    return number


def required_date(request: Request, name: str) -> date:
    value = date_param(request, name)
    assert value is not None  # date_param raises for a missing required date
    return value


def date_param(request: Request, name: str, *, required: bool = True) -> date | None:
    value = _raw(request, name)
    if value is None:
        if required:
            raise InvalidInput(f"missing parameter: {name} (YYYY-MM-DD)")
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{name} must be a date YYYY-MM-DD, got {value[:20]!r}") from None


def parse_instant(value: str, name: str) -> datetime:
    """Unix seconds, or ISO-8601; an ISO time without an offset is market time (Asia/Kolkata)."""
    text = value.strip()
    if text.isdigit():
        seconds = int(text)
        if not MIN_EPOCH <= seconds <= MAX_EPOCH:
            raise InvalidInput(f"{name} must be Unix seconds between {MIN_EPOCH} and {MAX_EPOCH}")
        return datetime.fromtimestamp(seconds, tz=UTC)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "T", 1))
    except ValueError:
        raise InvalidInput(f"{name} must be Unix seconds or an ISO-8601 time, got {text[:32]!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=IST)
    if not MIN_EPOCH <= moment.timestamp() <= MAX_EPOCH:
        raise InvalidInput(f"{name} is out of range")
    return moment.astimezone(UTC)


def instant_param(request: Request, name: str) -> datetime | None:
    value = _raw(request, name)
    return None if value is None else parse_instant(value, name)


def choice_param(request: Request, name: str, *, choices: tuple[str, ...], default: str) -> str:
    value = _raw(request, name)
    if value is None:
        return default
    if value.lower() not in choices:
        raise InvalidInput(f"{name} must be one of {', '.join(choices)}", details={name: list(choices)})
    return value.lower()
