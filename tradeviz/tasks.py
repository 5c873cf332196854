from __future__ import annotations

from celery import shared_task

from tradeviz.health import record_beat_heartbeat


@shared_task(name="tradeviz.beat_heartbeat", ignore_result=True, soft_time_limit=10, time_limit=20)
def beat_heartbeat() -> None:
    """Scheduled by beat; /health/ready reads its timestamp to know beat and a worker are alive."""
    record_beat_heartbeat()
from tradeviz.timeseries.tasks import refresh_rollups  # noqa: E402, F401
