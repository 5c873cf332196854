"""Celery tasks of the accounts app."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from accounts.services.broker_sync import accounts_sync_all

SYNC_SOFT_LIMIT_SECONDS = 240
SYNC_HARD_LIMIT_SECONDS = 270


@shared_task(
    name="accounts.broker_sync", ignore_result=True, soft_time_limit=SYNC_SOFT_LIMIT_SECONDS,
    time_limit=SYNC_HARD_LIMIT_SECONDS,
)
def broker_sync() -> dict[str, Any]:
    """Beat, every 5 minutes: positions, holdings and funds of every active account from the broker.

    Logs and returns at once when broker sync is not configured. Idempotent: each run replaces
    each account's rows with the broker's current book.
    """
    return accounts_sync_all()
