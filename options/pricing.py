"""Vectorised option pricing: Black-76 on the forward (primary) and Black-Scholes on spot (fallback).

Conventions (docs: /work/shared/DOMAIN.md, "Options pricing conventions"):

* Inputs broadcast like numpy ufuncs. Every price-like input is a float (rupees); volatility and rate
  are decimals per year (0.15 = 15 %, 0.065 = 6.5 % continuously compounded); ``t`` is the time to
  expiry in years on the chosen day-count basis (see :func:`time_to_expiry`).
* ``kind`` selects call or put per element: a boolean array (True = call), +1/-1 (call/put), or the
  strings "CE"/"PE" (also "C"/"P", "CALL"/"PUT", any case).
* Units of the outputs: price in rupees; delta per 1 point of the underlying; gamma per 1 point;
  theta per day of the basis (per calendar day on the default 365 basis); vega and rho per 1 %
  (0.01) move in volatility / rate.
* Black-76 delta and gamma are taken with respect to the *forward* and include the discount factor
  e^{-rT}; Black-76 theta and rho hold the forward fixed. Black-Scholes greeks are spot greeks
  (no dividends).
* Degenerate inputs have defined limits instead of NaN: ``t <= 0`` gives the intrinsic value, delta
  0/±1 (±0.5 exactly at the money), and zero gamma, vega, theta and rho; ``sigma == 0`` with
  ``t > 0`` gives the discounted deterministic payoff. NaN in any input propagates to NaN out
  (missing data stays missing); a non-positive forward/spot or strike, or a negative sigma, is NaN.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
from scipy import special

FloatArray = npt.NDArray[np.float64]
ArrayLike = npt.ArrayLike

IST = ZoneInfo("Asia/Kolkata")
# NSE F&O contracts expire at the close of the normal session on expiry day.
EXPIRY_CUTOFF_IST = time(15, 30)
SESSION_OPEN_IST = time(9, 15)
SESSION_SECONDS = (15 * 60 + 30 - (9 * 60 + 15)) * 60  # 09:15-15:30, 375 minutes
SECONDS_PER_DAY = 86_400
CALENDAR_BASIS_DAYS = 365
TRADING_BASIS_DAYS = 252
SUPPORTED_BASES = (CALENDAR_BASIS_DAYS, TRADING_BASIS_DAYS)

# Greeks are reported per 1 % move in volatility and in the rate.
PER_PERCENT = 0.01

CALL = 1.0
PUT = -1.0
_CALL_NAMES = frozenset({"CE", "C", "CALL"})
_PUT_NAMES = frozenset({"PE", "P", "PUT"})

_INV_SQRT_TWO_PI = 1.0 / math.sqrt(2.0 * math.pi)


# --------------------------------------------------------------------------------------------------
# Normal distribution: scipy's ndtr/erfc (Cephes) keep full *relative* accuracy far into the tail,
# which deep-OTM prices, short-dated greeks and the IV solver need (1 - erf(x) loses every digit).


def erfc(x: FloatArray) -> FloatArray:
    """Complementary error function, elementwise."""
    result: FloatArray = special.erfc(np.asarray(x, dtype=np.float64))
    return result


def norm_cdf(z: FloatArray) -> FloatArray:
    """Standard normal CDF, accurate in relative terms deep into the lower tail."""
    result: FloatArray = special.ndtr(np.asarray(z, dtype=np.float64))
    return result


def norm_pdf(z: FloatArray) -> FloatArray:
    """Standard normal density."""
    z = np.asarray(z, dtype=np.float64)
    result: FloatArray = _INV_SQRT_TWO_PI * np.exp(-0.5 * z * z)
    return result


# --------------------------------------------------------------------------------------------------
# Inputs


def kind_sign(kind: ArrayLike) -> FloatArray:
    """+1.0 for calls, -1.0 for puts, from a bool array (True = call), ±1 numbers or "CE"/"PE" strings.

    Raises ValueError for anything else, so a typo never silently prices a put as a call.
    """
    arr = np.asarray(kind)
    if arr.dtype == np.bool_:
        return np.where(arr, CALL, PUT)
    if arr.dtype.kind in "US" or arr.dtype == np.object_:
        upper = np.char.upper(np.char.strip(arr.astype(str)))
        is_call = np.isin(upper, list(_CALL_NAMES))
        is_put = np.isin(upper, list(_PUT_NAMES))
        if not np.all(is_call | is_put):
            raise ValueError(f"unknown option kind in {np.unique(upper[~(is_call | is_put)]).tolist()}")
        return np.where(is_call, CALL, PUT)
    numeric = arr.astype(np.float64)
    if not np.all((numeric == CALL) | (numeric == PUT)):
        raise ValueError("numeric option kind must be +1 (call) or -1 (put)")
    return numeric


def _as_float(*values: ArrayLike) -> list[FloatArray]:
    return [np.asarray(v, dtype=np.float64) for v in np.broadcast_arrays(*[np.asarray(v) for v in values])]


@dataclass(frozen=True)
class Greeks:
    """Prices and greeks, each an array of the broadcast input shape (units: module docstring)."""

    price: FloatArray
    delta: FloatArray
    gamma: FloatArray
    theta: FloatArray  # per day of the basis
    vega: FloatArray  # per 1 % volatility
    rho: FloatArray  # per 1 % rate


@dataclass(frozen=True)
class _Core:
    theta_sign: FloatArray
    forward: FloatArray
    strike: FloatArray
    t: FloatArray  # clipped at 0
    sigma: FloatArray
    r: FloatArray
    discount: FloatArray
    sqrt_t: FloatArray
    total_vol: FloatArray  # sigma * sqrt(t)
    d1: FloatArray
    d2: FloatArray
    undiscounted: FloatArray  # undiscounted Black price
    missing: npt.NDArray[np.bool_]  # some input is NaN or outside the model's domain


def d1_d2(forward: FloatArray, strike: FloatArray, total_vol: FloatArray) -> tuple[FloatArray, FloatArray]:
    """d1, d2 of Black's formula; at zero total volatility the limits ±inf (0 exactly at the money)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        x = np.log(forward / strike)
        d1 = x / total_vol + 0.5 * total_vol
        d2 = d1 - total_vol
    degenerate = total_vol == 0.0
    if np.any(degenerate):
        limit = np.where(x > 0, np.inf, np.where(x < 0, -np.inf, 0.0))
        d1 = np.where(degenerate, limit, d1)
        d2 = np.where(degenerate, limit, d2)
    return d1, d2


def otm_time_value(forward: FloatArray, strike: FloatArray, total_vol: FloatArray) -> FloatArray:
    """Undiscounted Black time value (price minus intrinsic), identical for the call and the put.

    Computed from the out-of-the-money option's formula, so that deep in-the-money prices are
    intrinsic + a small, accurately computed number rather than the difference of two large ones.
    """
    d1, d2 = d1_d2(forward, strike, total_vol)
    # The out-of-the-money side: call when F <= K, put when F > K.
    psi = np.where(forward > strike, PUT, CALL)
    value = psi * (forward * norm_cdf(psi * d1) - strike * norm_cdf(psi * d2))
    # Rounding can leave a -1e-17 where the true value underflows; time value is never negative.
    result: FloatArray = np.where(value < 0.0, 0.0, value)
    return result


def _core(
    forward: ArrayLike, strike: ArrayLike, t: ArrayLike, sigma: ArrayLike, r: ArrayLike, kind: ArrayLike
) -> _Core:
    f, k, tt, vol, rate, sign = _as_float(forward, strike, t, sigma, r, kind_sign(kind))
    # Missing data (NaN) and inputs outside the model's domain (F, K ≤ 0, sigma < 0) give NaN out.
    missing = ~(f > 0.0) | ~(k > 0.0) | np.isnan(tt) | ~(vol >= 0.0) | np.isnan(rate)
    tt = np.where(tt > 0.0, tt, 0.0)
    sqrt_t = np.sqrt(tt)
    total_vol = vol * sqrt_t
    discount = np.exp(-rate * tt)
    d1, d2 = d1_d2(f, k, total_vol)
    intrinsic = np.maximum(sign * (f - k), 0.0)
    undiscounted = otm_time_value(f, k, total_vol) + intrinsic
    return _Core(sign, f, k, tt, vol, rate, discount, sqrt_t, total_vol, d1, d2, undiscounted, missing)


def _decay_term(core: _Core, scale: FloatArray) -> FloatArray:
    """scale·φ(d1)·sigma/(2√T): the volatility part of theta; 0 at zero total volatility (no time value)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        term = scale * norm_pdf(core.d1) * core.sigma / (2.0 * core.sqrt_t)
    result: FloatArray = np.where(core.total_vol > 0.0, term, 0.0)
    return result


def _finish(
    core: _Core,
    price: FloatArray,
    delta: FloatArray,
    gamma: FloatArray,
    theta: FloatArray,
    vega: FloatArray,
    rho: FloatArray,
) -> Greeks:
    """Expired contracts carry no theta, vega or rho; any missing input makes every output NaN."""
    live = core.t > 0.0

    def clean(values: FloatArray, *, zero_when_expired: bool) -> FloatArray:
        if zero_when_expired:
            values = np.where(live, values, 0.0)
        result: FloatArray = np.where(core.missing, np.nan, values)
        return result

    return Greeks(
        price=clean(price, zero_when_expired=False),
        delta=clean(delta, zero_when_expired=False),
        gamma=clean(gamma, zero_when_expired=True),
        theta=clean(theta, zero_when_expired=True),
        vega=clean(vega, zero_when_expired=True),
        rho=clean(rho, zero_when_expired=True),
    )


def _check_basis(days_per_year: float) -> None:
    if days_per_year <= 0:
        raise ValueError("days_per_year must be positive")


# --------------------------------------------------------------------------------------------------
# Black-76


def black76_price(
    forward: ArrayLike, strike: ArrayLike, t: ArrayLike, sigma: ArrayLike, r: ArrayLike, kind: ArrayLike
) -> FloatArray:
    """Discounted Black-76 price e^{-rT}·[θ(F·N(θd1) - K·N(θd2))] in rupees (θ = +1 call, -1 put)."""
    core = _core(forward, strike, t, sigma, r, kind)
    result: FloatArray = np.where(core.missing, np.nan, core.discount * core.undiscounted)
    return result


def black76_greeks(
    forward: ArrayLike,
    strike: ArrayLike,
    t: ArrayLike,
    sigma: ArrayLike,
    r: ArrayLike,
    kind: ArrayLike,
    *,
    days_per_year: float = CALENDAR_BASIS_DAYS,
) -> Greeks:
    """Black-76 price and greeks; delta/gamma w.r.t. the forward (include e^{-rT}), F held fixed.

    delta = θ·e^{-rT}·N(θd1); gamma = e^{-rT}·φ(d1)/(F·sigma√T);
    theta = [-e^{-rT}·F·φ(d1)·sigma/(2√T) + r·V] / days_per_year (per day of the basis);
    vega = e^{-rT}·F·φ(d1)·√T / 100 (per 1 % vol); rho = -T·V / 100 (per 1 % rate).
    ``days_per_year`` must match the basis ``t`` was computed on.
    """
    _check_basis(days_per_year)
    c = _core(forward, strike, t, sigma, r, kind)
    price = c.discount * c.undiscounted
    delta = c.theta_sign * c.discount * norm_cdf(c.theta_sign * c.d1)
    with np.errstate(divide="ignore", invalid="ignore"):
        gamma = np.where(c.total_vol > 0.0, c.discount * norm_pdf(c.d1) / (c.forward * c.total_vol), 0.0)
    vega = c.discount * c.forward * norm_pdf(c.d1) * c.sqrt_t * PER_PERCENT
    theta_year = -_decay_term(c, c.discount * c.forward) + c.r * price
    rho = -c.t * price * PER_PERCENT
    return _finish(c, price, delta, gamma, theta_year / days_per_year, vega, rho)


# --------------------------------------------------------------------------------------------------
# Black-Scholes on spot (fallback when neither futures nor a synthetic forward are available)


def bs_price(
    spot: ArrayLike, strike: ArrayLike, t: ArrayLike, sigma: ArrayLike, r: ArrayLike, kind: ArrayLike
) -> FloatArray:
    """Black-Scholes price on spot, no dividends: Black-76 on the forward F = S·e^{rT}."""
    s, tt, rate = _as_float(spot, t, r)
    forward = s * np.exp(rate * np.maximum(tt, 0.0))
    return black76_price(forward, strike, tt, sigma, rate, kind)


def bs_greeks(
    spot: ArrayLike,
    strike: ArrayLike,
    t: ArrayLike,
    sigma: ArrayLike,
    r: ArrayLike,
    kind: ArrayLike,
    *,
    days_per_year: float = CALENDAR_BASIS_DAYS,
) -> Greeks:
    """Black-Scholes price and spot greeks (no dividends), S held fixed for theta and rho.

    delta = θ·N(θd1); gamma = φ(d1)/(S·sigma√T); theta = [-S·φ(d1)·sigma/(2√T) - θ·r·K·e^{-rT}·N(θd2)]
    / days_per_year; vega = S·φ(d1)·√T / 100; rho = θ·K·T·e^{-rT}·N(θd2) / 100.
    """
    _check_basis(days_per_year)
    s, tt, rate = _as_float(spot, t, r)
    forward = s * np.exp(rate * np.maximum(tt, 0.0))
    c = _core(forward, strike, tt, sigma, rate, kind)
    spot_b = np.broadcast_to(s, c.forward.shape)
    price = c.discount * c.undiscounted
    delta = c.theta_sign * norm_cdf(c.theta_sign * c.d1)
    with np.errstate(divide="ignore", invalid="ignore"):
        gamma = np.where(c.total_vol > 0.0, norm_pdf(c.d1) / (spot_b * c.total_vol), 0.0)
    vega = spot_b * norm_pdf(c.d1) * c.sqrt_t * PER_PERCENT
    carry = c.theta_sign * c.strike * c.discount * norm_cdf(c.theta_sign * c.d2)
    theta_year = -_decay_term(c, spot_b) - c.r * carry
    rho = c.t * carry * PER_PERCENT
    return _finish(c, price, delta, gamma, theta_year / days_per_year, vega, rho)


# --------------------------------------------------------------------------------------------------
# Time to expiry


def expiry_datetime(expiry_date: date) -> datetime:
    """The expiry instant: 15:30 Asia/Kolkata on the expiry date (aware)."""
    return datetime.combine(expiry_date, EXPIRY_CUTOFF_IST, tzinfo=IST)


def time_to_expiry(
    now: datetime,
    expiry_date: date,
    *,
    basis_days: int = CALENDAR_BASIS_DAYS,
    holidays: Collection[date] = (),
) -> float:
    """Years from ``now`` to 15:30 IST on ``expiry_date``; 0.0 once expired (never negative).

    ``basis_days=365`` (default): calendar time, seconds / (365·86400).

    ``basis_days=252``: trading time. Each NSE trading day (a weekday not in ``holidays``) counts as
    one day, accruing linearly over its 09:15-15:30 session; nights, weekends and holidays accrue
    nothing. The expiry day always counts (an expiry is by definition a trading day). Pass the
    exchange holiday table as ``holidays``; special sessions (Muhurat) are ignored. Theta computed
    on this basis is per *trading* day — pass ``days_per_year=252`` to the greeks functions.

    ``now`` must be timezone-aware (any zone).
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("time_to_expiry needs an aware datetime")
    if basis_days not in SUPPORTED_BASES:
        raise ValueError(f"basis_days must be one of {SUPPORTED_BASES}")
    expiry = expiry_datetime(expiry_date)
    if now >= expiry:
        return 0.0
    if basis_days == CALENDAR_BASIS_DAYS:
        return (expiry - now).total_seconds() / (CALENDAR_BASIS_DAYS * SECONDS_PER_DAY)

    local = now.astimezone(IST)
    today = local.date()
    holiday_array = np.array(sorted(holidays), dtype="datetime64[D]")

    def session_fraction_left(day: date) -> float:
        opened = datetime.combine(day, SESSION_OPEN_IST, tzinfo=IST)
        left = (expiry_datetime(day) - max(local, opened)).total_seconds()
        return min(max(left, 0.0), SESSION_SECONDS) / SESSION_SECONDS

    if today == expiry_date:
        days = session_fraction_left(today)
    else:
        today_counts = bool(np.is_busday(np.datetime64(today, "D"), holidays=holiday_array))
        days = session_fraction_left(today) if today_counts else 0.0
        # Full trading days strictly between today and the expiry day, then the expiry day itself.
        days += float(
            np.busday_count(
                np.datetime64(today + timedelta(days=1), "D"),
                np.datetime64(expiry_date, "D"),
                holidays=holiday_array,
            )
        )
        days += 1.0
    return days / TRADING_BASIS_DAYS


# --------------------------------------------------------------------------------------------------
# Forward and ATM


def synthetic_forward(
    strikes: ArrayLike, call_prices: ArrayLike, put_prices: ArrayLike, r: float, T: float
) -> float | None:
    """Synthetic forward from put-call parity at the ATM pair: F = K + e^{rT}·(C - P).

    The pair is the strike with the smallest |C - P| among strikes where both prices are present
    (finite and > 0); ties go to the lower strike. ``T`` in years (≤ 0 is treated as 0), ``r`` a
    decimal. Returns None when no strike has both prices.
    """
    k, c, p = _as_float(strikes, call_prices, put_prices)
    k, c, p = k.ravel(), c.ravel(), p.ravel()
    with np.errstate(invalid="ignore"):
        usable = np.isfinite(k) & np.isfinite(c) & np.isfinite(p) & (c > 0) & (p > 0)
    if not np.any(usable):
        return None
    k, c, p = k[usable], c[usable], p[usable]
    order = np.argsort(k, kind="stable")
    k, c, p = k[order], c[order], p[order]
    i = int(np.argmin(np.abs(c - p)))  # first minimum = lowest strike
    return float(k[i] + math.exp(r * max(T, 0.0)) * (c[i] - p[i]))


def atm_strike(strikes: ArrayLike, forward: float) -> float | None:
    """The listed strike nearest to ``forward``; ties (forward exactly between two) go to the lower.

    Returns None for an empty strike list or a non-finite forward.
    """
    k = np.asarray(strikes, dtype=np.float64).ravel()
    k = np.sort(k[np.isfinite(k)])
    if k.size == 0 or not math.isfinite(forward):
        return None
    return float(k[int(np.argmin(np.abs(k - forward)))])
