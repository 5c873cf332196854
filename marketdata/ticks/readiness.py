"""The `tick_consumer` readiness check: is the consumer group keeping up with the tick stream?

Lag is the age of the oldest entry not yet acknowledged (pending) or not yet read by the group,
measured against Redis's clock (stream ids carry the time Redis added the entry). Before any
producer or consumer created the stream and group there is nothing to lag behind: the check passes
with a note.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from marketdata.ticks.stream import stream_lag
from tradeviz.health import CheckFailed
from tradeviz.redis_client import get_redis


def tick_consumer_check() -> dict[str, Any]:
    lag = stream_lag(get_redis(), key=settings.TICK_STREAM, group=settings.TICK_CONSUMER_GROUP)
    if lag is None:
        return {"note": f"no stream {settings.TICK_STREAM!r} with group {settings.TICK_CONSUMER_GROUP!r} yet"}
    limit = settings.TICK_READY_MAX_LAG_SECONDS
    if lag.lag_seconds > limit:
        raise CheckFailed(
            f"tick consumer lags {lag.lag_seconds:.1f}s behind {settings.TICK_STREAM} (limit {limit:g}s); "
            f"{lag.pending} entries pending, {lag.undelivered} not yet read"
        )
    return lag.as_dict()
