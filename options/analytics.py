"""One vectorised pass over a whole expiry: forward, T, IV and greeks, PCRs, max pain, ATM.

Pure numpy on `ChainInputs` (options.selectors.chain_inputs); no database. Conventions are those
of DOMAIN.md and `options.pricing` / `options.iv`:

* Forward: the same-expiry futures price; else the synthetic forward from the ATM pair,
  F = K + e^{rT}(C - P) on the prices IV is solved from; else Black-Scholes on spot (the forward
  S·e^{rT}, and spot greeks); else nothing is priced. `forward_source` records which.
* T: years to 15:30 IST on the effective expiry date, on the configured day-count basis.
* Per contract: the premium is the sane bid/ask mid, else the LTP (`select_price`); IV and greeks
  are NaN with a reason code where they cannot be defined (`options.iv`, plus `not_listed` and
  `no_forward` from here).
* PCRs and max pain use every listed strike of the expiry; OI and volume that are unknown count as 0.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from options.chains import MISSING, Chain
from options.expiry_metrics import ExpiryMetrics, expiry_metrics
from options.iv import REASON_EXPIRED, chain_analytics, implied_vol_bs, select_price
from options.models import ForwardSource
from options.pricing import Greeks, atm_strike, bs_greeks, synthetic_forward, time_to_expiry
from options.selectors.chain_inputs import ChainInputs, SideInputs

FloatArray = npt.NDArray[np.float64]
ObjectArray = npt.NDArray[np.object_]

REASON_NOT_LISTED = "not_listed"
REASON_NO_FORWARD = "no_forward"
GREEKS_FORWARD = "forward"
GREEKS_SPOT = "spot"


@dataclass
class SideResult:
    """One side of the chain after analytics; arrays aligned with the chain's strikes."""

    listed: npt.NDArray[np.bool_]
    ltp: FloatArray
    bid: FloatArray
    ask: FloatArray
    price: FloatArray  # the premium IV was solved from
    price_source: npt.NDArray[np.str_]  # mid | ltp | none
    iv: FloatArray
    iv_reason: ObjectArray  # None where solved
    delta: FloatArray
    gamma: FloatArray
    theta: FloatArray
    vega: FloatArray
    oi: FloatArray
    oi_change: FloatArray
    volume: FloatArray
    minute_volume: FloatArray


@dataclass
class ChainSnapshot:
    chain: Chain
    as_of: datetime
    minute: datetime
    rate: float
    basis_days: int
    t_years: float
    spot: float
    spot_prev_close: float
    futures_price: float
    synthetic_forward: float
    forward: float
    forward_source: str
    greeks_basis: str
    atm_index: int | None
    atm_iv: float
    straddle: float
    metrics: ExpiryMetrics
    ce: SideResult
    pe: SideResult
    live: bool

    @property
    def atm_strike(self) -> float | None:
        return None if self.atm_index is None else float(self.chain.strikes[self.atm_index])


def _positive(value: float) -> float:
    return value if math.isfinite(value) and value > 0 else math.nan


def choose_forward(
    *, futures: float, synthetic: float, spot: float, rate: float, t_years: float
) -> tuple[float, str]:
    """(forward, source) by precedence futures → synthetic → spot·e^{rT} → none (NaN)."""
    if not math.isnan(_positive(futures)):
        return futures, ForwardSource.FUTURES.value
    if not math.isnan(_positive(synthetic)):
        return synthetic, ForwardSource.SYNTHETIC.value
    if not math.isnan(_positive(spot)):
        return spot * math.exp(rate * max(t_years, 0.0)), ForwardSource.SPOT.value
    return math.nan, ForwardSource.NONE.value


def _no_greeks(n: int) -> Greeks:
    nan = np.full(n, np.nan)
    return Greeks(nan, nan, nan, nan, nan, nan)


def _side(
    inputs: SideInputs,
    listed: npt.NDArray[np.bool_],
    price: FloatArray,
    source: npt.NDArray[np.str_],
    iv: FloatArray,
    reason: ObjectArray,
    greeks: Greeks,
) -> SideResult:
    oi_change = inputs.oi_change
    return SideResult(
        listed=listed,
        ltp=inputs.ltp,
        bid=inputs.bid,
        ask=inputs.ask,
        price=price,
        price_source=source,
        iv=iv,
        iv_reason=reason,
        delta=greeks.delta,
        gamma=greeks.gamma,
        theta=greeks.theta,
        vega=greeks.vega,
        oi=inputs.oi,
        oi_change=oi_change,
        volume=np.where(listed, inputs.volume, np.nan),
        minute_volume=np.where(listed, inputs.minute_volume, np.nan),
    )


def analyse_chain(
    inputs: ChainInputs,
    *,
    as_of: datetime,
    rate: float,
    basis_days: int,
    holidays: Collection[date] = (),
    max_spread_frac: float,
) -> ChainSnapshot:
    """Analytics of one chain as of `as_of` (aware): see the module docstring."""
    chain = inputs.chain
    n = chain.size
    t = time_to_expiry(as_of, chain.effective_expiry, basis_days=basis_days, holidays=holidays)
    strikes = chain.strikes
    ce_listed, pe_listed = chain.ce_id != MISSING, chain.pe_id != MISSING
    ce_sel = select_price(inputs.ce.bid, inputs.ce.ask, inputs.ce.ltp, max_spread_frac=max_spread_frac)
    pe_sel = select_price(inputs.pe.bid, inputs.pe.ask, inputs.pe.ltp, max_spread_frac=max_spread_frac)
    synthetic = synthetic_forward(strikes, ce_sel.price, pe_sel.price, rate, t) if n else None
    synthetic_value = math.nan if synthetic is None else synthetic
    spot = _positive(inputs.spot)
    forward, source = choose_forward(
        futures=inputs.futures, synthetic=synthetic_value, spot=spot, rate=rate, t_years=t
    )

    price = np.concatenate([ce_sel.price, pe_sel.price])
    strike2 = np.concatenate([strikes, strikes])
    kind = np.concatenate([np.ones(n), -np.ones(n)])
    greeks_basis = GREEKS_SPOT if source == ForwardSource.SPOT else GREEKS_FORWARD
    if source in (ForwardSource.FUTURES, ForwardSource.SYNTHETIC):
        result = chain_analytics(
            price, forward, strike2, t, rate, kind, tick=chain.tick, days_per_year=basis_days
        )
        iv, reason, greeks = result.iv.iv, result.iv.reason, result.greeks
    elif source == ForwardSource.SPOT:
        solved = implied_vol_bs(price, spot, strike2, t, rate, kind, tick=chain.tick)
        iv, reason = solved.iv, solved.reason
        greeks = bs_greeks(spot, strike2, t, iv, rate, kind, days_per_year=basis_days)
    else:
        iv = np.full(2 * n, np.nan)
        reason = np.full(2 * n, REASON_EXPIRED if t <= 0 else REASON_NO_FORWARD, dtype=object)
        greeks = _no_greeks(2 * n)
    listed = np.concatenate([ce_listed, pe_listed])
    reason = np.where(listed, reason, REASON_NOT_LISTED)

    def half(values: npt.NDArray[Any], first: bool) -> npt.NDArray[Any]:
        return values[:n] if first else values[n:]

    sides = []
    for first, side_inputs, side_listed, sel in (
        (True, inputs.ce, ce_listed, ce_sel),
        (False, inputs.pe, pe_listed, pe_sel),
    ):
        side_greeks = Greeks(*(half(getattr(greeks, f), first) for f in Greeks.__dataclass_fields__))
        sides.append(
            _side(
                side_inputs,
                side_listed,
                sel.price,
                sel.source,
                half(iv, first),
                half(reason, first),
                side_greeks,
            )
        )
    ce, pe = sides

    atm = atm_strike(strikes, forward) if n else None
    atm_index = None if atm is None else int(np.searchsorted(strikes, atm))
    atm_iv = straddle = math.nan
    if atm_index is not None:
        pair_iv = np.array([ce.iv[atm_index], pe.iv[atm_index]])
        if np.any(np.isfinite(pair_iv)):
            atm_iv = float(np.nanmean(pair_iv))
        straddle = float(ce.price[atm_index] + pe.price[atm_index])  # NaN unless both are priced
    metrics = expiry_metrics(
        strikes=strikes,
        ce_oi=ce.oi,
        pe_oi=pe.oi,
        ce_volume=ce.volume,
        pe_volume=pe.volume,
        ce_oi_change=ce.oi_change,
        pe_oi_change=pe.oi_change,
    )
    return ChainSnapshot(
        chain=chain,
        as_of=as_of,
        minute=inputs.minute,
        rate=rate,
        basis_days=basis_days,
        t_years=t,
        spot=spot,
        spot_prev_close=_positive(inputs.spot_prev_close),
        futures_price=_positive(inputs.futures),
        synthetic_forward=synthetic_value,
        forward=forward,
        forward_source=source,
        greeks_basis=greeks_basis,
        atm_index=atm_index,
        atm_iv=atm_iv,
        straddle=straddle,
        metrics=metrics,
        ce=ce,
        pe=pe,
        live=inputs.quotes == "full",
    )


def total(values: FloatArray) -> int | None:
    """Σ of the known values as an int; None when none is known."""
    known = values[np.isfinite(values)]
    return round(float(known.sum())) if known.size else None
