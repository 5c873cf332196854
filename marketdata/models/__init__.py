from __future__ import annotations

from .bars import Bar
from .calendar import (
    CalendarFetchRun,
    CorporateAction,
    CorporateActionType,
    FetchJob,
    FetchStatus,
    SpecialSession,
    TradingHoliday,
)
from .instruments import Exchange, Instrument, InstrumentType

__all__ = ["Bar", "Exchange", "Instrument", "InstrumentType"]
__all__ += [
    "CalendarFetchRun",
    "CorporateAction",
    "CorporateActionType",
    "FetchJob",
    "FetchStatus",
    "SpecialSession",
    "TradingHoliday",
]
