"""The last-price hash in Redis: token → {"ltp", "ts", "bid", "ask", "volume", "oi"} as JSON.

Written by the tick consumer; read by quotes, M2M and the option chain. One hash, so a reader
gets any set of tokens in one HMGET.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from tradeviz.redis_client import get_redis

logger = logging.getLogger(__name__)

LAST_PRICE_HASH = "tv:ltp"


def write_last_prices(prices: Mapping[int, Mapping[str, Any]]) -> None:
    if prices:
        get_redis().hset(LAST_PRICE_HASH, mapping={str(t): orjson.dumps(dict(v)) for t, v in prices.items()})


def read_last_prices(tokens: Iterable[int]) -> dict[int, dict[str, Any]]:
    """Known last prices of these tokens (missing tokens are absent). Raises if Redis is down."""
    keys = [int(t) for t in tokens]
    if not keys:
        return {}
    values = get_redis().hmget(LAST_PRICE_HASH, [str(t) for t in keys])
    return {token: orjson.loads(raw) for token, raw in zip(keys, values, strict=True) if raw is not None}
