"""Shared Redis clients with short timeouts, so a Redis outage fails fast and recovers by itself."""

from __future__ import annotations

from functools import lru_cache

import redis
import redis.asyncio as aioredis
from django.conf import settings
from redis.backoff import ExponentialBackoff
from redis.retry import Retry


def _retry() -> Retry:
    return Retry(ExponentialBackoff(cap=1.0, base=0.05), retries=2)


@lru_cache(maxsize=1)
def get_redis() -> redis.Redis:
    """Process-wide client; its pool reconnects after a Redis restart."""
    return redis.Redis.from_url(
        settings.REDIS_URL,
        socket_timeout=settings.REDIS_SOCKET_TIMEOUT,
        socket_connect_timeout=settings.REDIS_SOCKET_TIMEOUT,
        health_check_interval=15,
        retry=_retry(),
    )


def new_async_redis() -> aioredis.Redis:
    """A client for one event loop (async clients must not be shared across loops)."""
    return aioredis.Redis.from_url(
        settings.REDIS_URL,
        socket_timeout=settings.REDIS_SOCKET_TIMEOUT,
        socket_connect_timeout=settings.REDIS_SOCKET_TIMEOUT,
        health_check_interval=15,
    )
