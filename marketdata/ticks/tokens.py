"""Instrument token → the instrument facts the tick consumer needs, reloaded without a restart.

`load_instruments` bumps the Redis counter `tv:instruments:version` after every change; the map
compares it at most every `VERSION_CHECK_SECONDS` and reloads from the database when it moved. A
full reload every `MAX_AGE_SECONDS` covers a bump lost while Redis was down.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import redis

from marketdata.calendar import CALENDAR_OF_EXCHANGE, DEFAULT_EXCHANGE
from marketdata.models import Instrument
from marketdata.services.instruments import INSTRUMENTS_VERSION_KEY

logger = logging.getLogger(__name__)

VERSION_CHECK_SECONDS = 3.0
MAX_AGE_SECONDS = 600.0


@dataclass(frozen=True, slots=True)
class TickInstrument:
    id: int
    token: int
    symbol: str
    # The calendar whose sessions the instrument trades in (NFO → NSE, BFO → BSE, SIM).
    calendar: str


class TokenMap:
    """Token lookups for the hot path (`ids`: token → instrument id) and facts by id (`by_id`)."""

    def __init__(
        self,
        *,
        redis_client: Callable[[], redis.Redis],
        check_seconds: float = VERSION_CHECK_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._redis = redis_client
        self._check_seconds = check_seconds
        self._monotonic = monotonic
        self._version: bytes | str | None = None
        self._next_check = -1.0
        self._loaded_at = -MAX_AGE_SECONDS
        self.ids: dict[int, int] = {}
        self.by_id: dict[int, TickInstrument] = {}

    def load(self) -> None:
        # The version is read before the rows: a load racing with ours bumps it again afterwards.
        try:
            self._version = self._redis().get(INSTRUMENTS_VERSION_KEY)
        except redis.RedisError:
            logger.warning("tick consumer: cannot read the instruments version", exc_info=True)
        self._next_check = self._monotonic() + self._check_seconds
        by_id: dict[int, TickInstrument] = {}
        unknown_exchanges: set[str] = set()
        for pk, token, symbol, exchange in Instrument.objects.values_list("id", "instrument_token", "symbol", "exchange"):
            calendar = CALENDAR_OF_EXCHANGE.get(exchange)
            if calendar is None:
                unknown_exchanges.add(exchange)
                calendar = DEFAULT_EXCHANGE
            by_id[pk] = TickInstrument(id=pk, token=token, symbol=symbol, calendar=calendar)
        if unknown_exchanges:
            logger.warning(
                "tick consumer: instruments on exchanges without a calendar use the NSE session",
                extra={"exchanges": sorted(unknown_exchanges)},
            )
        self.by_id = by_id
        self.ids = {info.token: info.id for info in by_id.values()}
        self._loaded_at = self._monotonic()
        logger.info("tick consumer: token map loaded", extra={"instruments": len(by_id)})

    def refresh_if_changed(self, *, now_please: bool = False) -> bool:
        """Reload when the instruments version moved; True when the map was reloaded.

        The version is read at most every `check_seconds`, or at once with `now_please` — for a
        batch with unknown tokens, whose instruments may have been loaded a moment ago (one GET per
        such batch; the reload itself happens only when the version moved).
        """
        now = self._monotonic()
        if not now_please and now < self._next_check:
            return False
        self._next_check = now + self._check_seconds
        try:
            version: bytes | str | None = self._redis().get(INSTRUMENTS_VERSION_KEY)
        except redis.RedisError:
            logger.warning("tick consumer: cannot read the instruments version; keeping the token map", exc_info=True)
            version = self._version
        if version != self._version or now - self._loaded_at > MAX_AGE_SECONDS:
            self.load()
            return True
        return False
