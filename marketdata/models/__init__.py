from __future__ import annotations

from .instruments import Exchange, Instrument, InstrumentType

__all__ = ["Exchange", "Instrument", "InstrumentType"]
