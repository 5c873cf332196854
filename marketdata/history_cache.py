"""Two-level cache of UDF history answers: L1 in this process (bounded by bytes), L2 in Redis.

Keys carry a per-instrument version kept in Redis; writing bars bumps it (`invalidate_instruments`),
so every process stops serving old answers at once without scanning keys. A Redis outage degrades
to no caching (answers are computed), never to stale or failed answers.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable

from cachetools import TTLCache
from django.conf import settings

from tradeviz.observability.metrics import CACHE_REQUESTS
from tradeviz.redis_client import get_redis

logger = logging.getLogger(__name__)

VERSION_KEY = "{namespace}:ver:{instrument_id}"
ANSWER_KEY = "{namespace}:{instrument_id}:{version}:{request}"
# L1 entries live briefly: the version check on every request is what keeps them correct.
L1_TTL_SECONDS = 60


def _l1_factory() -> TTLCache[str, bytes]:
    return TTLCache(maxsize=settings.HISTORY_CACHE_L1_BYTES, ttl=L1_TTL_SECONDS, getsizeof=len)


_l1 = _l1_factory()
_l1_lock = threading.Lock()


def ttl_for(resolution: str) -> int:
    """Seconds an L2 entry lives: short for intraday (a forming bar changes), longer for D/W/M."""
    if resolution.isdigit():
        return settings.HISTORY_CACHE_TTL_INTRADAY
    return settings.HISTORY_CACHE_TTL_DAILY


def _version(instrument_id: int) -> str | None:
    try:
        value = get_redis().get(VERSION_KEY.format(namespace=settings.HISTORY_CACHE_NAMESPACE, instrument_id=instrument_id))
    except Exception:
        logger.warning("history cache: Redis unavailable, serving uncached", exc_info=True)
        return None
    return value.decode() if isinstance(value, bytes) else str(value or "0")


def cached_answer(
    *, instrument_id: int, resolution: str, request_key: str, compute: Callable[[], bytes], cacheable: bool = True
) -> bytes:
    """The UDF answer for this request from L1, L2, or `compute()` (then stored in both)."""
    if not cacheable or not settings.HISTORY_CACHE_ENABLED:
        return compute()
    version = _version(instrument_id)
    if version is None:
        return compute()
    key = ANSWER_KEY.format(
        namespace=settings.HISTORY_CACHE_NAMESPACE, instrument_id=instrument_id, version=version, request=request_key
    )
    with _l1_lock:
        hit = _l1.get(key)
    if hit is not None:
        CACHE_REQUESTS.labels(layer="l1", result="hit").inc()
        return hit
    CACHE_REQUESTS.labels(layer="l1", result="miss").inc()
    try:
        stored = get_redis().get(key)
    except Exception:
        logger.warning("history cache: Redis read failed", exc_info=True)
        stored = None
    if isinstance(stored, bytes):
        CACHE_REQUESTS.labels(layer="l2", result="hit").inc()
        _l1_put(key, stored)
        return stored
    CACHE_REQUESTS.labels(layer="l2", result="miss").inc()
    answer = compute()
    _l1_put(key, answer)
    try:
        get_redis().set(key, answer, ex=ttl_for(resolution))
    except Exception:
        logger.warning("history cache: Redis write failed", exc_info=True)
    return answer


def _l1_put(key: str, value: bytes) -> None:
    if len(value) > settings.HISTORY_CACHE_L1_BYTES:
        return
    with _l1_lock:
        _l1[key] = value


def invalidate_instruments(instrument_ids: Iterable[int]) -> None:
    """New bars for these instruments: bump their versions so no process serves old answers."""
    ids = list(instrument_ids)
    if not ids:
        return
    try:
        pipe = get_redis().pipeline(transaction=False)
        for instrument_id in ids:
            pipe.incr(VERSION_KEY.format(namespace=settings.HISTORY_CACHE_NAMESPACE, instrument_id=instrument_id))
        pipe.execute()
    except Exception:
        # Entries expire by TTL anyway; log so an operator sees why charts may lag.
        logger.error("history cache: could not invalidate %s instruments", len(ids), exc_info=True)


def clear_local() -> None:
    """Drop this process's L1 (tests, settings changes)."""
    global _l1
    with _l1_lock:
        _l1 = _l1_factory()
