"""Strategies and legs for tests, written through the services (the same validation as the API)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from marketdata.models import Instrument
from strategies.models import Strategy
from strategies.services import strategy_create

# Monday 1 December 2025, 10:00:00.5 IST: in session.
IN_SESSION = datetime(2025, 12, 1, 4, 30, 0, 500_000, tzinfo=UTC)
# Saturday 6 December 2025, 12:00 IST.
WEEKEND = datetime(2025, 12, 6, 6, 30, 0, tzinfo=UTC)
ENTRY = datetime(2025, 11, 28, 4, 0, tzinfo=UTC)


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def leg(instrument: Instrument, side: str, lots: int, entry: str, **extra: Any) -> dict[str, Any]:
    return {"instrument_token": instrument.instrument_token, "side": side, "lots": lots, "entry_price": entry,
            "entry_time": extra.pop("entry_time", ENTRY.isoformat()), **extra}


def straddle(owner: Any, instruments: dict[str, Instrument], **extra: Any) -> Strategy:
    """Short straddle: SELL 1 lot CE @200, SELL 1 lot PE @180 (75 units each)."""
    return strategy_create(owner=owner, name=extra.pop("name", "Short straddle"), legs=[
        leg(instruments["ce"], "SELL", 1, "200"), leg(instruments["pe"], "SELL", 1, "180"),
    ], **extra)


def long_future(owner: Any, instruments: dict[str, Instrument], **extra: Any) -> Strategy:
    """BUY 2 lots (150 units) of the future @24100."""
    return strategy_create(owner=owner, name=extra.pop("name", "Long future"),
                           legs=[leg(instruments["fut"], "BUY", 2, "24100")], **extra)
