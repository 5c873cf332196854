"""Per-minute F&O analytics: option strike bars and expiry metrics (time-series tables).

Both tables are written only by `options.services.analytics` (one set-based upsert per minute) and
read with raw SQL by `options.selectors`. Their composite primary keys start with the key columns
and include the time column, so they become TimescaleDB hypertables where the extension exists
(docs/storage.md); `time` is the minute's open (UTC), like `marketdata_bar`, and every figure is the
state at that minute's close.

Semantics shared with the option-chain API (docs/options.md):

* `*_ltp`: last traded price (the latest bar close at or before the minute, from earlier sessions
  too within `FO_LOOKBACK_DAYS`); `*_price`: the premium IV was solved from (bid/ask mid when live
  and sane, else the LTP); `*_iv_reason`: why IV and greeks are null ('' when solved).
* `*_oi`: open interest at the minute's close; `*_oi_change`: against the previous session's last
  OI (null when that is unknown); `*_volume`: contracts traded in the IST day up to the minute.
* IV a decimal; delta/gamma per point (Black-76: with respect to the forward); theta per day of
  the basis; vega per 1 % volatility.

Market prices recorded as they traded (LTP, spot, futures, strikes) are Decimals; figures computed
by the analytics (forward, IV, greeks, ratios) are double precision.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


def _price(*, null: bool = False) -> models.DecimalField:  # type: ignore[type-arg]
    return models.DecimalField(
        max_digits=settings.PRICE_MAX_DIGITS,
        decimal_places=settings.PRICE_DECIMAL_PLACES,
        null=null,
        blank=null,
    )


def _float() -> models.FloatField:  # type: ignore[type-arg]
    return models.FloatField(null=True, blank=True)


def _count() -> models.BigIntegerField:  # type: ignore[type-arg]
    return models.BigIntegerField(null=True, blank=True)


class ForwardSource(models.TextChoices):
    FUTURES = "futures", "Same-expiry futures"
    SYNTHETIC = "synthetic", "Synthetic forward from the ATM pair"
    SPOT = "spot", "Black-Scholes on spot (fallback)"
    NONE = "none", "No forward (nothing priced)"


class OptionStrikeBar(models.Model):
    """One strike of one expiry at one minute: the call and the put side by side."""

    pk = models.CompositePrimaryKey("underlying", "expiry", "time", "strike")
    underlying = models.CharField(max_length=64)
    expiry = models.DateField()
    time = models.DateTimeField()
    strike = _price()

    spot = _price(null=True)
    forward = _float()
    forward_source = models.CharField(max_length=12, choices=ForwardSource.choices)
    t_years = models.FloatField()

    ce_ltp = _price(null=True)
    ce_price = _float()
    ce_iv = _float()
    ce_iv_reason = models.CharField(max_length=32, blank=True)
    ce_delta = _float()
    ce_gamma = _float()
    ce_theta = _float()
    ce_vega = _float()
    ce_oi = _count()
    ce_oi_change = _count()
    ce_volume = _count()

    pe_ltp = _price(null=True)
    pe_price = _float()
    pe_iv = _float()
    pe_iv_reason = models.CharField(max_length=32, blank=True)
    pe_delta = _float()
    pe_gamma = _float()
    pe_theta = _float()
    pe_vega = _float()
    pe_oi = _count()
    pe_oi_change = _count()
    pe_volume = _count()

    class Meta:
        db_table = "options_strikebar"

    def __str__(self) -> str:
        return f"{self.underlying} {self.expiry} {self.strike} {self.time:%Y-%m-%d %H:%M}"


class ExpiryMetrics(models.Model):
    """Expiry-level figures of one (underlying, expiry) at one minute (docs: DOMAIN.md)."""

    pk = models.CompositePrimaryKey("underlying", "expiry", "time")
    underlying = models.CharField(max_length=64)
    expiry = models.DateField()
    time = models.DateTimeField()

    spot = _price(null=True)
    futures_price = _price(null=True)
    synthetic_forward = _float()
    forward = _float()
    forward_source = models.CharField(max_length=12, choices=ForwardSource.choices)
    t_years = models.FloatField()

    atm_strike = _price(null=True)
    atm_iv = _float()
    straddle = _float()  # ATM call + put premium (the prices IV was solved from)
    max_pain = _price(null=True)
    support = _price(null=True)  # strike of the largest put OI
    resistance = _price(null=True)  # strike of the largest call OI

    pcr_oi = _float()
    pcr_volume = _float()
    pcr_oi_change = _float()
    total_ce_oi = _count()
    total_pe_oi = _count()
    total_ce_oi_change = _count()
    total_pe_oi_change = _count()
    total_ce_volume = _count()  # day volume up to this minute
    total_pe_volume = _count()
    ce_volume_minute = _count()  # traded in this minute alone
    pe_volume_minute = _count()
    strikes = models.PositiveSmallIntegerField(default=0)

    class Meta:
        db_table = "options_expirymetrics"

    def __str__(self) -> str:
        return f"{self.underlying} {self.expiry} {self.time:%Y-%m-%d %H:%M}"
