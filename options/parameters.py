"""Pricing parameters from settings (FO_*, see .env.example), validated once, and the holidays the
252-trading-day basis needs."""

from __future__ import annotations

import logging
import math
import threading
from dataclasses import dataclass
from datetime import date

from cachetools import TTLCache
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from marketdata.calendar import holidays_in_year
from options.pricing import CALENDAR_BASIS_DAYS, SUPPORTED_BASES
from tradeviz.errors import DomainError

logger = logging.getLogger(__name__)

HOLIDAY_CACHE_SECONDS = 3600
_holidays: TTLCache[int, frozenset[date]] = TTLCache(maxsize=64, ttl=HOLIDAY_CACHE_SECONDS)
_lock = threading.Lock()


@dataclass(frozen=True)
class PricingParameters:
    rate: float
    basis_days: int
    max_spread_frac: float
    lookback_days: int


def pricing_parameters() -> PricingParameters:
    params = PricingParameters(
        rate=float(settings.FO_RISK_FREE_RATE),
        basis_days=int(settings.FO_DAY_COUNT_BASIS),
        max_spread_frac=float(settings.FO_MAX_SPREAD_FRACTION),
        lookback_days=int(settings.FO_LOOKBACK_DAYS),
    )
    check_parameters(params)
    return params


def check_parameters(params: PricingParameters) -> None:
    if not math.isfinite(params.rate) or abs(params.rate) > 1:
        raise ImproperlyConfigured("FO_RISK_FREE_RATE must be a decimal rate such as 0.065")
    if params.basis_days not in SUPPORTED_BASES:
        raise ImproperlyConfigured(f"FO_DAY_COUNT_BASIS must be one of {SUPPORTED_BASES}")
    if not (math.isfinite(params.max_spread_frac) and params.max_spread_frac >= 0):
        raise ImproperlyConfigured("FO_MAX_SPREAD_FRACTION must be a non-negative number")
    if params.lookback_days < 1:
        raise ImproperlyConfigured("FO_LOOKBACK_DAYS must be at least 1")


def _year_holidays(year: int) -> frozenset[date]:
    with _lock:
        hit = _holidays.get(year)
    if hit is not None:
        return hit
    try:
        days = frozenset(h.date for h in holidays_in_year(exchange="NSE", year=year))
    except DomainError:
        # Without holiday data every weekday counts as a trading day: T is slightly too long
        # rather than unavailable. The calendar's own checks fail loudly elsewhere.
        logger.warning("no NSE holidays for %s: the 252-day basis counts every weekday", year)
        days = frozenset()
    with _lock:
        _holidays[year] = days
    return days


def basis_holidays(basis_days: int, start: date, end: date) -> frozenset[date]:
    """Holidays between `start` and `end` for the 252-day basis (none needed on the 365 basis)."""
    if basis_days == CALENDAR_BASIS_DAYS or end < start:
        return frozenset()
    found: set[date] = set()
    for year in range(start.year, end.year + 1):
        found |= _year_holidays(year)
    return frozenset(found)


def clear_parameter_caches() -> None:
    with _lock:
        _holidays.clear()
