"""Test data: instruments and minute bars written through the real services."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np

from marketdata.models import Instrument
from marketdata.services.bars import BarBatch, bars_upsert

IST_OFFSET = timedelta(hours=5, minutes=30)


def make_instrument(
    *, token: int = 1001, tradingsymbol: str = "TESTCO", exchange: str = "NSE", instrument_type: str = "EQ",
    name: str = "TEST COMPANY", tick_size: str = "0.05", underlying: str = "", **extra: object,
) -> Instrument:
    instrument = Instrument(
        instrument_token=token, tradingsymbol=tradingsymbol, exchange=exchange, instrument_type=instrument_type,
        name=name, tick_size=Decimal(tick_size), underlying=underlying or tradingsymbol, **extra,
    )
    instrument.save()
    return instrument


def ist(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    """An IST wall-clock time as an aware UTC datetime."""
    return datetime(year, month, day, hour, minute, tzinfo=UTC) - IST_OFFSET


def bars_from_closes(
    instrument: Instrument, times: Sequence[datetime], closes: Sequence[float], *, volume: int = 100
) -> list[tuple[datetime, float, float, float, float, int]]:
    """Write one bar per (time, close): open = previous close, high/low 1 point around; returns them."""
    rows = []
    previous = closes[0]
    for moment, close in zip(times, closes, strict=True):
        open_ = previous
        rows.append((moment, open_, max(open_, close) + 1, min(open_, close) - 1, close, volume))
        previous = close
    write_bars(instrument, rows)
    return rows


def write_bars(instrument: Instrument, rows: Sequence[tuple[datetime, float, float, float, float, int]],
               oi: Sequence[float] | None = None) -> int:
    n = len(rows)
    return bars_upsert(
        batch=BarBatch(
            instrument_id=np.full(n, instrument.pk, dtype=np.int64),
            time_us=np.array([int(r[0].timestamp()) * 1_000_000 for r in rows], dtype=np.int64),
            open=np.array([r[1] for r in rows], dtype=np.float64),
            high=np.array([r[2] for r in rows], dtype=np.float64),
            low=np.array([r[3] for r in rows], dtype=np.float64),
            close=np.array([r[4] for r in rows], dtype=np.float64),
            volume=np.array([r[5] for r in rows], dtype=np.int64),
            oi=np.array(oi if oi is not None else [np.nan] * n, dtype=np.float64),
        )
    )


def session_minutes(day: datetime, *, start_minute: int = 0, count: int = 375) -> list[datetime]:
    """Minutes of one NSE session (09:15 IST + start_minute …) for the IST date of `day`."""
    open_ = ist(day.year, day.month, day.day, 9, 15)
    return [open_ + timedelta(minutes=start_minute + k) for k in range(count)]
