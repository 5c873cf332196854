"""Fixtures of the strategies tests: a test underlying with index, futures and options, and live prices
in the Redis last-price hash (under tokens of their own, removed afterwards)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from marketdata.last_prices import LAST_PRICE_HASH, write_last_prices
from marketdata.models import Instrument
from marketdata.selectors.instruments import clear_lookup_cache
from tradeviz.redis_client import get_redis

TOKEN_BASE = 77_200_000
_tokens = itertools.count(TOKEN_BASE)
UNDERLYING = "TESTNIFTY"
LOT = 75
STRIKE = Decimal("24000")


def make_instrument(*, tradingsymbol: str, instrument_type: str, exchange: str = "NFO", lot_size: int = LOT,
                    underlying: str = UNDERLYING, **extra: Any) -> Instrument:
    instrument = Instrument(
        instrument_token=next(_tokens), tradingsymbol=tradingsymbol, exchange=exchange, name=underlying,
        instrument_type=instrument_type, lot_size=lot_size, underlying=underlying, **extra,
    )
    instrument.save()
    return instrument


@pytest.fixture
def expiry() -> date:
    return datetime.now(tz=UTC).date() + timedelta(days=30)


@pytest.fixture
def instruments(db: Any, expiry: date) -> dict[str, Instrument]:
    clear_lookup_cache()
    tag = f"{next(_tokens)}"
    return {
        "index": make_instrument(tradingsymbol=f"TESTNIFTY {tag}", instrument_type="INDEX", exchange="NSE",
                                 lot_size=1, segment="INDICES"),
        "fut": make_instrument(tradingsymbol=f"TESTNIFTY{tag}FUT", instrument_type="FUT", expiry=expiry),
        "ce": make_instrument(tradingsymbol=f"TESTNIFTY{tag}24000CE", instrument_type="CE", expiry=expiry,
                              strike=STRIKE),
        "pe": make_instrument(tradingsymbol=f"TESTNIFTY{tag}24000PE", instrument_type="PE", expiry=expiry,
                              strike=STRIKE),
    }


@pytest.fixture
def prices() -> Iterator[Callable[..., None]]:
    """`prices({instrument: (ltp, ts_ms)})` writes last prices; all are removed after the test."""
    written: set[int] = set()

    def put(values: dict[Instrument, tuple[float, int]]) -> None:
        mapping = {i.instrument_token: {"ltp": ltp, "ts": ts} for i, (ltp, ts) in values.items()}
        written.update(mapping)
        write_last_prices(mapping)

    yield put
    if written:
        get_redis().hdel(LAST_PRICE_HASH, *[str(t) for t in written])
