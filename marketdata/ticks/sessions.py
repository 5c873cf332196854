"""Which ticks fall inside their exchange's session, for a whole batch at once.

The calendar (marketdata.calendar) answers per (exchange calendar, market date) and caches what it
loads; a batch touches only a handful of such pairs, so the per-tick work is two numpy comparisons.
NSE/NFO trade 09:15-15:30 IST on trading days (special sessions included), SIM around the clock.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta

import numpy as np
import numpy.typing as npt

from marketdata.calendar import MARKET_TZ, REGULAR_CLOSE, REGULAR_OPEN, SIM_EXCHANGE, session_bounds
from marketdata.ticks.tokens import TickInstrument
from tradeviz.errors import DataUnavailable

logger = logging.getLogger(__name__)

MS_PER_DAY = 86_400_000
IST_OFFSET_MS = 19_800_000  # Asia/Kolkata is UTC+05:30 all year
FIRST_WEEKEND_DAY = 5
# The Unix epoch as a date: day numbers below count from it.
EPOCH = date(1970, 1, 1)
ALWAYS_OPEN = (np.iinfo(np.int64).min, np.iinfo(np.int64).max)
CLOSED = (0, 0)

_warned_years: set[tuple[str, int]] = set()


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _bounds_ms(calendar: str, day: date) -> tuple[int, int]:
    if calendar == SIM_EXCHANGE:
        return ALWAYS_OPEN
    try:
        bounds = session_bounds(day, calendar)
    except DataUnavailable:
        # Ticks are evidence that the exchange trades: rather than drop a whole year of them for
        # want of holiday data, use the regular weekday session and say so once.
        if (calendar, day.year) not in _warned_years:
            _warned_years.add((calendar, day.year))
            logger.warning(
                "tick consumer: no holiday data; assuming the regular weekday session",
                extra={"calendar": calendar, "year": day.year},
            )
        if day.weekday() >= FIRST_WEEKEND_DAY:
            return CLOSED
        open_ = datetime.combine(day, REGULAR_OPEN, MARKET_TZ).astimezone(UTC)
        close = datetime.combine(day, REGULAR_CLOSE, MARKET_TZ).astimezone(UTC)
        return _ms(open_), _ms(close)
    if bounds is None:
        return CLOSED
    return _ms(bounds[0]), _ms(bounds[1])


def in_session(
    instrument_id: npt.NDArray[np.int64],
    ts: npt.NDArray[np.int64],
    *,
    instruments: Mapping[int, TickInstrument],
) -> npt.NDArray[np.bool_]:
    """True for each tick whose time is inside its instrument's session (open inclusive, close exclusive)."""
    if ts.shape[0] == 0:
        return np.zeros(0, dtype=bool)
    unique_ids, id_index = np.unique(instrument_id, return_inverse=True)
    calendars = sorted({instruments[i].calendar for i in unique_ids.tolist()})
    if calendars == [SIM_EXCHANGE]:
        return np.ones(ts.shape[0], dtype=bool)
    calendar_code = {name: code for code, name in enumerate(calendars)}
    code_of_unique = np.array([calendar_code[instruments[i].calendar] for i in unique_ids.tolist()], dtype=np.int64)
    day = (ts + IST_OFFSET_MS) // MS_PER_DAY
    pair = code_of_unique[id_index] * (1 << 32) + day
    unique_pairs, pair_index = np.unique(pair, return_inverse=True)
    opens = np.empty(unique_pairs.shape[0], dtype=np.int64)
    closes = np.empty(unique_pairs.shape[0], dtype=np.int64)
    for k, value in enumerate(unique_pairs.tolist()):
        code, day_number = divmod(value, 1 << 32)
        opens[k], closes[k] = _bounds_ms(calendars[code], EPOCH + timedelta(days=day_number))
    return (ts >= opens[pair_index]) & (ts < closes[pair_index])


def market_day_start_ms(ts: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Epoch ms of the IST midnight starting each tick's market date (cumulative volume resets there)."""
    return (ts + IST_OFFSET_MS) // MS_PER_DAY * MS_PER_DAY - IST_OFFSET_MS
