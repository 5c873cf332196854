"""A strategy's payoff: P&L over a range of underlying prices at expiry and today (T+0), breakevens,
max profit and loss, and net greeks — with the options app's pricing (Black-76 on the forward,
F = S·e^{rT}; T on the 365-day calendar basis to 15:30 IST on the expiry date).

* All open legs must be on one underlying (futures and options by their `underlying`, a stock or
  index leg by itself); closed legs add their realised P&L as a constant.
* "At expiry" is the nearest expiry among the open derivative legs. A leg expiring later is still
  worth its Black-76 value then (calendar spreads); a leg expiring then is worth its intrinsic value.
* Each option leg is priced with its implied volatility, solved from its last mark at the current
  spot; when none can be solved (no mark, price below intrinsic …) the default volatility is used
  and the leg is reported with `iv: null`.
* Max profit and loss are taken over every price from 0 to infinity, not only the chart's range: the
  payoff is piecewise linear between strikes, so its extremes sit at a strike, at 0 or at infinity.
  As S → ∞ the P&L changes at the rate Σ side x units over calls, futures and stock legs; a
  positive rate makes the profit unbounded, a negative one the loss.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import numpy as np
import numpy.typing as npt

from marketdata.last_prices import read_last_prices
from marketdata.models import Instrument, InstrumentType
from options.iv import implied_vol_bs
from options.pricing import CALENDAR_BASIS_DAYS, black76_price, bs_greeks, time_to_expiry
from strategies.conf import payoff_default_volatility, payoff_rate
from strategies.models import InstrumentMark, LegSide, Strategy, StrategyInstrument
from tradeviz.errors import DataUnavailable, InvalidInput

FloatArray = npt.NDArray[np.float64]

DEFAULT_POINTS = 201
MAX_POINTS = 2001
DEFAULT_RANGE = 0.10  # ± 10 % around spot
MAX_RANGE = 0.9
NEAR_ZERO_PRICE = 1e-9  # "S = 0" for pricing, which needs a positive forward
SPOT_TYPES = (InstrumentType.INDEX, InstrumentType.EQ)
OPTION_TYPES = (InstrumentType.CE, InstrumentType.PE)


@dataclass(frozen=True)
class PayoffRequest:
    spot: float | None = None
    lower: float | None = None
    upper: float | None = None
    points: int = DEFAULT_POINTS


@dataclass(frozen=True)
class _Leg:
    id: int
    kind: str  # INDEX, EQ, FUT, CE, PE
    sign: float
    quantity: float
    entry: float
    strike: float
    expiry: date | None
    mark: float | None


def _underlying_of(instrument: Instrument) -> str:
    return instrument.underlying or instrument.tradingsymbol


def _live_prices(instruments: list[Instrument]) -> dict[int, float]:
    try:
        quotes = read_last_prices([i.instrument_token for i in instruments])
    except Exception:
        quotes = {}
    prices = {}
    for instrument in instruments:
        ltp = (quotes.get(instrument.instrument_token) or {}).get("ltp")
        if isinstance(ltp, int | float) and not isinstance(ltp, bool) and ltp > 0:
            prices[instrument.pk] = float(ltp)
    marks = InstrumentMark.objects.filter(instrument_id__in=[i.pk for i in instruments if i.pk not in prices])
    prices.update({m.instrument_id: float(m.price) for m in marks})
    return prices


def _spot_instrument(underlying: str, legs: list[StrategyInstrument]) -> Instrument | None:
    for leg in legs:
        if leg.instrument.instrument_type in SPOT_TYPES:
            return leg.instrument
    return (
        Instrument.objects.filter(underlying=underlying, instrument_type__in=SPOT_TYPES, is_active=True)
        .order_by("instrument_type", "exchange")  # INDEX before EQ; NSE before BSE
        .first()
    )


def _leg_values(legs: list[_Leg], s: FloatArray, *, now: datetime, horizon: float, sigma: FloatArray,
                rate: float) -> FloatArray:
    """Σ side x units x (value - entry) over legs, for each underlying price in `s`, `horizon` years on."""
    total = np.zeros_like(s)
    for k, leg in enumerate(legs):
        t = max(time_to_expiry(now, leg.expiry) - horizon, 0.0) if leg.expiry else 0.0
        if leg.kind in OPTION_TYPES:
            if t <= 0:
                value = np.maximum((s - leg.strike) if leg.kind == InstrumentType.CE else (leg.strike - s), 0.0)
            else:
                value = black76_price(s * np.exp(rate * t), leg.strike, t, sigma[k], rate, leg.kind)
        elif leg.kind == InstrumentType.FUT:
            value = s * np.exp(rate * t)
        else:
            value = s
        total += leg.sign * leg.quantity * (value - leg.entry)
    return total


def _breakevens(prices: FloatArray, pnl: FloatArray) -> list[float]:
    """Prices where the curve crosses or touches zero (linear between grid points; strikes are on it)."""
    found: list[float] = []
    if not np.any(pnl):
        return found
    for k in range(len(prices) - 1):
        a, b = pnl[k], pnl[k + 1]
        if a == 0 and (not found or found[-1] != prices[k]):
            found.append(float(prices[k]))
        elif a * b < 0:
            found.append(float(prices[k] + (prices[k + 1] - prices[k]) * a / (a - b)))
    if len(pnl) and pnl[-1] == 0 and (not found or found[-1] != prices[-1]):
        found.append(float(prices[-1]))
    return [round(x, 2) for x in found]


def payoff(*, strategy: Strategy, request: PayoffRequest, now: datetime) -> dict[str, Any]:
    """The payoff answer (module docstring); InvalidInput / DataUnavailable when it cannot be drawn."""
    if not 2 <= request.points <= MAX_POINTS:
        raise InvalidInput(f"points must be 2..{MAX_POINTS}", details={"points": [str(request.points)]})
    all_legs = list(strategy.legs.select_related("instrument").order_by("id"))
    realised = float(
        sum(((lg.exit_price - lg.entry_price) * lg.quantity * (1 if lg.side == LegSide.BUY else -1)
             for lg in all_legs if lg.exit_price is not None), Decimal(0))
    )
    open_legs = [lg for lg in all_legs if lg.exit_price is None]
    underlyings = {_underlying_of(lg.instrument) for lg in open_legs}
    if len(underlyings) > 1:
        raise InvalidInput(
            "A payoff needs all open legs on one underlying.", details={"underlying": sorted(underlyings)[:10]}
        )
    rate = payoff_rate()
    underlying = next(iter(underlyings), "")
    spot_instrument = _spot_instrument(underlying, open_legs) if underlying else None
    prices = _live_prices([lg.instrument for lg in open_legs] + ([spot_instrument] if spot_instrument else []))

    spot, spot_source = request.spot, "request"
    if spot is None and spot_instrument is not None and spot_instrument.pk in prices:
        spot, spot_source = prices[spot_instrument.pk], "last_price"
    if spot is None:
        # No spot quote: back it out of a futures leg's price (F = S·e^{rT}).
        for lg in open_legs:
            if lg.instrument.instrument_type == InstrumentType.FUT and lg.instrument_id in prices and lg.instrument.expiry:
                t = time_to_expiry(now, lg.instrument.expiry)
                spot, spot_source = prices[lg.instrument_id] * np.exp(-rate * t), "futures"
                break
    if spot is None and open_legs:
        raise DataUnavailable(f"No price for {underlying or 'the underlying'}; pass ?spot=.")
    if spot is not None and not (spot > 0 and np.isfinite(spot)):
        raise InvalidInput("spot must be a positive number", details={"spot": [str(spot)]})

    legs = [
        _Leg(
            id=lg.pk,
            kind=lg.instrument.instrument_type,
            sign=1.0 if lg.side == LegSide.BUY else -1.0,
            quantity=float(lg.quantity),
            entry=float(lg.entry_price),
            strike=float(lg.instrument.strike or 0),
            expiry=lg.instrument.expiry if lg.instrument.instrument_type not in SPOT_TYPES else None,
            mark=prices.get(lg.instrument_id),
        )
        for lg in open_legs
    ]
    spot_value = float(spot) if spot is not None else 0.0

    # Implied volatility of each option leg from its mark at the current spot.
    sigma = np.full(len(legs), payoff_default_volatility())
    ivs: list[float | None] = [None] * len(legs)
    for k, leg in enumerate(legs):
        if leg.kind in OPTION_TYPES and leg.expiry and leg.mark and spot_value > 0:
            t = time_to_expiry(now, leg.expiry)
            iv = float(implied_vol_bs(leg.mark, spot_value, leg.strike, t, rate, leg.kind).iv)
            if np.isfinite(iv):
                sigma[k], ivs[k] = iv, round(iv, 6)

    expiries = [leg.expiry for leg in legs if leg.expiry is not None]
    nearest = min(expiries) if expiries else None
    horizon = time_to_expiry(now, nearest) if nearest else 0.0

    width = DEFAULT_RANGE
    lower = request.lower if request.lower is not None else spot_value * (1 - width)
    upper = request.upper if request.upper is not None else spot_value * (1 + width)
    if not legs:
        lower, upper = lower or 0.0, upper or 1.0
    if not (0 < lower < upper and np.isfinite(upper)):
        raise InvalidInput("need 0 < lower < upper", details={"lower": [str(lower)], "upper": [str(upper)]})
    strikes = sorted({leg.strike for leg in legs if leg.kind in OPTION_TYPES})
    grid = np.unique(np.concatenate([np.linspace(lower, upper, request.points),
                                     [k for k in strikes if lower < k < upper]]))

    at_expiry = _leg_values(legs, grid, now=now, horizon=horizon, sigma=sigma, rate=rate) + realised
    today = _leg_values(legs, grid, now=now, horizon=0.0, sigma=sigma, rate=rate) + realised

    # Extremes over [0, ∞): candidates are the strikes, ~0 and the chart range; infinity by slope.
    candidates = np.unique(np.concatenate([[NEAR_ZERO_PRICE], strikes, grid]))
    values = _leg_values(legs, candidates, now=now, horizon=horizon, sigma=sigma, rate=rate) + realised
    slope_up = sum(leg.sign * leg.quantity for leg in legs if leg.kind != InstrumentType.PE)
    profit_unbounded = slope_up > 0
    loss_unbounded = slope_up < 0

    greeks = {"delta": 0.0, "gamma": 0.0, "theta": 0.0, "vega": 0.0}
    for k, leg in enumerate(legs):
        units = leg.sign * leg.quantity
        t = time_to_expiry(now, leg.expiry) if leg.expiry else 0.0
        if leg.kind in OPTION_TYPES:
            g = bs_greeks(spot_value, leg.strike, t, sigma[k], rate, leg.kind)
            greeks["delta"] += units * float(g.delta)
            greeks["gamma"] += units * float(g.gamma)
            greeks["theta"] += units * float(g.theta)
            greeks["vega"] += units * float(g.vega)
        elif leg.kind == InstrumentType.FUT:
            carry = float(np.exp(rate * t))
            greeks["delta"] += units * carry
            greeks["theta"] += -units * rate * spot_value * carry / CALENDAR_BASIS_DAYS
        else:
            greeks["delta"] += units

    return {
        "strategy": strategy.pk,
        "underlying": underlying or None,
        "spot": round(spot_value, 4) if legs else None,
        "spot_source": spot_source if legs else None,
        "as_of": now.isoformat(),
        "expiry": nearest.isoformat() if nearest else None,
        "rate": rate,
        "prices": np.round(grid, 4).tolist(),
        "expiry_pnl": np.round(at_expiry, 2).tolist(),
        "t0_pnl": np.round(today, 2).tolist(),
        "breakevens": _breakevens(grid, at_expiry),
        "max_profit": None if profit_unbounded else round(float(values.max()), 2),
        "max_profit_unbounded": bool(profit_unbounded),
        "max_loss": None if loss_unbounded else round(float(values.min()), 2),
        "max_loss_unbounded": bool(loss_unbounded),
        "realised": round(realised, 2),
        "greeks": {name: round(value, 4) for name, value in greeks.items()},
        "legs": [{"id": leg.id, "iv": ivs[k], "volatility": round(float(sigma[k]), 6)} for k, leg in enumerate(legs)],
    }
