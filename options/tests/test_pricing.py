"""Black-76 / Black-Scholes prices and greeks: textbook values, an independent library, edge cases."""

from __future__ import annotations

import itertools
import math
import warnings
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
import pytest
from vollib.black import black as vollib_black
from vollib.black.greeks import analytical as vollib_black_greeks
from vollib.black_scholes import black_scholes as vollib_bs
from vollib.black_scholes.greeks import analytical as vollib_bs_greeks

from options.pricing import (
    Greeks,
    atm_strike,
    black76_greeks,
    black76_price,
    bs_greeks,
    bs_price,
    erfc,
    kind_sign,
    norm_cdf,
    synthetic_forward,
    time_to_expiry,
)

IST = ZoneInfo("Asia/Kolkata")
ONE_MINUTE = 1 / (365 * 24 * 60)

# The comparison grid (shared with test_iv.py): K/F from deep ITM to deep OTM for both kinds,
# 1 minute to 1 year, 5 % to 150 % volatility, zero and a typical Indian rate.
GRID_MONEYNESS = np.linspace(0.5, 1.5, 11)
GRID_T = (ONE_MINUTE, 1 / (365 * 24), 1 / 365, 7 / 365, 30 / 365, 0.25, 1.0)
GRID_SIGMA = (0.05, 0.15, 0.3, 0.6, 1.0, 1.5)
GRID_R = (0.0, 0.065)
GRID_UNDERLYINGS = (100.0, 24000.0)

# vollib and this module agree to ~1e-12 relative wherever a value is representable. The absolute
# floor covers values that are zero to double precision: vollib computes the Black-Scholes put
# delta as N(d1) - 1, which carries an absolute rounding error of ~1e-16 (it returns 0.0 where the
# true delta is -2e-108, or 3e-11 off near -1e-11), and deep out-of-the-money prices that underflow
# differently. 1e-12 (rupees, or per point) is ten orders of magnitude below the 0.05 tick.
RTOL = 1e-6
ATOL = 1e-12
GREEK_NAMES = ("price", "delta", "gamma", "theta", "vega", "rho")


def grid(underlying: float) -> tuple[npt.NDArray[np.float64], ...]:
    rows = np.array(list(itertools.product(GRID_MONEYNESS, GRID_T, GRID_SIGMA, GRID_R, (1.0, -1.0))))
    return underlying * rows[:, 0], rows[:, 1], rows[:, 2], rows[:, 3], rows[:, 4]


def vollib_values(model: str, name: str, underlying: float) -> npt.NDArray[np.float64]:
    """vollib's figure for every grid point; vollib's units are already ours (see test docstring)."""
    strike, t, sigma, r, kind = grid(underlying)
    module = vollib_black_greeks if model == "black76" else vollib_bs_greeks
    price_fn = vollib_black if model == "black76" else vollib_bs
    fn = price_fn if name == "price" else getattr(module, name)
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # vollib's own overflow warnings at 1-minute expiries
        for k, tt, vol, rate, sign in zip(strike, t, sigma, r, kind, strict=True):
            out.append(float(fn("c" if sign > 0 else "p", underlying, k, tt, rate, vol)))
    return np.array(out)


# --------------------------------------------------------------------------------------------------
# Textbook values (Hull, Options, Futures and Other Derivatives)


def test_hull_black_scholes_prices() -> None:
    call, put = bs_price(42.0, 40.0, 0.5, 0.2, 0.1, [True, False])
    assert round(float(call), 4) == 4.7594
    assert round(float(put), 4) == 0.8086


def test_hull_black_scholes_greeks_in_our_units() -> None:
    g = bs_greeks(49.0, 50.0, 0.3846, 0.2, 0.05, "CE")
    assert round(float(g.delta), 3) == 0.522
    assert round(float(g.gamma), 3) == 0.066
    # Hull quotes -4.31 per year: ours is per calendar day.
    assert round(float(g.theta) * 365, 2) == -4.31
    # -4.31 is Hull's 2-decimal rounding, so per day we agree within half a cent / 365.
    assert float(g.theta) == pytest.approx(-4.31 / 365, abs=0.005 / 365)
    # Hull quotes 12.1 per unit volatility and 8.91 per unit rate: ours are per 1 %.
    assert round(float(g.vega), 3) == 0.121
    assert round(float(g.vega) * 100, 1) == 12.1
    assert round(float(g.rho) * 100, 2) == 8.91


def test_hull_black76_futures_option() -> None:
    assert round(float(black76_price(20.0, 20.0, 4 / 12, 0.25, 0.09, "c")), 2) == 1.12
    assert round(float(black76_price(20.0, 20.0, 4 / 12, 0.25, 0.09, "c")), 4) == 1.1166


def test_black76_parity_with_zero_rate_is_exact() -> None:
    forward = 24_137.5
    strikes = np.arange(20_000.0, 28_001.0, 50.0)
    for t in (ONE_MINUTE, 7 / 365, 1.0):
        call = black76_price(forward, strikes, t, 0.18, 0.0, True)
        put = black76_price(forward, strikes, t, 0.18, 0.0, False)
        # Same time value on both sides by construction; the only error is one rounding of the
        # addition intrinsic + time value, i.e. half an ulp of the larger premium.
        np.testing.assert_allclose(call - put, forward - strikes, rtol=0, atol=np.spacing(forward))


def test_black76_parity_with_rate_is_discounted() -> None:
    strikes = np.array([90.0, 100.0, 110.0])
    call = black76_price(100.0, strikes, 0.5, 0.3, 0.065, "CE")
    put = black76_price(100.0, strikes, 0.5, 0.3, 0.065, "PE")
    np.testing.assert_allclose(call - put, math.exp(-0.065 * 0.5) * (100.0 - strikes), rtol=0, atol=1e-12)


def test_black76_is_black_scholes_on_the_forward() -> None:
    spot, t, r = 24_000.0, 30 / 365, 0.065
    forward = spot * math.exp(r * t)
    strikes = np.array([22_000.0, 24_000.0, 26_000.0])
    b76 = black76_greeks(forward, strikes, t, 0.15, r, "CE")
    bs = bs_greeks(spot, strikes, t, 0.15, r, "CE")
    np.testing.assert_allclose(b76.price, bs.price, rtol=1e-14)
    np.testing.assert_allclose(b76.vega, bs.vega, rtol=1e-14)
    # dV/dS = dV/dF · e^{rT}: forward greeks carry the discount factor, spot greeks do not.
    np.testing.assert_allclose(b76.delta * math.exp(r * t), bs.delta, rtol=1e-14)
    np.testing.assert_allclose(b76.gamma * math.exp(2 * r * t), bs.gamma, rtol=1e-12)


# --------------------------------------------------------------------------------------------------
# The independent implementation
#
# vollib's conventions (read from vollib/black*/greeks/analytical.py): theta is divided by 365 (per
# calendar day), vega and rho are multiplied by 0.01 (per 1 %); its Black delta and gamma include
# e^{-rT} and its Black rho is -t·V·0.01 (forward held fixed). Those are exactly ours, so the
# comparison needs no conversion.


@pytest.fixture(scope="module")
def vollib_reference() -> dict[tuple[str, str, float], npt.NDArray[np.float64]]:
    return {
        (model, name, underlying): vollib_values(model, name, underlying)
        for model in ("black76", "bs")
        for name in GREEK_NAMES
        for underlying in GRID_UNDERLYINGS
    }


@pytest.mark.parametrize("underlying", GRID_UNDERLYINGS)
@pytest.mark.parametrize("name", GREEK_NAMES)
@pytest.mark.parametrize("model", ["black76", "bs"])
def test_matches_vollib_over_the_grid(
    vollib_reference: dict[tuple[str, str, float], npt.NDArray[np.float64]],
    model: str,
    name: str,
    underlying: float,
) -> None:
    strike, t, sigma, r, kind = grid(underlying)
    fn = black76_greeks if model == "black76" else bs_greeks
    ours: Greeks = fn(underlying, strike, t, sigma, r, kind)
    expected = vollib_reference[(model, name, underlying)]
    assert expected.shape == (len(GRID_MONEYNESS) * len(GRID_T) * len(GRID_SIGMA) * len(GRID_R) * 2,)
    np.testing.assert_allclose(getattr(ours, name), expected, rtol=RTOL, atol=ATOL)


# --------------------------------------------------------------------------------------------------
# Degenerate inputs


def test_expired_contract_is_worth_its_intrinsic_value() -> None:
    g = black76_greeks(100.0, [90.0, 100.0, 110.0, 110.0], [0.0, -1.0, 0.0, 0.0], 0.2, 0.065, [1, 1, 1, -1])
    np.testing.assert_array_equal(g.price, [10.0, 0.0, 0.0, 10.0])
    np.testing.assert_array_equal(g.delta, [1.0, 0.5, 0.0, -1.0])
    for name in ("gamma", "theta", "vega", "rho"):
        np.testing.assert_array_equal(getattr(g, name), [0.0, 0.0, 0.0, 0.0])


def test_zero_volatility_is_the_discounted_forward_payoff() -> None:
    g = black76_greeks(100.0, [90.0, 110.0], 0.5, 0.0, 0.1, ["CE", "PE"])
    discount = math.exp(-0.05)
    np.testing.assert_allclose(g.price, [10.0 * discount, 10.0 * discount], rtol=1e-15)
    np.testing.assert_allclose(g.delta, [discount, -discount], rtol=1e-15)
    np.testing.assert_array_equal(g.gamma, [0.0, 0.0])
    np.testing.assert_array_equal(g.vega, [0.0, 0.0])
    # Only the discounting decays: theta = r·V per year.
    np.testing.assert_allclose(g.theta, 0.1 * g.price / 365, rtol=1e-15)


def test_missing_inputs_stay_missing() -> None:
    # Element 0 is fine; then a missing forward, missing T, negative sigma, zero forward, zero strike
    # (outside the lognormal model), missing rate.
    g = black76_greeks(
        [100.0, np.nan, 100.0, 100.0, 0.0, 100.0, 100.0],
        [100.0, 100.0, 100.0, 100.0, 100.0, 0.0, 100.0],
        [0.1, 0.1, np.nan, 0.1, 0.1, 0.1, 0.1],
        [0.2, 0.2, 0.2, -0.2, 0.2, 0.2, 0.2],
        [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, np.nan],
        True,
    )
    for name in GREEK_NAMES:
        values = getattr(g, name)
        assert math.isfinite(values[0])
        assert np.isnan(values[1:]).all(), name


def test_broadcasting_and_scalars() -> None:
    assert black76_price(100.0, 100.0, 0.25, 0.2, 0.0, True).shape == ()
    prices = black76_price(100.0, np.array([[90.0], [110.0]]), np.array([0.1, 0.2, 0.3]), 0.2, 0.0, True)
    assert prices.shape == (2, 3)
    assert bs_greeks(100.0, [90.0, 100.0], 0.25, 0.2, 0.0, "PE").delta.shape == (2,)


def test_deep_in_the_money_keeps_full_precision() -> None:
    # Intrinsic 12000 and a time value of ~1e-30: the premium is intrinsic to the last bit, and the
    # put's (out-of-the-money) premium is the tiny time value itself, not rounding noise.
    call = black76_price(24_000.0, 12_000.0, 7 / 365, 0.15, 0.0, True)
    put = black76_price(24_000.0, 12_000.0, 7 / 365, 0.15, 0.0, False)
    assert float(call) == 12_000.0
    assert 0.0 <= float(put) < 1e-100


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        (True, 1.0),
        (False, -1.0),
        (1, 1.0),
        (-1, -1.0),
        ("CE", 1.0),
        ("pe", -1.0),
        ("C", 1.0),
        ("put", -1.0),
    ],
)
def test_kind_forms(kind: object, expected: float) -> None:
    assert float(kind_sign(kind)) == expected


@pytest.mark.parametrize("kind", ["XX", 0, 2, ["CE", "FUT"]])
def test_unknown_kind_is_rejected(kind: object) -> None:
    with pytest.raises(ValueError, match="kind"):
        kind_sign(kind)


def test_days_per_year_must_be_positive() -> None:
    with pytest.raises(ValueError, match="days_per_year"):
        black76_greeks(100.0, 100.0, 0.1, 0.2, 0.0, True, days_per_year=0)


def test_trading_day_theta_basis() -> None:
    calendar = black76_greeks(100.0, 100.0, 0.1, 0.2, 0.0, True)
    trading = black76_greeks(100.0, 100.0, 0.1, 0.2, 0.0, True, days_per_year=252)
    assert float(trading.theta) == pytest.approx(float(calendar.theta) * 365 / 252, rel=1e-15)


def test_normal_distribution_matches_libm_deep_into_the_tail() -> None:
    # The C library's erfc (correctly rounded to ~1 ulp) is the reference; scipy's
    # Cephes implementation must keep *relative* accuracy (measured worst case: 6e-14 for erfc,
    # 2.4e-13 for N(z) near 1e-300) — far beyond what 1 - erf(x) could give there.
    x = np.linspace(-6.0, 26.5, 6501)
    np.testing.assert_allclose(erfc(x), [math.erfc(v) for v in x], rtol=1e-13, atol=0)
    z = np.linspace(-37.5, 8.0, 4551)
    expected = [0.5 * math.erfc(-v / math.sqrt(2.0)) for v in z]
    np.testing.assert_allclose(norm_cdf(z), expected, rtol=5e-13, atol=0)
    assert float(norm_cdf(np.array(0.0))) == 0.5
    assert float(norm_cdf(np.array(40.0))) == 1.0
    assert float(norm_cdf(np.array(-40.0))) == 0.0


# --------------------------------------------------------------------------------------------------
# Time to expiry


def test_time_to_expiry_calendar_basis() -> None:
    now = datetime(2025, 9, 30, 9, 30, tzinfo=IST)
    assert time_to_expiry(now, date(2025, 9, 30)) == 6 * 3600 / (365 * 86400)
    assert time_to_expiry(now, date(2025, 10, 7)) == (7 * 86400 + 6 * 3600) / (365 * 86400)


def test_time_to_expiry_accepts_any_zone() -> None:
    # 04:00 UTC is 09:30 IST.
    now = datetime(2025, 9, 30, 4, 0, tzinfo=UTC)
    assert time_to_expiry(now, date(2025, 9, 30)) == 6 * 3600 / (365 * 86400)


def test_time_to_expiry_is_zero_at_and_after_the_close() -> None:
    assert time_to_expiry(datetime(2025, 9, 30, 15, 30, tzinfo=IST), date(2025, 9, 30)) == 0.0
    assert time_to_expiry(datetime(2025, 10, 1, 10, 0, tzinfo=IST), date(2025, 9, 30)) == 0.0


def test_time_to_expiry_rejects_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="aware"):
        time_to_expiry(datetime(2025, 9, 30, 9, 30), date(2025, 9, 30))


def test_time_to_expiry_rejects_unknown_basis() -> None:
    with pytest.raises(ValueError, match="basis_days"):
        time_to_expiry(datetime(2025, 9, 30, 9, 30, tzinfo=IST), date(2025, 10, 7), basis_days=360)


def test_time_to_expiry_trading_basis_counts_sessions() -> None:
    gandhi_jayanti = date(2025, 10, 2)  # Thursday, an NSE holiday
    after_close = datetime(2025, 10, 1, 15, 45, tzinfo=IST)
    # Fri 3, Mon 6, Tue 7 October; the weekend and the holiday accrue nothing.
    assert (
        time_to_expiry(after_close, date(2025, 10, 7), basis_days=252, holidays={gandhi_jayanti}) == 3 / 252
    )
    assert time_to_expiry(after_close, date(2025, 10, 7), basis_days=252) == 4 / 252
    # Before the open the whole of today's session is still ahead.
    before_open = datetime(2025, 10, 6, 8, 0, tzinfo=IST)
    assert time_to_expiry(before_open, date(2025, 10, 7), basis_days=252) == 2 / 252
    # 12:22:30 on expiry day: 187.5 of the session's 375 minutes remain.
    midday = datetime(2025, 10, 7, 12, 22, 30, tzinfo=IST)
    assert time_to_expiry(midday, date(2025, 10, 7), basis_days=252) == 0.5 / 252
    # A weekend "now" only counts the sessions ahead.
    saturday = datetime(2025, 10, 4, 11, 0, tzinfo=IST)
    assert time_to_expiry(saturday, date(2025, 10, 7), basis_days=252) == 2 / 252


# --------------------------------------------------------------------------------------------------
# Forward and ATM strike


def test_synthetic_forward_uses_the_pair_with_smallest_call_put_gap() -> None:
    strikes = [100.0, 110.0, 120.0]
    calls = [12.0, 5.0, 1.5]
    puts = [1.0, 4.0, 11.0]
    assert synthetic_forward(strikes, calls, puts, 0.0, 0.25) == 111.0
    assert synthetic_forward(strikes, calls, puts, 0.1, 0.5) == 110.0 + math.exp(0.05) * 1.0


def test_synthetic_forward_tie_goes_to_the_lower_strike() -> None:
    assert synthetic_forward([110.0, 100.0], [1.0, 6.0], [6.0, 1.0], 0.0, 0.1) == 105.0


def test_synthetic_forward_skips_strikes_without_both_prices() -> None:
    strikes = [100.0, 110.0, 120.0]
    # 110 would win but its put is missing; 120 has a zero (unquoted) call.
    assert synthetic_forward(strikes, [12.0, 5.0, 0.0], [1.5, np.nan, 11.0], 0.0, 0.1) == 110.5
    assert synthetic_forward(strikes, [np.nan] * 3, [1.0] * 3, 0.0, 0.1) is None
    assert synthetic_forward([], [], [], 0.0, 0.1) is None


def test_atm_strike_nearest_with_ties_to_lower() -> None:
    strikes = [24_100.0, 24_000.0, 24_050.0]
    assert atm_strike(strikes, 24_024.9) == 24_000.0
    assert atm_strike(strikes, 24_025.0) == 24_000.0
    assert atm_strike(strikes, 24_025.1) == 24_050.0
    assert atm_strike(strikes, 30_000.0) == 24_100.0
    assert atm_strike([], 24_000.0) is None
    assert atm_strike(strikes, float("nan")) is None
