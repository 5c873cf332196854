"""Celery tasks of the marketdata app. Each takes ids or ISO strings and calls one service."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from tradeviz.errors import UpstreamUnavailable

# --- calendar ---------------------------------------------------------------------------------------
# The HTTP layer already retries within a run (tenacity); these task-level retries cover a source
# that stays down for minutes. Time limits bound a hung source: 3 attempts x 20 s + backoff < 120 s.
CALENDAR_FETCH_SOFT_TIME_LIMIT = 120
CALENDAR_FETCH_TIME_LIMIT = 180
CALENDAR_FETCH_MAX_RETRIES = 3
CALENDAR_FETCH_RETRY_BACKOFF = 300
CALENDAR_FETCH_RETRY_BACKOFF_MAX = 1800
# Both fetch jobs retry and time out alike.
CALENDAR_FETCH_TASK_OPTIONS: dict[str, Any] = {
    "ignore_result": True,
    "autoretry_for": (UpstreamUnavailable,),
    "max_retries": CALENDAR_FETCH_MAX_RETRIES,
    "retry_backoff": CALENDAR_FETCH_RETRY_BACKOFF,
    "retry_backoff_max": CALENDAR_FETCH_RETRY_BACKOFF_MAX,
    "retry_jitter": True,
    "soft_time_limit": CALENDAR_FETCH_SOFT_TIME_LIMIT,
    "time_limit": CALENDAR_FETCH_TIME_LIMIT,
}


@shared_task(
    name="marketdata.fetch_holidays",
    **CALENDAR_FETCH_TASK_OPTIONS,
)
def fetch_holidays() -> int:
    """Refresh holidays and special sessions from HOLIDAYS_SOURCE_URL; returns the CalendarFetchRun id."""
    from marketdata.services.calendar_fetch import fetch_holidays as fetch

    return fetch().pk


@shared_task(
    name="marketdata.fetch_corporate_actions",
    **CALENDAR_FETCH_TASK_OPTIONS,
)
def fetch_corporate_actions() -> int:
    """Refresh corporate actions from CORPORATE_ACTIONS_SOURCE_URL; returns the CalendarFetchRun id."""
    from marketdata.services.calendar_fetch import fetch_corporate_actions as fetch

    return fetch().pk


@shared_task(
    name="marketdata.apply_corporate_actions",
    ignore_result=True,
    soft_time_limit=CALENDAR_FETCH_SOFT_TIME_LIMIT,
    time_limit=CALENDAR_FETCH_TIME_LIMIT,
)
def apply_corporate_actions(as_of: str | None = None) -> list[int]:
    """Adjust derivatives' strikes and lot sizes for actions whose ex-date has come (idempotent)."""
    from datetime import date

    from marketdata.corporate_actions import apply_due_corporate_actions
    from marketdata.models import FetchJob
    from marketdata.services.calendar import UpsertCounts
    from marketdata.services.calendar_fetch import record_job_run

    applied = apply_due_corporate_actions(as_of=date.fromisoformat(as_of) if as_of else None)
    record_job_run(
        job=FetchJob.APPLY_CORPORATE_ACTIONS,
        counts=UpsertCounts(updated=len(applied)),
        details={"applied_action_ids": applied},
    )
    return applied


# --- backfill ---------------------------------------------------------------------------------------
BACKFILL_SOFT_TIME_LIMIT = 300
BACKFILL_TIME_LIMIT = 360
BACKFILL_MAX_RETRIES = 3
BACKFILL_RETRY_BACKOFF = 60


@shared_task(
    name="marketdata.backfill_instrument",
    ignore_result=True,
    autoretry_for=(UpstreamUnavailable,),
    max_retries=BACKFILL_MAX_RETRIES,
    retry_backoff=BACKFILL_RETRY_BACKOFF,
    retry_jitter=True,
    soft_time_limit=BACKFILL_SOFT_TIME_LIMIT,
    time_limit=BACKFILL_TIME_LIMIT,
)
def backfill_instrument(instrument_id: int, start: str, end: str) -> int:
    """Fill the gaps of one instrument between two ISO dates; returns bars written. Idempotent."""
    from datetime import date

    from marketdata.models import Instrument
    from marketdata.services.backfill import backfill_instrument as backfill

    instrument = Instrument.objects.get(pk=instrument_id)
    return backfill(instrument=instrument, start=date.fromisoformat(start), end=date.fromisoformat(end)).written


@shared_task(name="marketdata.backfill_active", ignore_result=True, soft_time_limit=60, time_limit=90)
def backfill_active() -> int:
    """After the session: queue a backfill for every active instrument that traded recently."""
    from marketdata.services.backfill import queue_backfills

    return queue_backfills()
