"""Symbol normalisation, used everywhere a symbol is read or written."""

from __future__ import annotations

DEFAULT_EXCHANGE = "NSE"


def normalise(raw: str, *, default_exchange: str = DEFAULT_EXCHANGE) -> str:
    """`nse:nifty 50` → `NSE:NIFTY 50`; a bare `RELIANCE` gets the default exchange."""
    text = " ".join(raw.strip().split()).upper()
    if ":" in text:
        exchange, _, tradingsymbol = text.partition(":")
        return make_symbol(exchange, tradingsymbol)
    return make_symbol(default_exchange, text)


def make_symbol(exchange: str, tradingsymbol: str) -> str:
    return f"{exchange.strip().upper()}:{tradingsymbol.strip().upper()}"


def split_symbol(symbol: str) -> tuple[str, str]:
    exchange, _, tradingsymbol = normalise(symbol).partition(":")
    return exchange, tradingsymbol
