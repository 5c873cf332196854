"""Implied volatility: round trips, the independent solver, no-arbitrage bounds, reason codes."""

from __future__ import annotations

import math
import warnings

import numpy as np
import numpy.typing as npt
import pytest
from vollib.black.implied_volatility import implied_volatility as vollib_black_iv
from vollib.black_scholes.implied_volatility import implied_volatility as vollib_bs_iv

from options.iv import (
    DEFAULT_TICK,
    MAX_VOL,
    REASON_ABOVE_UPPER_BOUND,
    REASON_BELOW_INTRINSIC,
    REASON_EXPIRED,
    REASON_INVALID_INPUT,
    REASON_NO_CONVERGENCE,
    REASON_NO_PRICE,
    REASON_OUT_OF_BRACKET,
    REASON_TIME_VALUE_BELOW_TICK,
    SOURCE_LTP,
    SOURCE_MID,
    SOURCE_NONE,
    chain_analytics,
    implied_vol_black76,
    implied_vol_bs,
    select_price,
)
from options.pricing import black76_greeks, black76_price, bs_price
from options.tests.test_pricing import GRID_UNDERLYINGS, grid

IV_RTOL = 1e-6


def discounted_intrinsic(
    forward: float,
    strike: npt.NDArray[np.float64],
    t: npt.NDArray[np.float64],
    r: npt.NDArray[np.float64],
    kind: npt.NDArray[np.float64],
) -> npt.NDArray[np.float64]:
    return np.exp(-r * t) * np.maximum(kind * (forward - strike), 0.0)


# --------------------------------------------------------------------------------------------------
# Round trips and the independent solver


@pytest.mark.parametrize("forward", GRID_UNDERLYINGS)
def test_round_trip_over_the_grid(forward: float) -> None:
    strike, t, sigma, r, kind = grid(forward)
    price = black76_price(forward, strike, t, sigma, r, kind)
    result = implied_vol_black76(price, forward, strike, t, r, kind)
    solvable = price - discounted_intrinsic(forward, strike, t, r, kind) >= DEFAULT_TICK
    assert solvable.sum() > 600  # the grid really exercises the solver
    np.testing.assert_allclose(result.iv[solvable], sigma[solvable], rtol=IV_RTOL, atol=0)
    assert all(reason is None for reason in result.reason[solvable])
    # Everything else is skipped for a stated reason, never reported as 0.
    assert set(result.reason[~solvable].tolist()) <= {REASON_TIME_VALUE_BELOW_TICK, REASON_NO_PRICE}
    assert np.isnan(result.iv[~solvable]).all()


def test_round_trip_with_a_tiny_tick_reaches_deep_out_of_the_money() -> None:
    # With the tick out of the way the solver must still recover sigma from premiums of 1e-6.
    forward = 100.0
    strike, t, sigma, r, kind = grid(forward)
    price = black76_price(forward, strike, t, sigma, r, kind)
    result = implied_vol_black76(price, forward, strike, t, r, kind, tick=1e-6)
    solved = result.reason == None  # noqa: E711 - elementwise comparison on an object array
    assert solved.sum() > 900
    np.testing.assert_allclose(result.iv[solved], sigma[solved], rtol=IV_RTOL, atol=0)


@pytest.mark.parametrize("model", ["black76", "bs"])
@pytest.mark.parametrize("underlying", GRID_UNDERLYINGS)
def test_matches_vollib_implied_volatility(model: str, underlying: float) -> None:
    strike, t, sigma, r, kind = grid(underlying)
    if model == "black76":
        price = black76_price(underlying, strike, t, sigma, r, kind)
        result = implied_vol_black76(price, underlying, strike, t, r, kind)
    else:
        price = bs_price(underlying, strike, t, sigma, r, kind)
        result = implied_vol_bs(price, underlying, strike, t, r, kind)
    solved = np.flatnonzero(result.reason == None)  # noqa: E711
    expected = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i in solved:
            flag = "c" if kind[i] > 0 else "p"
            if model == "black76":  # vollib: (price, F, K, r, t, flag)
                expected.append(vollib_black_iv(price[i], underlying, strike[i], r[i], t[i], flag))
            else:  # vollib: (price, S, K, t, r, flag)
                expected.append(vollib_bs_iv(price[i], underlying, strike[i], t[i], r[i], flag))
    np.testing.assert_allclose(result.iv[solved], expected, rtol=IV_RTOL, atol=0)


def test_realistic_nifty_chain() -> None:
    forward, t, r = 24_061.35, 6.25 / 365, 0.065
    strikes = np.arange(22_000.0, 26_001.0, 50.0)
    log_m = np.log(strikes / forward)
    smile = 0.12 - 0.15 * log_m + 2.5 * log_m**2
    kinds = np.concatenate([np.ones_like(strikes), -np.ones_like(strikes)])
    strikes2, smile2 = np.tile(strikes, 2), np.tile(smile, 2)
    # Exchange premiums are in 0.05 ticks: rounding costs the round trip a little accuracy.
    price = np.round(black76_price(forward, strikes2, t, smile2, r, kinds) / DEFAULT_TICK) * DEFAULT_TICK
    result = implied_vol_black76(price, forward, strikes2, t, r, kinds)
    solved = result.reason == None  # noqa: E711
    assert solved.sum() > 100
    reprice = black76_price(forward, strikes2[solved], t, result.iv[solved], r, kinds[solved])
    np.testing.assert_allclose(reprice, price[solved], rtol=0, atol=1e-9)


# --------------------------------------------------------------------------------------------------
# Bounds and reason codes


def test_below_intrinsic_is_null_not_zero() -> None:
    # Discounted intrinsic of the 100 call on F = 110 is 10·e^{-0.065·0.5} = 9.680...
    result = implied_vol_black76([9.60, 9.60], 110.0, 100.0, 0.5, 0.065, ["CE", "CE"])
    assert np.isnan(result.iv).all()
    assert result.reason.tolist() == [REASON_BELOW_INTRINSIC, REASON_BELOW_INTRINSIC]
    put = implied_vol_black76(9.0, 90.0, 100.0, 0.5, 0.0, "PE")
    assert put.reason.tolist() == REASON_BELOW_INTRINSIC
    assert math.isnan(float(put.iv))


def test_at_or_above_the_upper_bound_is_null() -> None:
    discount = math.exp(-0.065 * 0.5)
    result = implied_vol_black76(
        [100.0 * discount, 101.0, 120.0 * discount, 130.0], 100.0, 120.0, 0.5, 0.065, ["CE", "CE", "PE", "PE"]
    )
    assert np.isnan(result.iv).all()
    assert result.reason.tolist() == [REASON_ABOVE_UPPER_BOUND] * 4


def test_time_value_below_one_tick_is_skipped() -> None:
    # Deep OTM at 0.04 (below a tick), and an ITM call at intrinsic + 0.03.
    result = implied_vol_black76(
        [0.04, 10.03, 0.05], 24_000.0, [26_000.0, 23_990.0, 26_000.0], 7 / 365, 0.0, ["CE", "CE", "CE"]
    )
    assert result.reason.tolist() == [REASON_TIME_VALUE_BELOW_TICK, REASON_TIME_VALUE_BELOW_TICK, None]
    assert math.isnan(result.iv[0])
    assert math.isnan(result.iv[1])
    assert result.iv[2] > 0
    # The tick is a parameter.
    finer = implied_vol_black76(0.04, 24_000.0, 26_000.0, 7 / 365, 0.0, "CE", tick=0.01)
    assert finer.reason.tolist() is None


def test_expired_and_missing_prices() -> None:
    result = implied_vol_black76(
        [50.0, 50.0, np.nan, 0.0, -1.0, np.nan],
        24_000.0,
        24_000.0,
        [0.0, -0.01, 0.1, 0.1, 0.1, 0.0],
        0.0,
        True,
    )
    assert result.reason.tolist() == [
        REASON_EXPIRED,
        REASON_EXPIRED,
        REASON_NO_PRICE,
        REASON_NO_PRICE,
        REASON_NO_PRICE,
        REASON_EXPIRED,
    ]
    assert np.isnan(result.iv).all()


def test_invalid_forward_or_strike() -> None:
    result = implied_vol_black76(
        5.0, [np.nan, 0.0, 100.0, 100.0], [100.0, 100.0, -5.0, 100.0], 0.1, [0.0, 0.0, 0.0, np.nan], True
    )
    assert result.reason.tolist() == [REASON_INVALID_INPUT] * 4


def test_volatility_outside_the_bracket() -> None:
    forward, t = 24_000.0, 1.0
    too_low = float(black76_price(forward, forward, t, 5e-5, 0.0, True))  # about 0.48 rupees
    too_high = float(black76_price(100.0, 100.0, t, 6.0, 0.0, True))
    result = implied_vol_black76([too_low, too_high], [forward, 100.0], [forward, 100.0], t, 0.0, True)
    assert result.reason.tolist() == [REASON_OUT_OF_BRACKET, REASON_OUT_OF_BRACKET]
    assert np.isnan(result.iv).all()
    at_max = float(black76_price(100.0, 100.0, t, MAX_VOL, 0.0, True))
    assert float(implied_vol_black76(at_max, 100.0, 100.0, t, 0.0, True).iv) == pytest.approx(
        MAX_VOL, rel=1e-9
    )


def test_no_convergence_is_reported() -> None:
    price = float(black76_price(24_000.0, 25_000.0, 0.1, 0.2, 0.0, True))
    result = implied_vol_black76(price, 24_000.0, 25_000.0, 0.1, 0.0, True, max_iter=1)
    assert result.reason.tolist() == REASON_NO_CONVERGENCE
    assert math.isnan(float(result.iv))


def test_solutions_are_never_zero_and_shapes_are_kept() -> None:
    prices = np.array([[120.0, 0.0], [np.nan, 310.5]])
    result = implied_vol_black76(
        prices,
        24_000.0,
        [[24_000.0, 24_500.0], [23_000.0, 24_000.0]],
        0.05,
        0.0,
        [[True, True], [False, True]],
    )
    assert result.iv.shape == result.reason.shape == (2, 2)
    assert not (result.iv == 0).any()
    assert result.reason[0, 1] == REASON_NO_PRICE
    assert result.reason[1, 0] == REASON_NO_PRICE


# --------------------------------------------------------------------------------------------------
# Price selection


def test_select_price() -> None:
    bid = [100.0, 0.0, 101.0, 10.0, np.nan, 0.0, 50.0, 10.0]
    ask = [101.0, 101.0, 100.0, 14.0, np.nan, 0.0, 50.0, 12.5]
    ltp = [99.0, 98.0, 97.0, 11.0, 5.0, np.nan, 49.0, 12.0]
    selected = select_price(bid, ask, ltp)
    np.testing.assert_array_equal(selected.price, [100.5, 98.0, 97.0, 11.0, 5.0, np.nan, 50.0, 11.25])
    assert selected.source.tolist() == [
        SOURCE_MID,  # a normal book
        SOURCE_LTP,  # no bid
        SOURCE_LTP,  # crossed
        SOURCE_LTP,  # spread 4 on a mid of 12: 33 % is not sane
        SOURCE_LTP,  # nothing quoted
        SOURCE_NONE,  # nothing at all
        SOURCE_MID,  # locked book: the mid is the common price
        SOURCE_MID,  # spread 2.5 on 11.25: 22 %, inside the default 25 %
    ]
    strict = select_price(10.0, 12.5, 12.0, max_spread_frac=0.1)
    assert (float(strict.price), str(strict.source)) == (12.0, SOURCE_LTP)


# --------------------------------------------------------------------------------------------------
# IV and greeks together


def test_chain_analytics_greeks_at_the_solved_iv() -> None:
    forward, t, r = 24_000.0, 7 / 365, 0.065
    strikes = np.array([23_500.0, 24_000.0, 24_500.0, 30_000.0])
    kinds = np.array([False, True, True, True])
    price = black76_price(forward, strikes, t, 0.14, r, kinds)
    out = chain_analytics(price, forward, strikes, t, r, kinds)
    np.testing.assert_allclose(out.iv.iv[:3], 0.14, rtol=1e-9)
    assert out.iv.reason.tolist() == [None, None, None, REASON_TIME_VALUE_BELOW_TICK]
    reference = black76_greeks(forward, strikes[:3], t, 0.14, r, kinds[:3])
    for name in ("price", "delta", "gamma", "theta", "vega", "rho"):
        np.testing.assert_allclose(getattr(out.greeks, name)[:3], getattr(reference, name), rtol=1e-7)
        assert math.isnan(getattr(out.greeks, name)[3])
