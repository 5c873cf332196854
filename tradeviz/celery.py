"""The Celery app. Correlation ids travel in task headers so a task's logs join the request's."""

from __future__ import annotations

import os
from typing import Any

from celery import Celery
from celery.signals import before_task_publish, task_failure, task_postrun, task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradeviz.settings")

app = Celery("tradeviz")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

CORRELATION_HEADER = "correlation_id"


@before_task_publish.connect
def _attach_correlation_id(headers: dict[str, Any] | None = None, **_: Any) -> None:
    from tradeviz.observability.context import get_correlation_id

    if headers is not None and CORRELATION_HEADER not in headers:
        headers[CORRELATION_HEADER] = get_correlation_id() or ""


@task_prerun.connect
def _bind_correlation_id(task: Any = None, **_: Any) -> None:
    from tradeviz.observability.context import new_correlation_id, set_correlation_id

    incoming = getattr(task.request, CORRELATION_HEADER, None) if task is not None else None
    set_correlation_id(incoming or new_correlation_id())


@task_postrun.connect
def _clear_correlation_id(**_: Any) -> None:
    from tradeviz.observability.context import set_correlation_id

    set_correlation_id(None)


@task_failure.connect
def _count_failure(sender: Any = None, **_: Any) -> None:
    from tradeviz.observability.metrics import TASK_FAILURES

    TASK_FAILURES.labels(task=getattr(sender, "name", "unknown")).inc()
