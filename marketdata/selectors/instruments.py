"""Instrument lookups used on hot paths (UDF, quotes) and search."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from decimal import Decimal

from cachetools import TTLCache
from django.db.models import Case, IntegerField, Q, QuerySet, Value, When
from django.db.models.functions import Length

from marketdata.models import Instrument, InstrumentType
from marketdata.symbols import normalise
from tradeviz.errors import InvalidInput, NotFound

# Symbol → instrument facts change only when the master is reloaded; a minute is fresh enough.
LOOKUP_TTL_SECONDS = 60
LOOKUP_CACHE_SIZE = 20_000
SEARCH_LIMIT_MAX = 100
SYMBOL_MAX_LENGTH = 80

# UDF `type` values ↔ instrument types.
UDF_TYPES: dict[str, tuple[str, ...]] = {
    "index": (InstrumentType.INDEX,),
    "stock": (InstrumentType.EQ,),
    "futures": (InstrumentType.FUT,),
    "option": (InstrumentType.CE, InstrumentType.PE),
}
TYPE_TO_UDF = {kind: udf for udf, kinds in UDF_TYPES.items() for kind in kinds}


@dataclass(frozen=True)
class InstrumentRef:
    """The handful of instrument facts hot paths need, detached from the ORM."""

    id: int
    token: int
    symbol: str
    exchange: str
    tradingsymbol: str
    name: str
    instrument_type: str
    tick_size: Decimal
    lot_size: int
    underlying: str
    expiry: str | None
    strike: Decimal | None

    @classmethod
    def of(cls, instrument: Instrument) -> InstrumentRef:
        return cls(
            id=instrument.pk,
            token=instrument.instrument_token,
            symbol=instrument.symbol,
            exchange=instrument.exchange,
            tradingsymbol=instrument.tradingsymbol,
            name=instrument.name,
            instrument_type=instrument.instrument_type,
            tick_size=instrument.tick_size,
            lot_size=instrument.lot_size,
            underlying=instrument.underlying,
            expiry=instrument.expiry.isoformat() if instrument.expiry else None,
            strike=instrument.strike,
        )


_lookup: TTLCache[str, InstrumentRef] = TTLCache(maxsize=LOOKUP_CACHE_SIZE, ttl=LOOKUP_TTL_SECONDS)
_lookup_lock = threading.Lock()


def instrument_by_symbol(raw_symbol: str) -> InstrumentRef:
    """`EXCH:SYMBOL` (any case/spacing; bare names default to NSE) → the instrument, or NotFound."""
    if not raw_symbol or len(raw_symbol) > SYMBOL_MAX_LENGTH:
        raise InvalidInput("symbol is required and must be at most 80 characters")
    symbol = normalise(raw_symbol)
    with _lookup_lock:
        hit = _lookup.get(symbol)
    if hit is not None:
        return hit
    instrument = Instrument.objects.filter(symbol=symbol).first()
    if instrument is None:
        raise NotFound(f"unknown symbol {symbol}")
    ref = InstrumentRef.of(instrument)
    with _lookup_lock:
        _lookup[symbol] = ref
    return ref


def clear_lookup_cache() -> None:
    with _lookup_lock:
        _lookup.clear()


def search_instruments(
    *, query: str, udf_type: str = "", exchange: str = "", limit: int = 30, offset: int = 0
) -> tuple[QuerySet[Instrument], int]:
    """Instruments whose tradingsymbol or name contains `query`, best matches first, and the total.

    Exact symbol first, then prefix matches, then the rest by length; the trigram indexes on
    tradingsymbol and name serve the `icontains` filter.
    """
    text = " ".join(query.strip().split()).upper()
    if ":" in text:
        exchange, _, text = text.partition(":")
    queryset = Instrument.objects.filter(is_active=True)
    if text:
        queryset = queryset.filter(Q(tradingsymbol__icontains=text) | Q(name__icontains=text))
    if udf_type:
        kinds = UDF_TYPES.get(udf_type.lower())
        if kinds is None:
            return Instrument.objects.none(), 0
        queryset = queryset.filter(instrument_type__in=kinds)
    if exchange:
        queryset = queryset.filter(exchange=exchange.upper())
    total = queryset.count()
    ranked = queryset.annotate(
        rank=Case(
            When(tradingsymbol=text, then=Value(0)),
            When(tradingsymbol__startswith=text, then=Value(1)),
            When(name__startswith=text, then=Value(2)),
            default=Value(3),
            output_field=IntegerField(),
        ),
        length=Length("tradingsymbol"),
    ).order_by("rank", "length", "tradingsymbol")
    limit = max(1, min(limit, SEARCH_LIMIT_MAX))
    return ranked[offset : offset + limit], total
