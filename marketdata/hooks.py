"""Minute-close hooks: how other apps (options analytics, strategies' M2M, indicators) learn that a
minute closed, without marketdata importing them and without Django signals.

Apps register explicitly from their AppConfig.ready(); the tick consumer calls `run_minute_close_hooks`
once per closed minute after that minute's bars are in the database. A failing hook is logged and
counted; it never stops ingestion or the other hooks.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from prometheus_client import Counter, Histogram

logger = logging.getLogger(__name__)

HOOK_FAILURES = Counter("tradeviz_minute_hook_failures_total", "Minute-close hook failures", ["hook"])
HOOK_SECONDS = Histogram("tradeviz_minute_hook_seconds", "Minute-close hook duration", ["hook"])


@dataclass(frozen=True)
class MinuteClosed:
    minute: datetime  # the closed minute's open, aware UTC
    instrument_ids: Sequence[int]  # instruments with a bar in that minute


MinuteHook = Callable[[MinuteClosed], None]

_hooks: dict[str, MinuteHook] = {}
_lock = threading.Lock()


def register_minute_close_hook(name: str, hook: MinuteHook) -> None:
    with _lock:
        if name in _hooks and _hooks[name] is not hook:
            raise ValueError(f"a different minute-close hook is already registered as {name!r}")
        _hooks[name] = hook


def unregister_minute_close_hook(name: str) -> None:
    with _lock:
        _hooks.pop(name, None)


def registered_minute_close_hooks() -> dict[str, MinuteHook]:
    with _lock:
        return dict(_hooks)


def run_minute_close_hooks(event: MinuteClosed) -> dict[str, bool]:
    """Run every hook in registration order; returns name → succeeded."""
    results: dict[str, bool] = {}
    for name, hook in registered_minute_close_hooks().items():
        started = time.perf_counter()
        try:
            hook(event)
            results[name] = True
        except Exception:
            HOOK_FAILURES.labels(hook=name).inc()
            logger.exception("minute-close hook failed", extra={"hook": name, "minute": event.minute.isoformat()})
            results[name] = False
        finally:
            HOOK_SECONDS.labels(hook=name).observe(time.perf_counter() - started)
    return results
