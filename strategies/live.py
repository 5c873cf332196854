"""Pushing M2M updates to their owner's `/ws/strategies` subscribers (one channel-layer group per user)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from accounts.services.live import send_to_groups

M2M_EVENT = "strategies.m2m"


def strategies_group(user_id: int) -> str:
    return f"strategies.user.{int(user_id)}"


def publish_m2m(batches: Iterable[tuple[int, list[dict[str, Any]]]], *, minute: str) -> int:
    """One event per owner with all their strategies' updates of a run; returns events sent (never raises)."""
    sends = [
        (strategies_group(owner), {"type": M2M_EVENT, "minute": minute, "updates": updates})
        for owner, updates in batches
        if updates
    ]
    return send_to_groups(sends, what="M2M updates")
