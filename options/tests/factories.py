"""Test chains: an index, optional same-expiry futures, calls and puts, and their minute bars.

Prices come from Black-76 on a known forward and volatility (rounded to the tick like a market
would), so tests can check the analytics against values computed independently here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import numpy as np

from marketdata.models import Instrument
from marketdata.services.bars import BarBatch, bars_upsert
from marketdata.tests.factories import make_instrument
from options.pricing import black76_price

IST_OFFSET = timedelta(hours=5, minutes=30)
TICK = 0.05


def ist(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC) - IST_OFFSET


@dataclass
class ChainFixture:
    underlying: str
    expiry: date
    strikes: list[float]
    spot: Instrument
    futures: Instrument | None
    calls: dict[float, Instrument] = field(default_factory=dict)
    puts: dict[float, Instrument] = field(default_factory=dict)

    def bar(
        self,
        instrument: Instrument,
        minute: datetime,
        close: float,
        *,
        oi: float | None = None,
        volume: int = 0,
    ) -> None:
        write_bar(instrument, minute, close, oi=oi, volume=volume)


def write_bar(
    instrument: Instrument, minute: datetime, close: float, *, oi: float | None = None, volume: int = 0
) -> None:
    """One minute bar (open = high = low = close), without the rollup refresh `bars_written` does."""
    bars_upsert(
        batch=BarBatch(
            instrument_id=np.array([instrument.pk], dtype=np.int64),
            time_us=np.array([int(minute.timestamp()) * 1_000_000], dtype=np.int64),
            open=np.array([close]),
            high=np.array([close]),
            low=np.array([close]),
            close=np.array([close]),
            volume=np.array([volume], dtype=np.int64),
            oi=np.array([np.nan if oi is None else oi], dtype=np.float64),
        ),
        notify=False,
    )


def make_chain(
    *,
    underlying: str = "TESTIDX",
    expiry: date = date(2026, 12, 1),
    strikes: Sequence[float] = (23_800, 23_900, 24_000, 24_100, 24_200),
    token_base: int = 5_000_000,
    with_futures: bool = True,
    lot_size: int = 75,
    skip: Sequence[tuple[float, str]] = (),
    exchange: str = "NFO",
    spot: Instrument | None = None,
) -> ChainFixture:
    """Instruments of one chain; `skip` lists (strike, "CE"/"PE") sides that are not listed. A second
    expiry of the same underlying passes the first one's `spot`."""
    spot = spot or make_instrument(
        token=token_base,
        tradingsymbol=f"{underlying} INDEX",
        exchange="NSE",
        instrument_type="INDEX",
        name=underlying,
        underlying=underlying,
        segment="INDICES",
    )
    futures = None
    if with_futures:
        futures = make_instrument(
            token=token_base + 1,
            tradingsymbol=f"{underlying}{expiry:%y%b}FUT".upper(),
            exchange=exchange,
            instrument_type="FUT",
            name=underlying,
            underlying=underlying,
            expiry=expiry,
            lot_size=lot_size,
            segment="NFO-FUT",
        )
    chain = ChainFixture(
        underlying=underlying, expiry=expiry, strikes=list(strikes), spot=spot, futures=futures
    )
    token = token_base + 10
    for strike in strikes:
        for kind, book in (("CE", chain.calls), ("PE", chain.puts)):
            token += 1
            if (strike, kind) in skip:
                continue
            book[strike] = make_instrument(
                token=token,
                tradingsymbol=f"{underlying}{expiry:%y%m%d}{int(strike)}{kind}",
                exchange=exchange,
                instrument_type=kind,
                name=underlying,
                underlying=underlying,
                expiry=expiry,
                strike=Decimal(str(strike)),
                lot_size=lot_size,
                segment="NFO-OPT",
            )
    return chain


def model_premium(forward: float, strike: float, t: float, sigma: float, rate: float, kind: str) -> float:
    """Black-76 premium rounded to the tick (at least one tick)."""
    price = float(black76_price(forward, strike, t, sigma, rate, 1 if kind == "CE" else -1))
    return max(round(price / TICK) * TICK, TICK)
