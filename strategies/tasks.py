"""Celery tasks of the strategies app."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from celery import shared_task

from strategies.m2m import m2m_run as run_m2m
from tradeviz.errors import InvalidInput

# A run takes well under a second; anything near a minute means the next run is already due.
SOFT_LIMIT_SECONDS = 45
HARD_LIMIT_SECONDS = 55


@shared_task(name="strategies.m2m_run", ignore_result=True, soft_time_limit=SOFT_LIMIT_SECONDS,
             time_limit=HARD_LIMIT_SECONDS)
def m2m_run(now: str | None = None) -> dict[str, Any]:
    """Beat, at the start of every minute: M2M of all active strategies in one pass.

    `now` (ISO-8601, aware) re-runs the minute closed at that instant; a rerun updates that
    minute's candles, never duplicates them. Not retried within the minute: if Redis or the
    database is down the run writes nothing and the next minute's run tries again.
    """
    instant = None
    if now is not None:
        instant = datetime.fromisoformat(now)
        if instant.tzinfo is None:
            raise InvalidInput("now must be an aware ISO-8601 datetime")
    result = run_m2m(now=instant)
    return {"minute": result.minute.isoformat(), "strategies": result.strategies, "stale_legs": result.stale_legs}
