"""Options analytics core: IV + greeks over a chain, and max pain (pure numpy, no database).

Run with `.venv/bin/python -m bench.run options_math`.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from bench.harness import Figure, latency_figures, time_calls
from options.iv import DEFAULT_TICK, ChainAnalytics, chain_analytics, select_price
from options.maxpain import max_pain, pain_brute_force
from options.pricing import black76_price

CHAIN_STRIKES = 250  # x 2 kinds = 500 contracts
STRIKE_STEP = 50.0
# The stress figure solves every contract: fair (unrounded) premiums and a negligible tick.
STRESS_TICK = 1e-9
FORWARD = 24_061.35
# A monthly expiry 27 days out: more of the chain carries time value than a weekly does.
EXPIRY_YEARS = 27.25 / 365
RATE = 0.065
# A NIFTY-like weekly smile: ~12 % ATM, put skew, convex wings.
SMILE_ATM, SMILE_SKEW, SMILE_CURVATURE = 0.12, -0.15, 2.5
SPREAD_TICKS = 2
MAX_PAIN_STRIKES = 500
REPEAT = 300
P50_TARGET_MS = 5.0
SEED = 20250930


def realistic_chain() -> dict[str, npt.NDArray[np.float64]]:
    """500 contracts: 250 strikes 50 apart around the forward, calls and puts, premiums on the tick grid
    with a two-tick bid/ask around them (so deep OTM strikes end up with zero bids or sub-tick prices,
    as on the exchange)."""
    offsets = np.arange(CHAIN_STRIKES) - CHAIN_STRIKES // 2
    strikes = np.round(FORWARD / STRIKE_STEP) * STRIKE_STEP + STRIKE_STEP * offsets
    log_m = np.log(strikes / FORWARD)
    smile = SMILE_ATM + SMILE_SKEW * log_m + SMILE_CURVATURE * log_m**2
    strike = np.tile(strikes, 2)
    sigma = np.tile(smile, 2)
    kind = np.concatenate([np.ones(CHAIN_STRIKES), -np.ones(CHAIN_STRIKES)])
    fair = black76_price(FORWARD, strike, EXPIRY_YEARS, sigma, RATE, kind)
    ltp = np.round(fair / DEFAULT_TICK) * DEFAULT_TICK
    bid = np.maximum(ltp - DEFAULT_TICK * SPREAD_TICKS / 2, 0.0)
    ask = ltp + DEFAULT_TICK * SPREAD_TICKS / 2
    return {"strike": strike, "kind": kind, "bid": bid, "ask": ask, "ltp": ltp, "fair": fair}


def run() -> list[Figure]:
    chain = realistic_chain()

    def iv_and_greeks() -> ChainAnalytics:
        price = select_price(chain["bid"], chain["ask"], chain["ltp"]).price
        return chain_analytics(price, FORWARD, chain["strike"], EXPIRY_YEARS, RATE, chain["kind"])

    rng = np.random.default_rng(SEED)
    strikes = 24_000.0 + STRIKE_STEP * (np.arange(MAX_PAIN_STRIKES) - MAX_PAIN_STRIKES // 2)
    ce_oi = rng.integers(0, 10_000_000, MAX_PAIN_STRIKES).astype(np.float64)
    pe_oi = rng.integers(0, 10_000_000, MAX_PAIN_STRIKES).astype(np.float64)

    solved_count = int(np.sum(~np.isnan(iv_and_greeks().iv.iv)))

    figures = latency_figures(
        "IV + greeks, 500-contract chain", time_calls(iv_and_greeks, repeat=REPEAT), p50_target=P50_TARGET_MS
    )
    figures.append(Figure("IV + greeks: contracts with an IV", float(solved_count), "contracts"))

    def stress() -> ChainAnalytics:
        return chain_analytics(
            chain["fair"], FORWARD, chain["strike"], EXPIRY_YEARS, RATE, chain["kind"], tick=STRESS_TICK
        )

    stress_solved = int(np.sum(~np.isnan(stress().iv.iv)))
    stress_ms = time_calls(stress, repeat=REPEAT)
    figures.append(
        Figure(
            f"IV + greeks, {stress_solved} contracts all solved (stress) p50",
            float(np.median(stress_ms)),
            "ms",
        )
    )
    figures += latency_figures(
        "max pain, 500 strikes",
        time_calls(lambda: max_pain(strikes, ce_oi, pe_oi), repeat=REPEAT),
        p50_target=P50_TARGET_MS,
    )
    brute = time_calls(lambda: pain_brute_force(strikes, ce_oi, pe_oi), repeat=REPEAT // 3)
    figures.append(Figure("max pain brute force O(n^2), 500 strikes p50", float(np.median(brute)), "ms"))
    return figures
