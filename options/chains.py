"""Option chains as the instrument master lists them: which contract trades at which strike.

A `Chain` is one (underlying, expiry): its sorted strikes with the call and put contract at each
(id -1 where a side is not listed), the same-expiry futures, and the spot instrument (the index or
the stock). Definitions are cached in-process for `CHAIN_CACHE_SECONDS`: the master changes once a
day, and every minute of analytics and every chain request needs them.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import numpy as np
import numpy.typing as npt
from cachetools import TTLCache

from marketdata.expiries import holiday_adjusted, listed_expiries
from marketdata.models import Exchange, Instrument, InstrumentType
from tradeviz.errors import DomainError, InvalidInput, NotFound

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

CHAIN_CACHE_SECONDS = 60
CHAIN_CACHE_SIZE = 2_000
MISSING = -1
UNDERLYING_MAX_LENGTH = 64
OPTION_TYPES = (InstrumentType.CE, InstrumentType.PE)
# The cash-market exchange of a derivatives exchange: where its underlying's spot price trades.
SPOT_EXCHANGE_OF = {Exchange.NFO: Exchange.NSE, Exchange.BFO: Exchange.BSE, Exchange.SIM: Exchange.SIM}


@dataclass(frozen=True)
class ContractRef:
    id: int
    token: int
    tradingsymbol: str
    exchange: str
    expiry: date | None
    lot_size: int


@dataclass(frozen=True, eq=False)
class Chain:
    """One expiry's listed strikes, aligned arrays (index i = strikes[i])."""

    underlying: str
    expiry: date  # the contract expiry of the instrument master
    effective_expiry: date  # its last trading day (earlier when the date became a holiday)
    exchange: str
    strikes: FloatArray  # ascending
    strike_values: tuple[Decimal, ...]  # the exact strikes, for database keys
    ce_id: IntArray
    pe_id: IntArray
    ce_token: IntArray
    pe_token: IntArray
    ce_symbol: tuple[str, ...]
    pe_symbol: tuple[str, ...]
    lot_size: int
    tick: float
    futures: ContractRef | None
    spot: ContractRef | None

    @property
    def size(self) -> int:
        return int(self.strikes.shape[0])

    @property
    def key(self) -> tuple[str, date]:
        return (self.underlying, self.expiry)

    def contract_ids(self) -> list[int]:
        ids = np.concatenate([self.ce_id, self.pe_id])
        return [int(i) for i in ids[ids != MISSING]]


_cache: TTLCache[tuple[str, date], Chain] = TTLCache(maxsize=CHAIN_CACHE_SIZE, ttl=CHAIN_CACHE_SECONDS)
_expiry_cache: TTLCache[str, tuple[date, ...]] = TTLCache(maxsize=CHAIN_CACHE_SIZE, ttl=CHAIN_CACHE_SECONDS)
_lock = threading.Lock()


def clear_chain_cache() -> None:
    """Forget cached definitions (tests; after reloading the master in this process)."""
    with _lock:
        _cache.clear()
        _expiry_cache.clear()


def normalise_underlying(raw: str) -> str:
    name = " ".join((raw or "").split()).upper()
    if not name:
        raise InvalidInput("underlying is required")
    if len(name) > UNDERLYING_MAX_LENGTH:
        raise InvalidInput(f"underlying must be at most {UNDERLYING_MAX_LENGTH} characters")
    return name


def option_expiries(underlying: str) -> tuple[date, ...]:
    """Every contract expiry with listed options of `underlying` (expired ones too), ascending."""
    name = normalise_underlying(underlying)
    with _lock:
        hit = _expiry_cache.get(name)
    if hit is not None:
        return hit
    expiries = tuple(
        e
        for e in Instrument.objects.filter(underlying=name, instrument_type__in=OPTION_TYPES)
        .values_list("expiry", flat=True)
        .distinct()
        .order_by("expiry")
        if e is not None
    )
    with _lock:
        _expiry_cache[name] = expiries
    return expiries


def _effective_expiry(contract: date, exchange: str) -> date:
    try:
        return holiday_adjusted(contract, exchange)
    except DomainError:
        # No holiday data that far ahead (or an exchange without a calendar): the master's date is
        # the best knowledge there is.
        return contract


def _ref(instrument: Instrument | None) -> ContractRef | None:
    if instrument is None:
        return None
    return ContractRef(
        id=instrument.pk,
        token=instrument.instrument_token,
        tradingsymbol=instrument.tradingsymbol,
        exchange=instrument.exchange,
        expiry=instrument.expiry,
        lot_size=instrument.lot_size,
    )


def _spot_instrument(underlying: str, exchange: str) -> Instrument | None:
    """The index (or the stock) whose derivatives these are, on the cash market of `exchange`."""
    candidates = list(
        Instrument.objects.filter(
            underlying=underlying, instrument_type__in=(InstrumentType.INDEX, InstrumentType.EQ)
        ).order_by("id")
    )
    cash = SPOT_EXCHANGE_OF.get(exchange, Exchange.NSE)  # type: ignore[call-overload]

    def rank(i: Instrument) -> tuple[int, int, int]:
        return (i.exchange != cash, i.instrument_type != InstrumentType.INDEX, i.pk)

    return min(candidates, key=rank) if candidates else None


def _build(underlying: str, expiry: date) -> Chain | None:
    rows = list(
        Instrument.objects.filter(underlying=underlying, expiry=expiry, instrument_type__in=OPTION_TYPES)
        .order_by("strike", "instrument_type", "id")
        .values_list(
            "id",
            "instrument_token",
            "tradingsymbol",
            "strike",
            "instrument_type",
            "lot_size",
            "tick_size",
            "exchange",
        )
    )
    rows = [r for r in rows if r[3] is not None]
    if not rows:
        return None
    strike_values = tuple(sorted({Decimal(str(r[3])).normalize() for r in rows}))
    index = {k: i for i, k in enumerate(strike_values)}
    n = len(strike_values)
    ids: dict[str, IntArray] = {str(kind): np.full(n, MISSING, dtype=np.int64) for kind in OPTION_TYPES}
    tokens: dict[str, IntArray] = {str(kind): np.full(n, MISSING, dtype=np.int64) for kind in OPTION_TYPES}
    symbols: dict[str, list[str]] = {str(kind): [""] * n for kind in OPTION_TYPES}
    for pk, token, symbol, strike, kind, _lot, _tick, _exchange in rows:
        i = index[Decimal(str(strike)).normalize()]
        if ids[kind][i] == MISSING:  # duplicate listings: the first (lowest id) wins
            ids[kind][i], tokens[kind][i], symbols[kind][i] = pk, token, symbol
    exchange = max({r[7] for r in rows}, key=lambda e: sum(1 for r in rows if r[7] == e))
    listed_futures = list(
        Instrument.objects.filter(underlying=underlying, expiry=expiry, instrument_type=InstrumentType.FUT)
    )
    futures = min(listed_futures, key=lambda f: (f.exchange != exchange, f.pk), default=None)
    return Chain(
        underlying=underlying,
        expiry=expiry,
        effective_expiry=_effective_expiry(expiry, exchange),
        exchange=exchange,
        strikes=np.array([float(k) for k in strike_values], dtype=np.float64),
        strike_values=strike_values,
        ce_id=ids[InstrumentType.CE],
        pe_id=ids[InstrumentType.PE],
        ce_token=tokens[InstrumentType.CE],
        pe_token=tokens[InstrumentType.PE],
        ce_symbol=tuple(symbols[InstrumentType.CE]),
        pe_symbol=tuple(symbols[InstrumentType.PE]),
        # Lot size and tick belong to the contracts (they change by circular); the chain's are its most common.
        lot_size=int(np.bincount([r[5] for r in rows]).argmax()),
        tick=float(min(r[6] for r in rows)),
        futures=_ref(futures),
        spot=_ref(_spot_instrument(underlying, exchange)),
    )


def get_chain(underlying: str, expiry: date) -> Chain | None:
    """The chain of a contract expiry, or None when no option of it is listed."""
    name = normalise_underlying(underlying)
    key = (name, expiry)
    with _lock:
        hit = _cache.get(key)
    if hit is not None:
        return hit
    chain = _build(name, expiry)
    if chain is not None:
        with _lock:
            _cache[key] = chain
    return chain


def chain_or_404(underlying: str, expiry: date) -> Chain:
    """The chain for an API request: unknown underlyings and expiries are NotFound.

    `expiry` may be the contract expiry or the effective date `/fo/expiries` reports for a contract
    whose date became a holiday after the master was loaded.
    """
    name = normalise_underlying(underlying)
    expiries = option_expiries(name)
    if not expiries:
        raise NotFound(f"Unknown underlying {underlying!r}: no options are listed for it.")
    chain = get_chain(name, expiry) if expiry in expiries else None
    if chain is None:
        moved = [
            info.contract_expiry
            for info in listed_expiries(underlying=name, as_of=expiry)
            if info.expiry == expiry and info.contract_expiry is not None
        ]
        chain = get_chain(name, moved[0]) if moved else None
    if chain is None:
        raise NotFound(
            f"No {name} options expire on {expiry.isoformat()}.",
            details={"expiries": [e.isoformat() for e in expiries[-20:]]},
        )
    return chain


def nearest_expiries(underlying: str, *, as_of: date, count: int) -> list[date]:
    """The `count` nearest contract expiries on or after `as_of`."""
    return [e for e in option_expiries(underlying) if e >= as_of][:count]


def active_chains(*, underlyings: Iterable[str], as_of: date, expiries_per_underlying: int) -> list[Chain]:
    """The nearest `expiries_per_underlying` unexpired chains of each underlying (per-minute analytics)."""
    chains: list[Chain] = []
    for name in sorted({normalise_underlying(u) for u in underlyings}):
        for expiry in nearest_expiries(name, as_of=as_of, count=expiries_per_underlying):
            chain = get_chain(name, expiry)
            if chain is not None:
                chains.append(chain)
    return chains


def window(chain: Chain, *, centre: int | None, each_side: int) -> slice:
    """The strikes `each_side` either side of index `centre` (all when each_side is 0)."""
    if each_side <= 0 or chain.size == 0:
        return slice(0, chain.size)
    mid = chain.size // 2 if centre is None else centre
    return slice(max(0, mid - each_side), min(chain.size, mid + each_side + 1))


def underlyings_of_instruments(instrument_ids: Sequence[int]) -> list[str]:
    """Distinct underlyings of these instruments (for the minute-close hook)."""
    if not instrument_ids:
        return []
    return sorted(
        set(
            Instrument.objects.filter(pk__in=list(instrument_ids))
            .exclude(underlying="")
            .values_list("underlying", flat=True)
            .distinct()
        )
    )
