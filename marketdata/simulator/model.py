"""The simulator's market model: pure functions shared by the live simulator and the demo history.

Everything here is deterministic arithmetic on floats and numpy arrays; no Django, no I/O. The
demo history (marketdata.demo) and the live tick engine price with the same functions, so a
chart that shows stored history and then live ticks has no seam between the two.

Conventions (DOMAIN.md, "Options pricing conventions"): Black-76 on the forward; the forward of an
index is its same-expiry futures price F = S·e^{rT}; T in years of 365 days to 15:30 IST on the
expiry date; volatility as a decimal.
"""

from __future__ import annotations

import math
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from options.pricing import black76_price

FloatArray = npt.NDArray[np.float64]

IST = ZoneInfo("Asia/Kolkata")
IST_OFFSET_MS = (5 * 60 + 30) * 60_000  # India has no daylight saving time
MS_PER_DAY = 86_400_000
MS_PER_MINUTE = 60_000
EXPIRY_CUTOFF_IST = time(15, 30)
YEAR_MS = 365.0 * MS_PER_DAY

# Continuously compounded rate for carry and discounting (the demo's cost of carry).
RATE = 0.065

# Volatility surface: sigma(k, T) = atm(T) + skew(T)·k + curvature(T)·k², k = ln(K/F).
# Term structure: short-dated ATM volatility sits above the long end and decays towards it.
ATM_VOL_LONG = 0.12
ATM_VOL_SHORT_PREMIUM = 0.02
TERM_DECAY_YEARS = 30 / 365
SMILE_SKEW = -0.35
SMILE_CURVATURE = 1.6
# Skew and curvature are quoted for a one-month expiry and steepen as 1/sqrt(T) towards expiry
# (a fixed log-moneyness is many more standard deviations away for a weekly), capped.
SMILE_REFERENCE_YEARS = 30 / 365
SMILE_STEEPENING_CAP = 3.0
MIN_VOL = 0.05
MAX_VOL = 1.5
MIN_T_YEARS = 1e-6


def ist_day(ts_ms: int) -> int:
    """The IST calendar day number (days since 1970-01-01 in IST) of an epoch-ms instant."""
    return (ts_ms + IST_OFFSET_MS) // MS_PER_DAY


def expiry_ms(expiry: date) -> int:
    """Epoch ms of the expiry instant: 15:30 IST on the expiry date."""
    return int(datetime.combine(expiry, EXPIRY_CUTOFF_IST, tzinfo=IST).timestamp() * 1000)


def years_between(from_ms: npt.ArrayLike, to_ms: npt.ArrayLike) -> FloatArray:
    """Years of 365 days from `from_ms` to `to_ms`, floored at 0."""
    return np.maximum((np.asarray(to_ms, dtype=np.float64) - np.asarray(from_ms, dtype=np.float64)) / YEAR_MS, 0.0)


def futures_fair(spot: float | FloatArray, t_years: float | FloatArray, rate: float = RATE) -> FloatArray:
    """Cost-of-carry futures price F = S·e^{rT}."""
    return np.asarray(spot, dtype=np.float64) * np.exp(rate * np.asarray(t_years, dtype=np.float64))


def smile_vol(
    strike: float | FloatArray, forward: float | FloatArray, t_years: float | FloatArray,
    level: float | FloatArray = 1.0,
) -> FloatArray:
    """Implied volatility from the smile: skew and curvature around ATM, with a term structure.

    `level` scales the whole surface (the simulator lets it wander slowly).
    """
    t = np.maximum(np.asarray(t_years, dtype=np.float64), MIN_T_YEARS)
    k = np.log(np.asarray(strike, dtype=np.float64) / np.asarray(forward, dtype=np.float64))
    atm = ATM_VOL_LONG + ATM_VOL_SHORT_PREMIUM * np.exp(-t / TERM_DECAY_YEARS)
    steepen = np.minimum(np.sqrt(SMILE_REFERENCE_YEARS / t), SMILE_STEEPENING_CAP)
    sigma = level * atm + SMILE_SKEW * steepen * k + SMILE_CURVATURE * steepen**2 * k**2
    return np.clip(sigma, MIN_VOL, MAX_VOL)


def option_fair(
    *,
    spot: float | FloatArray,
    strike: float | FloatArray,
    t_years: float | FloatArray,
    is_call: bool | npt.NDArray[np.bool_],
    level: float | FloatArray = 1.0,
    rate: float = RATE,
) -> FloatArray:
    """Black-76 value on the forward F = S·e^{rT} with the smile's volatility at (K, F, T)."""
    t = np.maximum(np.asarray(t_years, dtype=np.float64), 0.0)
    forward = futures_fair(spot, t, rate)
    sigma = smile_vol(strike, forward, t, level)
    return black76_price(forward, strike, t, sigma, rate, np.where(is_call, 1.0, -1.0))


def tick_decimals(tick: float) -> int:
    """Decimal places that represent every multiple of `tick` exactly (0.05 → 2, 0.0025 → 4)."""
    decimals = 0
    while decimals < 6 and abs(round(tick, decimals) - tick) > 1e-12:
        decimals += 1
    return decimals


def round_to_tick(price: float | FloatArray, tick: float | FloatArray) -> FloatArray:
    """Nearest multiple of the tick size."""
    return np.round(np.asarray(price, dtype=np.float64) / tick) * tick


def floor_to_tick(price: float, tick: float) -> float:
    # The epsilon keeps 24012.35 / 0.05 = 480246.99999999994 on its own tick.
    return math.floor(price / tick + 1e-9) * tick


def intraday_profile(minutes: int) -> FloatArray:
    """Intraday activity of a session: busy at the open and the close, quiet at lunch (mean 1)."""
    x = np.linspace(-1.0, 1.0, minutes)
    profile = 0.6 + 1.2 * x**2
    result: FloatArray = profile / profile.mean()
    return result
