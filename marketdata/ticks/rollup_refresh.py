"""Rollup refreshes for batches that touched closed buckets, on a thread of their own.

A write into a rollup bucket that is no longer open (a late tick just after a 5-minute boundary, a
catch-up, a replay) needs that bucket re-aggregated; the open bucket is served live and needs
nothing. Such a refresh can take a second on a large table, so it must not hold up the ingest loop
(or the next minute's close). The consumer hands over the window and the batch's entry ids; this
thread coalesces what arrives within `coalesce_seconds`, refreshes once, and hands the entry ids
back as *refreshed*: only then does the consumer acknowledge them. A crash before that leaves them
pending; their redelivery merges idempotently and asks for the refresh again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from django.db import DatabaseError, connection, connections

from marketdata.ticks.persist import refresh_rollups
from tradeviz.observability.metrics import TICK_CONSUMER_ERRORS

logger = logging.getLogger(__name__)

BACKOFF_INITIAL_SECONDS = 0.1
BACKOFF_MAX_SECONDS = 5.0
STOP_TIMEOUT_SECONDS = 30.0


class RollupRefresher:
    def __init__(self, *, clock: Callable[[], float] = time.time, coalesce_seconds: float = 0.5) -> None:
        self._clock = clock
        self._coalesce = coalesce_seconds
        self._cond = threading.Condition()
        self._window: tuple[int, int] | None = None
        self._waiting: list[bytes] = []  # submitted, not yet refreshed
        self._first_submit = 0.0
        self._in_progress: list[bytes] = []
        self._done: list[bytes] = []  # refreshed, not yet taken by the consumer
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="rollup-refresh", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def submit(self, *, start_ms: int, end_ms: int, entry_ids: list[bytes]) -> None:
        """Refresh the minutes [start_ms, end_ms] soon; `entry_ids` come back from `take_done()` after."""
        with self._cond:
            if self._window is None:
                self._window = (start_ms, end_ms)
                self._first_submit = time.monotonic()
            else:
                self._window = (min(self._window[0], start_ms), max(self._window[1], end_ms))
            self._waiting.extend(entry_ids)
            self._cond.notify()

    def take_done(self) -> list[bytes]:
        """Entry ids whose refresh has completed (each returned once)."""
        with self._cond:
            done, self._done = self._done, []
        return done

    def holding(self) -> set[bytes]:
        """Every entry id submitted and not yet taken back (a re-read must not process it twice)."""
        with self._cond:
            return {*self._waiting, *self._in_progress, *self._done}

    def busy(self) -> bool:
        with self._cond:
            return bool(self._waiting or self._in_progress)

    def stop(self, timeout: float = STOP_TIMEOUT_SECONDS) -> None:
        """Refresh what was submitted (no more coalescing), then stop; `take_done()` after this."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        if self._thread.is_alive():
            self._thread.join(timeout)
            if self._thread.is_alive():
                logger.warning("rollup refresh did not finish in time; its entries stay pending")

    def _run(self) -> None:
        try:
            while True:
                with self._cond:
                    while self._window is None and not self._stopping:
                        self._cond.wait()
                    if self._window is None:
                        return
                    delay = self._first_submit + self._coalesce - time.monotonic()
                    if delay > 0 and not self._stopping:
                        self._cond.wait(delay)
                        continue
                    window, self._window = self._window, None
                    self._in_progress, self._waiting = self._waiting, []
                if self._refresh(*window):
                    with self._cond:
                        self._done.extend(self._in_progress)
                        self._in_progress = []
                else:
                    return  # stopped during an outage: the entries stay pending for redelivery
        finally:
            connections.close_all()

    def _refresh(self, start_ms: int, end_ms: int) -> bool:
        delay = BACKOFF_INITIAL_SECONDS
        while True:
            try:
                refresh_rollups(start_ms=start_ms, end_ms=end_ms, now=datetime.fromtimestamp(self._clock(), UTC))
                return True
            except DatabaseError:
                TICK_CONSUMER_ERRORS.labels(dependency="database").inc()
                logger.warning("rollup refresh failed; retrying", exc_info=True,
                               extra={"start_ms": start_ms, "end_ms": end_ms})
                connection.close()
            except Exception:
                # A broken rollup definition must not hold ingestion forever; beat refreshes recent
                # windows too, and the error is in the log with the window.
                logger.exception("rollup refresh failed", extra={"start_ms": start_ms, "end_ms": end_ms})
                return True
            with self._cond:
                if self._stopping:
                    return False
                self._cond.wait(delay)
            delay = min(delay * 2, BACKOFF_MAX_SECONDS)
