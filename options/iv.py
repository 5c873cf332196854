"""Implied volatility over a whole option chain, and the price that goes into it.

Conventions (docs: /work/shared/DOMAIN.md, "Options pricing conventions"):

* Model: Black-76 on the forward (:func:`implied_vol_black76`); Black-Scholes on spot is the
  fallback (:func:`implied_vol_bs`, which solves Black-76 on F = S·e^{rT}). Prices are discounted
  market premiums in rupees, ``t`` in years, ``r`` a decimal, IV returned as a decimal (0.15).
* A contract whose IV cannot be defined gets ``iv = NaN`` (never 0) and a reason code in
  ``IVResult.reason`` (None where the IV was solved). The API edge turns NaN into JSON null and
  passes the reason through. Checks run in this order and the first failing one is reported:
  ``invalid_input`` (forward/strike not finite and > 0, or rate not finite), ``expired`` (T ≤ 0),
  ``no_price`` (price missing or ≤ 0), ``below_intrinsic`` (price < e^{-rT}·max(θ(F-K), 0)),
  ``above_upper_bound`` (call ≥ e^{-rT}·F, put ≥ e^{-rT}·K: no finite volatility fits),
  ``time_value_below_tick`` (price - discounted intrinsic < one tick: IV would be noise),
  ``out_of_bracket`` (the IV lies outside [MIN_VOL, MAX_VOL]), ``no_convergence``.
* Solver: the maintained ``lets_be_rational`` package (Jaeckel's algorithm, ``py_lets_be_rational``)
  is scalar pure Python: a loop over a 500-contract chain takes ~7 ms for the IVs alone, over the
  5 ms budget for IV + greeks, against ~2 ms here. So we run a vectorised,
  bracket-safeguarded Newton iteration from the Brenner-Subrahmanyam seed, falling back to
  bisection whenever a Newton step leaves the bracket [MIN_VOL, MAX_VOL]. It works on the
  out-of-the-money time value (equal for the call and the put by parity), so deep in-the-money
  prices lose no digits to the intrinsic value. Converged when the undiscounted model time value is
  within PRICE_TOLERANCE (1e-10 rupees, widened only by the rounding floor of F + K) of the target.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from options.pricing import (
    CALENDAR_BASIS_DAYS,
    CALL,
    PUT,
    FloatArray,
    Greeks,
    black76_greeks,
    d1_d2,
    kind_sign,
    norm_cdf,
    norm_pdf,
)

ArrayLike = npt.ArrayLike
ObjectArray = npt.NDArray[np.object_]

# NSE option premiums move in 0.05 rupee ticks.
DEFAULT_TICK = 0.05
MIN_VOL = 1e-4
MAX_VOL = 5.0
PRICE_TOLERANCE = 1e-10
RELATIVE_TOLERANCE = 1e-12
# The model price of F and K near 1e5 cannot be resolved better than a few ulps of F + K.
ROUNDING_ULPS = 8.0
MAX_ITERATIONS = 100
# Stop once Newton's correction is below this fraction of sigma: double precision can do no better.
STEP_TOLERANCE = 4.0 * np.finfo(np.float64).eps
# A bid/ask mid is trusted only while (ask - bid) ≤ this fraction of the mid; wider books are
# usually stale or one-off quotes, and the last traded price is the better estimate.
DEFAULT_MAX_SPREAD_FRAC = 0.25

REASON_INVALID_INPUT = "invalid_input"
REASON_EXPIRED = "expired"
REASON_NO_PRICE = "no_price"
REASON_BELOW_INTRINSIC = "below_intrinsic"
REASON_ABOVE_UPPER_BOUND = "above_upper_bound"
REASON_TIME_VALUE_BELOW_TICK = "time_value_below_tick"
REASON_OUT_OF_BRACKET = "out_of_bracket"
REASON_NO_CONVERGENCE = "no_convergence"
REASONS = (
    REASON_INVALID_INPUT,
    REASON_EXPIRED,
    REASON_NO_PRICE,
    REASON_BELOW_INTRINSIC,
    REASON_ABOVE_UPPER_BOUND,
    REASON_TIME_VALUE_BELOW_TICK,
    REASON_OUT_OF_BRACKET,
    REASON_NO_CONVERGENCE,
)

SOURCE_MID = "mid"
SOURCE_LTP = "ltp"
SOURCE_NONE = "none"


@dataclass(frozen=True)
class IVResult:
    """``iv``: decimal volatility, NaN where unsolved; ``reason``: None where solved, else a code."""

    iv: FloatArray
    reason: ObjectArray


class SelectedPrice(NamedTuple):
    """The premium to solve IV from (NaN when none) and where it came from: "mid", "ltp" or "none"."""

    price: FloatArray
    source: npt.NDArray[np.str_]


@dataclass(frozen=True)
class ChainAnalytics:
    """IV per contract and the Black-76 greeks at that IV (all NaN where the IV is null)."""

    iv: IVResult
    greeks: Greeks


def select_price(
    bid: ArrayLike, ask: ArrayLike, ltp: ArrayLike, *, max_spread_frac: float = DEFAULT_MAX_SPREAD_FRAC
) -> SelectedPrice:
    """The bid/ask mid when both sides are quoted (> 0), not crossed (ask ≥ bid) and the spread is
    sane ((ask - bid) ≤ ``max_spread_frac``·mid); otherwise the last traded price when it is > 0;
    otherwise NaN with source "none". Elementwise over broadcast arrays; NaN means missing.
    """
    b, a, last = (np.asarray(v, dtype=np.float64) for v in np.broadcast_arrays(bid, ask, ltp))
    with np.errstate(invalid="ignore"):
        mid = 0.5 * (b + a)
        use_mid = (b > 0) & (a > 0) & (a >= b) & ((a - b) <= max_spread_frac * mid)
        use_ltp = ~use_mid & (last > 0)
    price: FloatArray = np.where(use_mid, mid, np.where(use_ltp, last, np.nan))
    source = np.where(use_mid, SOURCE_MID, np.where(use_ltp, SOURCE_LTP, SOURCE_NONE))
    return SelectedPrice(price, source)


def _time_value_and_vega(
    forward: FloatArray, strike: FloatArray, sqrt_t: FloatArray, sigma: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Undiscounted OTM time value and its derivative in sigma (F·φ(d1)·√T), for the solver loop."""
    total_vol = sigma * sqrt_t
    d1, d2 = d1_d2(forward, strike, total_vol)
    psi = np.where(forward > strike, PUT, CALL)
    n = d1.size
    # One CDF pass over both arguments halves the dominant cost of an iteration.
    cdf = norm_cdf(np.concatenate([psi * d1, psi * d2]))
    value = psi * (forward * cdf[:n] - strike * cdf[n:])
    vega = forward * norm_pdf(d1) * sqrt_t
    return np.maximum(value, 0.0), vega


def _solve(
    forward: FloatArray, strike: FloatArray, t: FloatArray, target: FloatArray, *, tol: float, max_iter: int
) -> tuple[FloatArray, npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """Solve time_value(sigma) = target for 1-d arrays; returns (sigma, converged, out_of_bracket)."""
    sqrt_t = np.sqrt(t)
    # The absolute tolerance, tightened for tiny targets so that a 0.06 premium is still solved to
    # ~1e-12 relative, but never below what double precision can resolve at this F and K.
    tolerance = np.maximum(
        np.minimum(tol, RELATIVE_TOLERANCE * target),
        ROUNDING_ULPS * np.finfo(np.float64).eps * (forward + strike),
    )
    lo = np.full_like(target, MIN_VOL)
    hi = np.full_like(target, MAX_VOL)
    value_lo, _ = _time_value_and_vega(forward, strike, sqrt_t, lo)
    value_hi, _ = _time_value_and_vega(forward, strike, sqrt_t, hi)
    sigma = np.full_like(target, np.nan)
    converged = np.zeros(target.shape, dtype=bool)
    at_lo = np.abs(value_lo - target) <= tolerance
    at_hi = ~at_lo & (np.abs(value_hi - target) <= tolerance)
    sigma[at_lo], sigma[at_hi] = MIN_VOL, MAX_VOL
    converged |= at_lo | at_hi
    outside = ~converged & ((value_lo > target) | (value_hi < target))

    # Brenner-Subrahmanyam: an ATM price is ≈ F·sigma√T/√(2π); applied to the time value it is a low but
    # safe seed for OTM strikes, and the bracket guards the rest.
    seed = np.clip(math.sqrt(2.0 * math.pi) * target / (forward * sqrt_t), MIN_VOL, MAX_VOL)
    idx = np.flatnonzero(~converged & ~outside)
    f, k, st, goal, tl = forward[idx], strike[idx], sqrt_t[idx], target[idx], tolerance[idx]
    s, a, b = seed[idx], lo[idx], hi[idx]
    for _ in range(max_iter):
        if idx.size == 0:
            break
        value, vega = _time_value_and_vega(f, k, st, s)
        diff = value - goal
        # Time value rises with sigma, so the sign of the miss tells which end of the bracket moves.
        b = np.where(diff > 0, s, b)
        a = np.where(diff < 0, s, a)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            newton = s - diff / vega
        inside = np.isfinite(newton) & (newton > a) & (newton < b)
        step = np.where(inside, newton, 0.5 * (a + b))
        done = (
            (np.abs(diff) <= tl)
            | (inside & (np.abs(newton - s) <= STEP_TOLERANCE * s))
            | ((b - a) <= STEP_TOLERANCE * s)
        )
        finished = idx[done]
        sigma[finished] = np.where(np.abs(diff[done]) <= tl[done], s[done], step[done])
        converged[finished] = True
        keep = ~done
        idx, f, k, st, goal, tl = idx[keep], f[keep], k[keep], st[keep], goal[keep], tl[keep]
        s, a, b = step[keep], a[keep], b[keep]
    return sigma, converged, outside


def implied_vol_black76(
    price: ArrayLike,
    forward: ArrayLike,
    strike: ArrayLike,
    t: ArrayLike,
    r: ArrayLike,
    kind: ArrayLike,
    *,
    tick: float = DEFAULT_TICK,
    tol: float = PRICE_TOLERANCE,
    max_iter: int = MAX_ITERATIONS,
) -> IVResult:
    """Black-76 implied volatility of discounted premiums ``price`` (rupees), vectorised over a chain.

    ``forward`` is the futures price or a synthetic forward, ``t`` years to expiry, ``r`` a decimal
    rate, ``kind`` bool/±1/"CE"/"PE". ``tick`` (rupees) is the minimum time value worth solving.
    See the module docstring for the reason codes.
    """
    arrays = np.broadcast_arrays(
        np.asarray(price, dtype=np.float64),
        np.asarray(forward, dtype=np.float64),
        np.asarray(strike, dtype=np.float64),
        np.asarray(t, dtype=np.float64),
        np.asarray(r, dtype=np.float64),
        kind_sign(kind),
    )
    shape = arrays[0].shape
    p, f, k, tt, rate, sign = (np.ravel(a) for a in arrays)
    reason = np.full(p.shape, None, dtype=object)
    pending = np.ones(p.shape, dtype=bool)

    def flag(mask: npt.NDArray[np.bool_], code: str) -> None:
        hit = pending & mask
        reason[hit] = code
        pending[hit] = False

    with np.errstate(invalid="ignore", over="ignore"):
        flag(~(np.isfinite(f) & np.isfinite(k) & (f > 0) & (k > 0) & np.isfinite(rate)), REASON_INVALID_INPUT)
        flag(~(tt > 0), REASON_EXPIRED)
        flag(~(np.isfinite(p) & (p > 0)), REASON_NO_PRICE)
        discount = np.exp(-rate * np.where(tt > 0, tt, 0.0))
        intrinsic = np.maximum(sign * (f - k), 0.0)
        flag(p < discount * intrinsic, REASON_BELOW_INTRINSIC)
        flag(p >= discount * np.where(sign > 0, f, k), REASON_ABOVE_UPPER_BOUND)
        time_value = p - discount * intrinsic
        flag((time_value < tick) | (time_value <= 0), REASON_TIME_VALUE_BELOW_TICK)

    iv = np.full(p.shape, np.nan)
    idx = np.flatnonzero(pending)
    if idx.size:
        target = time_value[idx] / discount[idx]
        sigma, converged, outside = _solve(f[idx], k[idx], tt[idx], target, tol=tol, max_iter=max_iter)
        iv[idx[converged]] = sigma[converged]
        reason[idx[outside]] = REASON_OUT_OF_BRACKET
        reason[idx[~converged & ~outside]] = REASON_NO_CONVERGENCE
    return IVResult(iv=iv.reshape(shape), reason=reason.reshape(shape))


def implied_vol_bs(
    price: ArrayLike,
    spot: ArrayLike,
    strike: ArrayLike,
    t: ArrayLike,
    r: ArrayLike,
    kind: ArrayLike,
    *,
    tick: float = DEFAULT_TICK,
    tol: float = PRICE_TOLERANCE,
    max_iter: int = MAX_ITERATIONS,
) -> IVResult:
    """Black-Scholes (spot, no dividends) implied volatility: Black-76 on F = S·e^{rT}."""
    s, tt, rate = (np.asarray(v, dtype=np.float64) for v in (spot, t, r))
    with np.errstate(invalid="ignore"):
        forward = s * np.exp(rate * np.where(tt > 0, tt, 0.0))
    return implied_vol_black76(price, forward, strike, tt, rate, kind, tick=tick, tol=tol, max_iter=max_iter)


def chain_analytics(
    price: ArrayLike,
    forward: ArrayLike,
    strike: ArrayLike,
    t: ArrayLike,
    r: ArrayLike,
    kind: ArrayLike,
    *,
    tick: float = DEFAULT_TICK,
    days_per_year: float = CALENDAR_BASIS_DAYS,
) -> ChainAnalytics:
    """IV and Black-76 greeks at that IV for a chain (greeks NaN where the IV is null).

    Greek units as in :mod:`options.pricing`: theta per day of ``days_per_year``, vega and rho per 1 %.
    """
    result = implied_vol_black76(price, forward, strike, t, r, kind, tick=tick)
    greeks = black76_greeks(forward, strike, t, result.iv, r, kind, days_per_year=days_per_year)
    return ChainAnalytics(iv=result, greeks=greeks)
