"""What the simulator plays: its instruments and the price paths they derive from.

Pure data built from instrument listings (model rows or CSV rows) and the demo market definitions
in marketdata.demo. Index and stock prices are random walks (`PathSpec`); futures and options are
priced from their market's index path.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from marketdata.calendar import calendar_exchange
from marketdata.demo import MARKETS, DemoMarket, market_of_underlying
from marketdata.simulator.model import expiry_ms

INDEX = "INDEX"
EQ = "EQ"
FUT = "FUT"
CE = "CE"
PE = "PE"
OPTION_KINDS = frozenset({CE, PE})
DERIVATIVE_KINDS = frozenset({FUT, CE, PE})

# Share of the tick rate each instrument gets (relative weights among the open instruments).
INDEX_WEIGHT = 4.0
STOCK_WEIGHT = 2.0
NEAR_FUTURE_WEIGHT = 3.0
FAR_FUTURE_WEIGHT = 1.5
OPTION_BASE_WEIGHT = 0.15
OPTION_ATM_WEIGHT = 1.2
OPTION_WEIGHT_DISTANCE_STRIKES = 3.0
NEAREST_EXPIRY_BOOST = 1.5
FAR_FUTURE_ACTIVITY = 0.25  # volume and OI of later futures relative to the near month
OPTION_OI_DISTANCE_STRIKES = 6.0
OPTION_VOLUME_TO_OI = 3.0


@dataclass(frozen=True, slots=True)
class Listing:
    """One row of an instrument master, as the simulator needs it."""

    token: int
    exchange: str
    tradingsymbol: str
    name: str
    segment: str
    kind: str  # INDEX, EQ, FUT, CE, PE
    tick_size: float
    lot_size: int
    underlying: str
    expiry: date | None = None
    strike: float | None = None

    @classmethod
    def of_instrument(cls, instrument: Any) -> Listing:
        """From a marketdata.models.Instrument."""
        return cls(
            token=int(instrument.instrument_token), exchange=instrument.exchange,
            tradingsymbol=instrument.tradingsymbol, name=instrument.name, segment=instrument.segment,
            kind=instrument.instrument_type, tick_size=float(instrument.tick_size), lot_size=int(instrument.lot_size),
            underlying=instrument.underlying, expiry=instrument.expiry,
            strike=None if instrument.strike is None else float(instrument.strike),
        )

    @classmethod
    def of_row(cls, row: Mapping[str, str]) -> Listing:
        """From a broker CSV row (marketdata.demo.instrument_rows)."""
        segment = row["segment"].strip().upper()
        kind = INDEX if segment == "INDICES" else row["instrument_type"].strip().upper()
        expiry = row.get("expiry") or ""
        strike = row.get("strike") or ""
        name = row["name"].strip().upper()
        return cls(
            token=int(row["instrument_token"]), exchange=row["exchange"].strip().upper(),
            tradingsymbol=row["tradingsymbol"].strip().upper(), name=name, segment=segment, kind=kind,
            tick_size=float(row["tick_size"] or "0.05"), lot_size=max(1, int(Decimal(row["lot_size"] or "1"))),
            underlying=name if kind in DERIVATIVE_KINDS else row["tradingsymbol"].strip().upper(),
            expiry=date.fromisoformat(expiry) if expiry else None,
            strike=float(strike) if strike and float(strike) > 0 else None,
        )


@dataclass(frozen=True, slots=True)
class PathSpec:
    """A random walk: an index, or a stock correlated with its market's index."""

    token: int
    calendar: str
    annual_vol: float
    minutes_per_year: float
    session_minutes: int
    intraday_profile: bool
    overnight_gaps: bool
    start_price: float
    market: int | None = None  # the index path this one is correlated with
    correlation: float = 0.0


@dataclass(frozen=True, slots=True)
class SimInstrument:
    token: int
    exchange: str
    tradingsymbol: str
    name: str
    segment: str
    kind: str
    calendar: str  # the calendar exchange (NFO trades on the NSE calendar)
    tick_size: float
    lot_size: int
    path: int  # token of the price path (itself for indices and stocks)
    expiry: date | None
    strike: float | None
    expiry_ms: int | None
    daily_volume: float  # units traded in a session; 0 for indices
    session_minutes: int
    base_oi: float
    weight: float

    @property
    def symbol(self) -> str:
        return f"{self.exchange}:{self.tradingsymbol}"

    @property
    def is_index(self) -> bool:
        return self.kind == INDEX

    @property
    def is_option(self) -> bool:
        return self.kind in OPTION_KINDS

    @property
    def is_derivative(self) -> bool:
        return self.kind in DERIVATIVE_KINDS


@dataclass(frozen=True)
class Universe:
    instruments: tuple[SimInstrument, ...]
    paths: tuple[PathSpec, ...]
    listings: tuple[Listing, ...] = ()
    _by_token: dict[int, SimInstrument] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self._by_token.update({i.token: i for i in self.instruments})

    def get(self, token: int) -> SimInstrument | None:
        return self._by_token.get(token)

    @property
    def tokens(self) -> list[int]:
        return [i.token for i in self.instruments]

    @property
    def calendars(self) -> frozenset[str]:
        return frozenset(i.calendar for i in self.instruments)


def _market_paths() -> dict[int, tuple[DemoMarket, PathSpec]]:
    paths: dict[int, tuple[DemoMarket, PathSpec]] = {}
    for market in MARKETS:
        session_minutes = 375 if market.calendar == "NSE" else 1440
        for underlier in market.underliers:
            is_index = underlier is market.index
            paths[underlier.token] = (market, PathSpec(
                token=underlier.token, calendar=market.calendar, annual_vol=underlier.annual_vol,
                minutes_per_year=market.minutes_per_year, session_minutes=session_minutes,
                intraday_profile=market.intraday_profile, overnight_gaps=market.overnight_gaps,
                start_price=underlier.start_price, market=None if is_index else market.index.token,
                correlation=0.0 if is_index else underlier.market_correlation,
            ))
    return paths


def build_universe(listings: Iterable[Listing], *, spots: Mapping[int, float], as_of_ms: int) -> Universe:
    """The simulated instruments among `listings`: the demo underliers and their unexpired derivatives.

    Listings the demo market does not define (other loaded instruments) are ignored: the simulator
    only plays what it can price. `spots` (index token → price) places the ATM for weights and OI.
    """
    market_paths = _market_paths()
    chosen = [
        listing for listing in listings
        if listing.token in market_paths
        or (listing.kind in DERIVATIVE_KINDS and market_of_underlying(listing.underlying) is not None
            and listing.expiry is not None and expiry_ms(listing.expiry) > as_of_ms)
    ]
    chosen.sort(key=lambda x: x.token)
    near_expiries: dict[tuple[str, str], date] = {}
    for listing in chosen:
        if listing.expiry is not None:
            key = (listing.underlying, FUT if listing.kind == FUT else "OPT")
            near_expiries[key] = min(listing.expiry, near_expiries.get(key, listing.expiry))

    instruments: list[SimInstrument] = []
    used_paths: dict[int, PathSpec] = {}
    for listing in chosen:
        if listing.token in market_paths:
            market, path = market_paths[listing.token]
            used_paths[path.token] = path
            underlier = next(u for u in market.underliers if u.token == listing.token)
            instruments.append(_instrument(
                listing, path=path, daily_volume=underlier.daily_volume, base_oi=0.0,
                weight=INDEX_WEIGHT if listing.kind == INDEX else STOCK_WEIGHT,
            ))
            continue
        owner = market_of_underlying(listing.underlying)
        assert owner is not None
        assert listing.expiry is not None
        _, path = market_paths[owner.index.token]
        used_paths[path.token] = path
        spec = owner.derivatives
        is_near = listing.expiry == near_expiries[(listing.underlying, FUT if listing.kind == FUT else "OPT")]
        if listing.kind == FUT:
            activity = 1.0 if is_near else FAR_FUTURE_ACTIVITY
            instruments.append(_instrument(
                listing, path=path, daily_volume=spec.future_daily_volume * activity,
                base_oi=spec.future_oi * activity, weight=NEAR_FUTURE_WEIGHT if is_near else FAR_FUTURE_WEIGHT,
            ))
            continue
        spot = spots.get(owner.index.token, owner.index.start_price)
        distance = abs((listing.strike or spot) - spot) / spec.strike_step
        base_oi = spec.option_atm_oi * math.exp(-distance / OPTION_OI_DISTANCE_STRIKES)
        weight = OPTION_BASE_WEIGHT + OPTION_ATM_WEIGHT * math.exp(-distance / OPTION_WEIGHT_DISTANCE_STRIKES)
        instruments.append(_instrument(
            listing, path=path, daily_volume=base_oi * OPTION_VOLUME_TO_OI, base_oi=base_oi,
            weight=weight * (NEAREST_EXPIRY_BOOST if is_near else 1.0),
        ))
    for path in list(used_paths.values()):
        if path.market is not None and path.market not in used_paths:
            # A stock listed without its index still needs the index walk to correlate with.
            used_paths[path.market] = market_paths[path.market][1]
    # Paths in a fixed order with every index before the stocks correlated with it.
    paths = tuple(sorted(used_paths.values(), key=lambda p: (p.market is not None, p.token)))
    return Universe(instruments=tuple(instruments), paths=paths, listings=tuple(chosen))


def _instrument(listing: Listing, *, path: PathSpec, daily_volume: float, base_oi: float,
                weight: float) -> SimInstrument:
    return SimInstrument(
        token=listing.token, exchange=listing.exchange, tradingsymbol=listing.tradingsymbol, name=listing.name,
        segment=listing.segment, kind=listing.kind, calendar=calendar_exchange(listing.exchange),
        tick_size=listing.tick_size, lot_size=listing.lot_size, path=path.token, expiry=listing.expiry,
        strike=listing.strike, expiry_ms=None if listing.expiry is None else expiry_ms(listing.expiry),
        daily_volume=daily_volume, session_minutes=path.session_minutes, base_oi=base_oi, weight=weight,
    )
