"""Liveness and readiness.

/health/live answers without I/O. /health/ready checks each dependency with a short timeout and
reports every check by name, so an operator sees which one failed.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from tradeviz.observability.metrics import HEALTH_CHECK_FAILURES
from tradeviz.redis_client import get_redis

logger = logging.getLogger(__name__)

BEAT_HEARTBEAT_KEY = "tv:health:beat"

# Extra readiness checks registered by apps (for example the tick consumer's stream lag).
_EXTRA_CHECKS: dict[str, Callable[[], dict[str, Any]]] = {}


class CheckFailed(Exception):
    pass


def register_check(name: str, check: Callable[[], dict[str, Any]]) -> None:
    """Add a readiness check: it returns detail, or raises CheckFailed (or anything) when not ready."""
    _EXTRA_CHECKS[name] = check


def check_database() -> dict[str, Any]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {}


def check_redis() -> dict[str, Any]:
    get_redis().ping()
    return {}


def check_channel_layer() -> dict[str, Any]:
    layer = get_channel_layer()
    if layer is None:
        raise CheckFailed("no channel layer configured")
    timeout = settings.HEALTH_CHECK_TIMEOUT_SECONDS

    async def round_trip() -> None:
        channel = await layer.new_channel(prefix="health.")
        token = uuid.uuid4().hex
        await layer.send(channel, {"type": "health.ping", "token": token})
        message = await asyncio.wait_for(layer.receive(channel), timeout=timeout)
        if message.get("token") != token:
            raise CheckFailed("channel layer returned a different message")

    async_to_sync(round_trip)()
    return {}


def record_beat_heartbeat() -> None:
    get_redis().set(BEAT_HEARTBEAT_KEY, str(time.time()), ex=settings.HEALTH_BEAT_MAX_AGE_SECONDS * 10)


def check_beat() -> dict[str, Any]:
    raw = get_redis().get(BEAT_HEARTBEAT_KEY)
    if raw is None:
        if settings.HEALTH_REQUIRE_BEAT:
            raise CheckFailed("no Celery beat heartbeat recorded yet")
        return {"note": "no heartbeat yet (not required)"}
    age = time.time() - float(raw)
    if age > settings.HEALTH_BEAT_MAX_AGE_SECONDS and settings.HEALTH_REQUIRE_BEAT:
        raise CheckFailed(f"last beat heartbeat {age:.0f}s ago (limit {settings.HEALTH_BEAT_MAX_AGE_SECONDS}s)")
    return {"age_seconds": round(age, 1)}


CORE_CHECKS: dict[str, Callable[[], dict[str, Any]]] = {
    "database": check_database,
    "redis": check_redis,
    "channel_layer": check_channel_layer,
    "celery_beat": check_beat,
}


def run_checks() -> tuple[bool, dict[str, dict[str, Any]]]:
    results: dict[str, dict[str, Any]] = {}
    healthy = True
    redis_down = False
    for name, check in {**CORE_CHECKS, **_EXTRA_CHECKS}.items():
        started = time.perf_counter()
        try:
            if redis_down and name in ("channel_layer", "celery_beat"):
                raise CheckFailed("redis unreachable")
            detail = check()
            results[name] = {"status": "ok", **detail}
        except Exception as exc:
            healthy = False
            redis_down = redis_down or name == "redis"
            HEALTH_CHECK_FAILURES.labels(check=name).inc()
            logger.warning("readiness check failed", extra={"check": name, "error": str(exc)})
            results[name] = {"status": "fail", "error": str(exc) or type(exc).__name__}
            if name == "database":
                connection.close_if_unusable_or_obsolete()
        results[name]["ms"] = round((time.perf_counter() - started) * 1000, 1)
    return healthy, results


@never_cache
@require_GET
def live(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok", "time": timezone.now().isoformat()})


@never_cache
@require_GET
def ready(request: HttpRequest) -> JsonResponse:
    healthy, results = run_checks()
    failing = [name for name, result in results.items() if result["status"] != "ok"]
    body = {"status": "ok" if healthy else "fail", "failing": failing, "checks": results}
    return JsonResponse(body, status=200 if healthy else 503)
