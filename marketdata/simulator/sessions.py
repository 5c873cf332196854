"""Session rules: which calendars are open for a batch, asked of the market calendar once a minute.

Sessions start and end on whole minutes, so one answer per calendar per minute is exact. The market
calendar itself follows admin edits within seconds (its Redis version counter), so a holiday added
while the simulator runs stops NSE ticks from the next minute on, without a restart.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from marketdata.calendar import is_market_open
from marketdata.simulator.model import MS_PER_MINUTE
from tradeviz.errors import DataUnavailable

logger = logging.getLogger(__name__)

OpenCheck = Callable[[datetime, str], bool]


class SessionGate:
    def __init__(self, calendars: Iterable[str], *, is_open: OpenCheck = is_market_open) -> None:
        self.calendars = tuple(sorted(set(calendars)))
        self._is_open = is_open
        self._minute: int | None = None
        self._open: frozenset[str] = frozenset()
        self._reported_missing: set[tuple[str, int]] = set()

    def open_calendars(self, ts_ms: int) -> frozenset[str]:
        """The calendars whose session includes the minute of `ts_ms`."""
        minute = ts_ms // MS_PER_MINUTE
        if minute != self._minute:
            instant = datetime.fromtimestamp(minute * 60, tz=UTC)
            self._open = frozenset(c for c in self.calendars if self._check(instant, c))
            self._minute = minute
        return self._open

    def _check(self, instant: datetime, calendar: str) -> bool:
        try:
            return self._is_open(instant, calendar)
        except DataUnavailable:
            # A year without holiday data is never assumed open: no ticks rather than wrong ticks.
            key = (calendar, instant.year)
            if key not in self._reported_missing:
                self._reported_missing.add(key)
                logger.error(
                    "simulator: no holiday data; treating the exchange as closed",
                    extra={"calendar": calendar, "year": instant.year},
                )
            return False

    def invalidate(self) -> None:
        self._minute = None
