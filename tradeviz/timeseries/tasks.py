"""Celery tasks of the time-series layer. The project Celery app only autodiscovers app `tasks`
modules, so `tradeviz/tasks.py` imports this one."""

from __future__ import annotations

from datetime import datetime, timedelta

from celery import shared_task

from tradeviz.errors import InvalidInput
from tradeviz.timeseries.rollups import (
    DEFAULT_REFRESH_WINDOW,
    refresh_recent_rollups,
    refresh_registered_rollups,
)

# Beat runs this every minute; a run that overlaps the next one skips rollups already being
# refreshed, and the hard limit stops a stuck run before several pile up.
SOFT_TIME_LIMIT_SECONDS = 240
TIME_LIMIT_SECONDS = 300


def _parse_instant(value: str, what: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise InvalidInput(f"{what} is not an ISO-8601 datetime: {value!r}") from exc
    if parsed.tzinfo is None:
        raise InvalidInput(f"{what} must carry a UTC offset: {value!r}")
    return parsed


@shared_task(
    name="tradeviz.refresh_rollups",
    ignore_result=True,
    soft_time_limit=SOFT_TIME_LIMIT_SECONDS,
    time_limit=TIME_LIMIT_SECONDS,
)
def refresh_rollups(
    start: str | None = None, end: str | None = None, window_seconds: int | None = None
) -> None:
    """Refresh every registered rollup: over [start, end) when both ISO datetimes are given, else over
    the recent window (`window_seconds`, default DEFAULT_REFRESH_WINDOW). Idempotent: a refresh
    recomputes buckets from the source, so running it twice gives the same rows."""
    if (start is None) != (end is None):
        raise InvalidInput("give both start and end, or neither")
    if start is not None and end is not None:
        refresh_registered_rollups(start=_parse_instant(start, "start"), end=_parse_instant(end, "end"))
        return
    window = timedelta(seconds=window_seconds) if window_seconds else DEFAULT_REFRESH_WINDOW
    refresh_recent_rollups(window=window)
