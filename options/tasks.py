"""Celery tasks of the options app. Each takes ISO strings and calls one service."""

from __future__ import annotations

from datetime import datetime

from celery import shared_task

# Recomputing a day of 12 chains takes seconds; a week, about a minute.
COMPUTE_SOFT_TIME_LIMIT = 1800
COMPUTE_TIME_LIMIT = 2100


@shared_task(
    name="options.compute_analytics",
    ignore_result=True,
    acks_late=True,
    soft_time_limit=COMPUTE_SOFT_TIME_LIMIT,
    time_limit=COMPUTE_TIME_LIMIT,
)
def compute_analytics(start: str, end: str, underlyings: list[str] | None = None) -> int:
    """Option analytics over [start, end) (ISO-8601 with offsets); returns the minutes computed.

    Idempotent (every minute is an upsert), so a retry or a duplicate delivery is harmless.
    """
    from options.services.analytics import compute_range

    result = compute_range(
        start=datetime.fromisoformat(start), end=datetime.fromisoformat(end), underlyings=underlyings
    )
    return result.minutes
