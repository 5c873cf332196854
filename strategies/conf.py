"""Settings of the strategies app, with their defaults.

Read through `getattr` so the app works before the project settings name them; each can be set in
the environment through tradeviz/settings (see docs/strategies.md, "Configuration").
"""

from __future__ import annotations

from django.conf import settings

# A last price older than this (seconds) is stale: the leg carries it and is flagged.
DEFAULT_M2M_PRICE_MAX_AGE_SECONDS = 120
# Continuously compounded rate for the payoff's T+0 curve and greeks (the simulator's carry).
DEFAULT_PAYOFF_RATE = 0.065
# Volatility for legs whose implied volatility cannot be solved (no price, below intrinsic).
DEFAULT_PAYOFF_VOLATILITY = 0.15


def m2m_price_max_age_seconds() -> float:
    return float(getattr(settings, "M2M_PRICE_MAX_AGE_SECONDS", DEFAULT_M2M_PRICE_MAX_AGE_SECONDS))


def payoff_rate() -> float:
    """PAYOFF_RATE, else the F&O analytics' risk-free rate, else the default."""
    return float(getattr(settings, "PAYOFF_RATE", getattr(settings, "FO_RISK_FREE_RATE", DEFAULT_PAYOFF_RATE)))


def payoff_default_volatility() -> float:
    return float(getattr(settings, "PAYOFF_DEFAULT_VOLATILITY", DEFAULT_PAYOFF_VOLATILITY))
