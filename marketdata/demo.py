"""Demo market: instruments and session-aware 1-minute history, generated deterministically.

Seeded by `manage.py bootstrap` (part of `make run`) so every page has data on first start, and
played live by the market simulator (marketdata.simulator) afterwards. Two markets:

- NSE: the NIFTY 50 index, four stocks, NIFTY futures for the next two monthly expiries (NFO) and
  the NIFTY option chain for the next two expiries. Bars only inside NSE sessions (holidays and
  special sessions from the market calendar).
- SIM: a demo exchange that trades 24x7 (marketdata.calendar), with its own index `SIM:SIMNIFTY`,
  futures and option chain, so the demo is live at any hour.

Prices follow a random walk with a U-shaped intraday volatility and volume profile (NSE); futures
carry the cost of carry; options are priced with Black-76 from the volatility smile of
marketdata.simulator.model, the same model the live simulator ticks with.

Seeding is idempotent and fills gaps: each run generates bars only after the last stored bar of
each instrument (up to the last complete minute), continuing from its last close, so a second
`make run` a week later finds a continuous chart. Tokens are stable per contract (derived from the
expiry, strike and type), so a new expiry never re-uses the token of an old one.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np
import numpy.typing as npt
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from marketdata.calendar import market_date, sessions_in_range
from marketdata.expiries import monthly_expiry, next_rule_expiries
from marketdata.models import Instrument, InstrumentType
from marketdata.services.bars import BarBatch, bars_upsert
from marketdata.services.instruments import REQUIRED_COLUMNS, load_instruments
from marketdata.simulator.model import (
    expiry_ms,
    futures_fair,
    intraday_profile,
    option_fair,
    years_between,
)

logger = logging.getLogger(__name__)

SEED = 20_251_128
HISTORY_DAYS = 120
SIM_HISTORY_DAYS = 10
TICK = 0.05
US_PER_MINUTE = 60_000_000
NSE_MINUTES_PER_YEAR = 252 * 375
SIM_MINUTES_PER_YEAR = 365 * 1440
# Overnight gaps carry about a third of a day's variance.
OVERNIGHT_GAP_SCALE = 0.55
INDEX_WIGGLE = 0.0002
STOCK_WIGGLE = 0.0004
OPTION_WIGGLE = 0.003
FUTURES_BASIS_NOISE = 0.0002
# Open interest wanders around its level: a persistent AR(1) walk of log OI per minute (about 4.5 %
# standard deviation), not a random walk, which would drift by orders of magnitude over months.
OI_PERSISTENCE = 0.999
OI_SANITY_FACTOR = 50
OI_STEP = 0.002
# Open interest of the ATM option; it falls off with the distance from ATM in strikes.
OPTION_OI_DISTANCE_SCALE = 6.0
OPTION_VOLUME_TO_OI = 3.0
# Stable tokens: a contract's token is derived from its expiry (days since this date), strike and type.
TOKEN_EPOCH = date(2020, 1, 1)
OPTION_TOKENS_PER_EXPIRY = 2_000
STRIKE_CODES = 1_000
# The first versions of the demo numbered contracts in listing order; those rows are re-keyed.
LEGACY_FUTURE_TOKENS = (9_100_000, 9_100_099)
LEGACY_OPTION_TOKENS = (9_200_000, 9_209_999)


@dataclass(frozen=True)
class Underlier:
    token: int
    tradingsymbol: str
    name: str
    exchange: str
    segment: str
    kind: str  # the CSV instrument_type; indices are EQ in segment INDICES
    start_price: float
    annual_vol: float
    daily_volume: float  # 0 for indices, which do not trade
    market_correlation: float = 0.0  # with its market's index, for the live simulator

    @property
    def is_index(self) -> bool:
        return self.segment == "INDICES"

    @property
    def symbol(self) -> str:
        return f"{self.exchange}:{self.tradingsymbol}"


@dataclass(frozen=True)
class DerivativesSpec:
    underlying: str  # the `name` column of the contracts (NIFTY, SIMNIFTY)
    exchange: str
    future_segment: str
    option_segment: str
    lot_size: int
    strike_step: int
    strikes_each_side: int
    future_expiries: int
    option_expiries: int
    future_token_base: int
    option_token_base: int
    future_daily_volume: float
    future_oi: float
    option_atm_oi: float


@dataclass(frozen=True)
class DemoMarket:
    calendar: str  # the calendar exchange: NSE or SIM
    index: Underlier
    stocks: tuple[Underlier, ...]
    derivatives: DerivativesSpec
    minutes_per_year: float
    intraday_profile: bool  # U-shaped activity within the session (NSE); SIM is flat
    overnight_gaps: bool
    option_history_sessions: int

    @property
    def underliers(self) -> tuple[Underlier, ...]:
        return (self.index, *self.stocks)


INDEX = Underlier(256265, "NIFTY 50", "NIFTY 50", "NSE", "INDICES", "EQ", 24_000.0, 0.13, 0.0)
STOCKS = (
    Underlier(738561, "RELIANCE", "RELIANCE INDUSTRIES", "NSE", "NSE", "EQ", 1_420.0, 0.22, 8_000_000, 0.65),
    Underlier(408065, "INFY", "INFOSYS", "NSE", "NSE", "EQ", 1_560.0, 0.24, 6_000_000, 0.55),
    Underlier(341249, "HDFCBANK", "HDFC BANK", "NSE", "NSE", "EQ", 1_950.0, 0.18, 9_000_000, 0.70),
    Underlier(2953217, "TCS", "TATA CONSULTANCY SERVICES", "NSE", "NSE", "EQ", 3_300.0, 0.20, 2_500_000, 0.50),
)
SIM_INDEX = Underlier(7_000_001, "SIMNIFTY", "SIMNIFTY", "SIM", "INDICES", "EQ", 24_000.0, 0.13, 0.0)

NSE_MARKET = DemoMarket(
    calendar="NSE",
    index=INDEX,
    stocks=STOCKS,
    derivatives=DerivativesSpec(
        underlying="NIFTY", exchange="NFO", future_segment="NFO-FUT", option_segment="NFO-OPT", lot_size=65,
        strike_step=50, strikes_each_side=10, future_expiries=2, option_expiries=2,
        future_token_base=9_300_000, option_token_base=10_000_000,
        future_daily_volume=12_000_000, future_oi=12_000_000, option_atm_oi=4_000_000,
    ),
    minutes_per_year=NSE_MINUTES_PER_YEAR,
    intraday_profile=True,
    overnight_gaps=True,
    option_history_sessions=5,
)
SIM_MARKET = DemoMarket(
    calendar="SIM",
    index=SIM_INDEX,
    stocks=(),
    derivatives=DerivativesSpec(
        underlying="SIMNIFTY", exchange="SIM", future_segment="SIM-FUT", option_segment="SIM-OPT", lot_size=65,
        strike_step=50, strikes_each_side=10, future_expiries=2, option_expiries=2,
        future_token_base=7_100_000, option_token_base=30_000_000,
        future_daily_volume=12_000_000, future_oi=12_000_000, option_atm_oi=4_000_000,
    ),
    minutes_per_year=SIM_MINUTES_PER_YEAR,
    intraday_profile=False,
    overnight_gaps=False,
    # SIM sessions are IST calendar days: the current one and the day before (24-48 hours).
    option_history_sessions=2,
)
MARKETS = (NSE_MARKET, SIM_MARKET)


def market_of_underlying(underlying: str) -> DemoMarket | None:
    for market in MARKETS:
        if market.derivatives.underlying == underlying:
            return market
    return None


# --- the instrument master --------------------------------------------------------------------------


def future_token(spec: DerivativesSpec, expiry: date) -> int:
    return spec.future_token_base + (expiry - TOKEN_EPOCH).days


def option_token(spec: DerivativesSpec, expiry: date, strike: float, kind: str) -> int:
    strike_code = (round(strike) // spec.strike_step) % STRIKE_CODES
    return (
        spec.option_token_base
        + (expiry - TOKEN_EPOCH).days * OPTION_TOKENS_PER_EXPIRY
        + strike_code * 2
        + (1 if kind == "PE" else 0)
    )


def _next_monthly_expiries(today: date, count: int, exchange: str) -> list[date]:
    found: list[date] = []
    year, month = today.year, today.month
    while len(found) < count:
        expiry = monthly_expiry(year, month, exchange)
        if expiry >= today:
            found.append(expiry)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return found


def market_rows(
    market: DemoMarket, *, spot: float, today: date, future_expiries: Sequence[date] | None = None,
    option_expiries: Sequence[date] | None = None,
) -> list[dict[str, str]]:
    """One market's instruments in the broker CSV format (strikes centred on `spot`).

    Expiries follow the calendar rules unless given (which also keeps the function off the database).
    """
    rows: list[dict[str, str]] = []

    def add(**values: object) -> None:
        rows.append({c: str(values.get(c, "")) for c in REQUIRED_COLUMNS})

    for u in market.underliers:
        add(instrument_token=u.token, exchange_token=u.token // 256, tradingsymbol=u.tradingsymbol, name=u.name,
            last_price=u.start_price, tick_size=TICK, lot_size=1, instrument_type=u.kind, segment=u.segment,
            exchange=u.exchange)
    spec = market.derivatives
    if future_expiries is None:
        future_expiries = _next_monthly_expiries(today, spec.future_expiries, spec.exchange)
    for expiry in future_expiries:
        add(instrument_token=future_token(spec, expiry), tradingsymbol=f"{spec.underlying}{expiry:%y%b}FUT".upper(),
            name=spec.underlying, expiry=expiry.isoformat(), tick_size=TICK, lot_size=spec.lot_size,
            instrument_type="FUT", segment=spec.future_segment, exchange=spec.exchange)
    atm = round(spot / spec.strike_step) * spec.strike_step
    strikes = [atm + spec.strike_step * k for k in range(-spec.strikes_each_side, spec.strikes_each_side + 1)]
    if option_expiries is None:
        # The weekly rule of NIFTY (Tuesdays, the monthly on the last one) also lists the SIM chain.
        option_expiries = [
            e.expiry
            for e in next_rule_expiries(underlying="NIFTY", as_of=today, count=spec.option_expiries,
                                        exchange=spec.exchange)
        ]
    for expiry in option_expiries:
        for strike in strikes:
            for kind in ("CE", "PE"):
                add(instrument_token=option_token(spec, expiry, strike, kind),
                    tradingsymbol=f"{spec.underlying}{expiry:%y%m%d}{strike}{kind}", name=spec.underlying,
                    expiry=expiry.isoformat(), strike=strike, tick_size=TICK, lot_size=spec.lot_size,
                    instrument_type=kind, segment=spec.option_segment, exchange=spec.exchange)
    return rows


def instrument_rows(*, spots: Mapping[int, float], today: date) -> list[dict[str, str]]:
    """The demo instrument master (both markets); `spots` maps index tokens to their price."""
    rows: list[dict[str, str]] = []
    for market in MARKETS:
        rows.extend(market_rows(market, spot=spots.get(market.index.token, market.index.start_price), today=today))
    return rows


def to_csv(rows: Iterable[Mapping[str, object]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=REQUIRED_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def _rekey_legacy_tokens() -> int:
    """Give demo contracts listed with the old sequential tokens their stable token (bars stay put:
    they reference the row, not the token). Without this a roll would reuse a token for another
    contract, or collide on the symbol."""
    spec = NSE_MARKET.derivatives
    legacy = Instrument.objects.filter(exchange=spec.exchange, underlying=spec.underlying).filter(
        Q(instrument_token__range=LEGACY_FUTURE_TOKENS) | Q(instrument_token__range=LEGACY_OPTION_TOKENS)
    )
    moved = 0
    with transaction.atomic():
        for row in legacy.select_for_update():
            if row.expiry is None:
                continue
            if row.instrument_type == InstrumentType.FUT:
                token = future_token(spec, row.expiry)
            elif row.strike is not None:
                token = option_token(spec, row.expiry, float(row.strike), row.instrument_type)
            else:
                continue
            if Instrument.objects.filter(instrument_token=token).exclude(pk=row.pk).exists():
                logger.warning("demo: cannot re-key %s: token %s is taken", row.symbol, token)
                continue
            Instrument.objects.filter(pk=row.pk).update(instrument_token=token)
            moved += 1
    if moved:
        logger.info("demo: re-keyed legacy demo contracts to stable tokens", extra={"instruments": moved})
    return moved


# --- history ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Grid:
    """Every minute of every session in a window: epoch microseconds, minute-of-session profile,
    and whether the minute opens a session."""

    times: npt.NDArray[np.int64]
    profile: npt.NDArray[np.float64]
    first: npt.NDArray[np.bool_]
    session_minutes: npt.NDArray[np.int64]  # length of the session each minute belongs to


def _grid(market: DemoMarket, start: date, end: date, until_us: int) -> _Grid:
    times, profile, first, lengths = [], [], [], []
    for session in sessions_in_range(start, end, market.calendar):
        n = int((session.close - session.open).total_seconds() // 60)
        opened = int(session.open.timestamp()) * 1_000_000
        times.append(opened + np.arange(n, dtype=np.int64) * US_PER_MINUTE)
        profile.append(intraday_profile(n) if market.intraday_profile else np.ones(n))
        flags = np.zeros(n, dtype=bool)
        flags[0] = True
        first.append(flags)
        lengths.append(np.full(n, n, dtype=np.int64))
    if not times:
        empty = np.zeros(0, dtype=np.int64)
        return _Grid(empty, np.zeros(0), np.zeros(0, dtype=bool), empty)
    all_times = np.concatenate(times)
    keep = all_times < until_us
    return _Grid(all_times[keep], np.concatenate(profile)[keep], np.concatenate(first)[keep],
                 np.concatenate(lengths)[keep])


def _walk(rng: np.random.Generator, grid: _Grid, keep: npt.NDArray[np.bool_], start: float, vol: float,
          market: DemoMarket) -> npt.NDArray[np.float64]:
    """Closes of a log-normal walk from `start` over the kept minutes (shocks drawn for the whole grid,
    so the path does not depend on where a previous run stopped)."""
    per_minute = vol / np.sqrt(market.minutes_per_year)
    shocks = rng.standard_normal(grid.times.shape[0]) * per_minute * np.sqrt(grid.profile)
    if market.overnight_gaps:
        gaps = rng.standard_normal(grid.times.shape[0]) * vol / np.sqrt(252) * OVERNIGHT_GAP_SCALE
        shocks = shocks + np.where(grid.first, gaps, 0.0)
    return start * np.exp(np.cumsum(shocks[keep]))


def _ohlc(rng: np.random.Generator, close: npt.NDArray[np.float64], wiggle: float,
          first_open: float | None) -> tuple[npt.NDArray[np.float64], ...]:
    open_ = np.concatenate(([close[0] if first_open is None else first_open], close[:-1]))
    high = np.maximum(open_, close) * (1 + np.abs(rng.standard_normal(close.shape)) * wiggle)
    low = np.minimum(open_, close) * (1 - np.abs(rng.standard_normal(close.shape)) * wiggle)
    rounded = tuple(np.maximum(np.round(a / TICK) * TICK, TICK) for a in (open_, high, low, close))
    o, h, lo, c = rounded
    # Rounding must not leave the open or close outside the bar's range.
    return o, np.maximum.reduce([h, o, c]), np.minimum.reduce([lo, o, c]), c


def _volume(rng: np.random.Generator, grid: _Grid, keep: npt.NDArray[np.bool_],
            daily: float) -> npt.NDArray[np.int64]:
    n = int(keep.sum())
    if daily <= 0:
        return np.zeros(n, dtype=np.int64)
    per_minute = daily / grid.session_minutes[keep] * grid.profile[keep]
    noise = rng.lognormal(mean=-0.125, sigma=0.5, size=n)
    return np.maximum(1, per_minute * noise).astype(np.int64)


def _oi_walk(rng: np.random.Generator, n: int, start: float, lot: int) -> npt.NDArray[np.float64]:
    shocks = rng.normal(0.0, OI_STEP, n).tolist()
    deviation = np.empty(n)
    level = 0.0
    for k, shock in enumerate(shocks):
        level = OI_PERSISTENCE * level + shock
        deviation[k] = level
    return np.maximum(np.round(start * np.exp(deviation) / lot) * lot, lot)


@dataclass(frozen=True)
class _LastBar:
    time_us: int
    close: float
    oi: float | None


def _last_bars(instrument_ids: list[int]) -> dict[int, _LastBar]:
    if not instrument_ids:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT i.id, (extract(epoch FROM b.time) * 1000000)::bigint, b.close::float8, b.oi
            FROM unnest(%s::bigint[]) AS i(id)
            CROSS JOIN LATERAL (
                SELECT time, close, oi FROM marketdata_bar WHERE instrument_id = i.id ORDER BY time DESC LIMIT 1
            ) AS b
            """,
            [instrument_ids],
        )
        return {row[0]: _LastBar(row[1], row[2], None if row[3] is None else float(row[3]))
                for row in cursor.fetchall()}


def _stored_closes(instrument_id: int, start_us: int, end_us: int) -> tuple[npt.NDArray[np.int64],
                                                                             npt.NDArray[np.float64]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (extract(epoch FROM time) * 1000000)::bigint, close::float8 FROM marketdata_bar"
            " WHERE instrument_id = %s AND time >= %s AND time <= %s ORDER BY time",
            [instrument_id, _dt(start_us), _dt(end_us)],
        )
        rows = cursor.fetchall()
    return (np.array([r[0] for r in rows], dtype=np.int64), np.array([r[1] for r in rows], dtype=np.float64))


def _dt(us: int) -> datetime:
    return datetime.fromtimestamp(us / 1_000_000, tz=UTC)


def _batch(instrument_id: int, times: npt.NDArray[np.int64], ohlc: tuple[npt.NDArray[np.float64], ...],
           volume: npt.NDArray[np.int64], oi: npt.NDArray[np.float64] | None) -> BarBatch:
    n = times.shape[0]
    return BarBatch(
        instrument_id=np.full(n, instrument_id, dtype=np.int64),
        time_us=times,
        open=ohlc[0], high=ohlc[1], low=ohlc[2], close=ohlc[3],
        volume=volume,
        oi=oi if oi is not None else np.full(n, np.nan),
    )


def _forward_fill(times: npt.NDArray[np.int64], known_t: npt.NDArray[np.int64],
                  known_v: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """The latest known value at or before each time (the first known value before any)."""
    idx = np.clip(np.searchsorted(known_t, times, side="right") - 1, 0, known_t.shape[0] - 1)
    result: npt.NDArray[np.float64] = known_v[idx]
    return result


def _seed_market(market: DemoMarket, *, now: datetime, history_days: int, seed: int) -> int:
    today = market_date(now)
    until_us = int(now.timestamp() // 60) * US_PER_MINUTE  # complete minutes only
    grid = _grid(market, today - timedelta(days=history_days), today, until_us)
    # One stream of random numbers per market and run window: reproducible, independent of the other market.
    rng = np.random.default_rng([seed, sum(map(ord, market.calendar)), until_us // US_PER_MINUTE])

    underlier_ids = dict(
        Instrument.objects.filter(instrument_token__in=[u.token for u in market.underliers])
        .values_list("instrument_token", "pk")
    )
    last = _last_bars(list(underlier_ids.values()))
    paths: dict[int, tuple[npt.NDArray[np.bool_], npt.NDArray[np.float64], float | None]] = {}
    for u in market.underliers:
        previous = last.get(underlier_ids.get(u.token, -1))
        keep = grid.times > (previous.time_us if previous else -1)
        start = previous.close if previous else u.start_price
        paths[u.token] = (keep, _walk(rng, grid, keep, start, u.annual_vol, market),
                          previous.close if previous else None)
    index_keep, index_close, index_previous_close = paths[market.index.token]
    if index_close.size:
        spot = float(index_close[-1])
    elif index_previous_close is not None:
        spot = index_previous_close
    else:
        spot = market.index.start_price
    load_instruments(text=to_csv(market_rows(market, spot=spot, today=today)))

    ids = dict(
        Instrument.objects.filter(instrument_token__in=[u.token for u in market.underliers])
        .values_list("instrument_token", "pk")
    )
    batches: list[BarBatch] = []
    for u in market.underliers:
        keep, close, first_open = paths[u.token]
        if not close.size:
            continue
        wiggle = INDEX_WIGGLE if u.is_index else STOCK_WIGGLE
        batches.append(_batch(ids[u.token], grid.times[keep], _ohlc(rng, close, wiggle, first_open),
                              _volume(rng, grid, keep, u.daily_volume), None))

    # The index at every grid minute: stored bars up to its last bar, the new path after it.
    index_id = ids[market.index.token]
    if grid.times.size:
        stored_t, stored_c = _stored_closes(index_id, int(grid.times[0]), int(grid.times[-1]))
        known_t = np.concatenate([stored_t, grid.times[index_keep]])
        known_c = np.concatenate([stored_c, index_close])
        order = np.argsort(known_t, kind="stable")
        known_t, known_c = known_t[order], known_c[order]
        spot_at = _forward_fill(grid.times, known_t, known_c) if known_t.size else np.full(
            grid.times.shape[0], spot)
        batches.extend(_derivative_batches(rng, market, grid, spot_at, spot=spot, today=today))

    if not batches:
        return 0
    merged = BarBatch(*(np.concatenate([getattr(b, f) for b in batches]) for f in BarBatch.__dataclass_fields__))
    written = bars_upsert(batch=merged) if len(merged) else 0
    logger.info("demo history generated", extra={"market": market.calendar, "bars": written})
    return written


def _continued_oi(previous: _LastBar | None, default: float) -> float:
    """Open interest continues from the last bar, unless that is an artefact of old demo data (whose
    random walk ran away by orders of magnitude)."""
    if previous is None or not previous.oi or previous.oi > OI_SANITY_FACTOR * default:
        return default
    return previous.oi


def _derivative_batches(rng: np.random.Generator, market: DemoMarket, grid: _Grid,
                        spot_at: npt.NDArray[np.float64], *, spot: float, today: date) -> list[BarBatch]:
    spec = market.derivatives
    contracts = list(
        Instrument.objects.filter(
            underlying=spec.underlying, exchange=spec.exchange, expiry__gte=today,
            instrument_type__in=[InstrumentType.FUT, InstrumentType.CE, InstrumentType.PE],
        ).order_by("instrument_token")
    )
    last = _last_bars([c.pk for c in contracts])
    times_ms = grid.times // 1000
    session_starts = np.flatnonzero(grid.first)
    option_from_us = (
        int(grid.times[session_starts[-market.option_history_sessions]])
        if session_starts.size >= market.option_history_sessions else int(grid.times[0])
    ) if grid.times.size else 0
    batches: list[BarBatch] = []
    for contract in contracts:
        assert contract.expiry is not None
        previous = last.get(contract.pk)
        keep = (grid.times > (previous.time_us if previous else -1)) & (times_ms < expiry_ms(contract.expiry))
        if contract.instrument_type != InstrumentType.FUT:
            keep &= grid.times >= option_from_us
        if not keep.any():
            continue
        t = years_between(times_ms[keep], expiry_ms(contract.expiry))
        lot = contract.lot_size
        first_open = previous.close if previous else None
        if contract.instrument_type == InstrumentType.FUT:
            close = futures_fair(spot_at[keep], t) * (1 + rng.normal(0, FUTURES_BASIS_NOISE, t.shape))
            oi_start = _continued_oi(previous, spec.future_oi)
            batches.append(_batch(contract.pk, grid.times[keep], _ohlc(rng, close, INDEX_WIGGLE, first_open),
                                  _volume(rng, grid, keep, spec.future_daily_volume),
                                  _oi_walk(rng, t.shape[0], oi_start, lot)))
            continue
        assert contract.strike is not None
        strike = float(contract.strike)
        price = option_fair(spot=spot_at[keep], strike=strike, t_years=t,
                            is_call=contract.instrument_type == InstrumentType.CE)
        distance = abs(strike - spot) / spec.strike_step
        oi_default = spec.option_atm_oi * np.exp(-distance / OPTION_OI_DISTANCE_SCALE)
        oi_start = _continued_oi(previous, oi_default)
        batches.append(_batch(contract.pk, grid.times[keep], _ohlc(rng, price, OPTION_WIGGLE, first_open),
                              _volume(rng, grid, keep, oi_default * OPTION_VOLUME_TO_OI),
                              _oi_walk(rng, t.shape[0], oi_start, lot)))
    return batches


def seed_demo_market(
    *, now: datetime | None = None, history_days: int = HISTORY_DAYS, sim_history_days: int = SIM_HISTORY_DAYS,
    seed: int = SEED,
) -> int:
    """Load the demo instruments of both markets and fill their history up to the last complete minute.

    Idempotent: bars are generated only after each instrument's last stored bar. Returns bars written.
    """
    now = now or timezone.now()
    _rekey_legacy_tokens()
    written = _seed_market(NSE_MARKET, now=now, history_days=history_days, seed=seed)
    written += _seed_market(SIM_MARKET, now=now, history_days=sim_history_days, seed=seed)
    return written


def refresh_demo_instruments(*, now: datetime, spots: Mapping[int, float]) -> int:
    """List the demo contracts current at `now` (new expiries, strikes around `spots`); returns rows
    created or updated. The simulator calls this when the date changes, as a broker relists daily."""
    report = load_instruments(text=to_csv(instrument_rows(spots=spots, today=market_date(now))))
    return report.created + report.updated

