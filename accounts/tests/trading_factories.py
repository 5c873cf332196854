"""Test data of the trading side of accounts: instruments with their own tokens, accounts, order updates."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from accounts.models import TradingAccount
from accounts.services.orders import OrderUpdate
from marketdata.models import Instrument

# Tokens far from the demo's and other apps' test tokens, so Redis keys never collide.
TOKEN_BASE = 77_100_000
_tokens = itertools.count(TOKEN_BASE)
T0_MS = 1_764_560_700_000  # 2025-12-01 03:45 UTC = 09:15 IST


def make_instrument(*, tradingsymbol: str | None = None, instrument_type: str = "FUT", lot_size: int = 75,
                    exchange: str = "NFO", **extra: Any) -> Instrument:
    token = next(_tokens)
    instrument = Instrument(
        instrument_token=token, tradingsymbol=tradingsymbol or f"TEST{token}", exchange=exchange,
        instrument_type=instrument_type, lot_size=lot_size, name="TEST", underlying=extra.pop("underlying", "TEST"),
        **extra,
    )
    instrument.save()
    return instrument


def make_account(owner: Any, *, broker_account_id: str | None = None, **extra: Any) -> TradingAccount:
    return TradingAccount.objects.create(
        owner=owner, broker="sim", broker_account_id=broker_account_id or f"AC{next(_tokens)}",
        display_name=extra.pop("display_name", "Test account"), **extra,
    )


def update(account: TradingAccount, instrument: Instrument, *, order_id: str = "O1", status: str = "OPEN",
           side: str = "BUY", quantity: int = 75, filled: int = 0, price: str = "100", average: str = "0",
           at: int = 0, **extra: Any) -> dict[str, Any]:
    """A raw order-stream message (the JSON in field `d`); `at` is milliseconds after T0."""
    return {
        "account": account.broker_account_id, "order_id": order_id, "status": status,
        "token": instrument.instrument_token, "tradingsymbol": instrument.tradingsymbol, "side": side,
        "quantity": quantity, "filled_quantity": filled, "price": float(price), "average_price": float(average),
        "ts": T0_MS + at, **extra,
    }


def parsed(*messages: dict[str, Any]) -> list[OrderUpdate]:
    return [OrderUpdate.parse(m) for m in messages]


def at(ms: int) -> datetime:
    return datetime.fromtimestamp((T0_MS + ms) / 1000, tz=UTC)


def dec(value: str) -> Decimal:
    return Decimal(value)
