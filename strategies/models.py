"""Strategies: a named set of legs (instrument positions) whose mark-to-market is tracked minute by minute.

Writes go through `strategies.services`; the M2M job (`strategies.m2m`) updates the totals, the
last marks and the candles in bulk SQL.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models

TAG_MAX_LENGTH = 32


def _price(**kwargs: object) -> models.DecimalField:  # type: ignore[type-arg]
    return models.DecimalField(
        max_digits=settings.PRICE_MAX_DIGITS, decimal_places=settings.PRICE_DECIMAL_PLACES, **kwargs  # type: ignore[arg-type]
    )


class StrategyStatus(models.TextChoices):
    ACTIVE = "ACTIVE", "Active"
    PAUSED = "PAUSED", "Paused"
    CLOSED = "CLOSED", "Closed"


class Strategy(models.Model):
    """A user's strategy. Only ACTIVE strategies are marked to market; CLOSED is final."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="strategies")
    trading_account = models.ForeignKey(
        "accounts.TradingAccount", null=True, blank=True, on_delete=models.SET_NULL, related_name="strategies"
    )
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    tags = ArrayField(models.CharField(max_length=TAG_MAX_LENGTH), default=list, blank=True)
    status = models.CharField(max_length=8, choices=StrategyStatus.choices, default=StrategyStatus.ACTIVE)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    # Totals of the latest M2M run (or of the close): total = realised + unrealised.
    current_m2m = _price(default=0)
    realised_pnl = _price(default=0)
    unrealised_pnl = _price(default=0)
    stale_legs = models.PositiveIntegerField(default=0)
    m2m_updated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at", "-id")
        verbose_name_plural = "strategies"
        indexes = [models.Index(fields=["status"], name="strategy_status_idx")]

    def __str__(self) -> str:
        return self.name


class LegSide(models.TextChoices):
    BUY = "BUY", "Buy"
    SELL = "SELL", "Sell"


class LegStatus(models.TextChoices):
    OPEN = "OPEN", "Open"
    CLOSED = "CLOSED", "Closed"


class StrategyInstrument(models.Model):
    """One leg: `lots` of an instrument bought or sold at `entry_price`; CLOSED once it has an exit.

    `quantity` is in units (lots x the instrument's lot size at the time the leg was written).
    """

    strategy = models.ForeignKey(Strategy, on_delete=models.CASCADE, related_name="legs")
    instrument = models.ForeignKey("marketdata.Instrument", on_delete=models.PROTECT, related_name="+")
    side = models.CharField(max_length=4, choices=LegSide.choices)
    lots = models.PositiveIntegerField()
    quantity = models.PositiveIntegerField()
    entry_price = _price()
    entry_time = models.DateTimeField()
    exit_price = _price(null=True, blank=True)
    exit_time = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=8, choices=LegStatus.choices, default=LegStatus.OPEN)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("strategy_id", "id")
        verbose_name = "leg"
        constraints = [
            models.CheckConstraint(condition=models.Q(lots__gt=0), name="leg_lots_positive"),
            models.CheckConstraint(
                condition=models.Q(exit_time__isnull=True) | models.Q(exit_time__gte=models.F("entry_time")),
                name="leg_exit_after_entry",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.side} {self.lots} lot(s) of {self.instrument_id}"


class InstrumentMark(models.Model):
    """The last price the M2M job used for an instrument, and whether it was fresh.

    One row per instrument held by any strategy (not per leg): every leg on the instrument is
    marked at the same price, and a leg whose price is missing carries this one, flagged stale.
    """

    instrument = models.OneToOneField(
        "marketdata.Instrument", primary_key=True, on_delete=models.CASCADE, related_name="+"
    )
    price = _price()
    price_time = models.DateTimeField(help_text="When the price was quoted")
    source = models.CharField(max_length=8, help_text="redis, ticker or carried")
    stale = models.BooleanField(default=False)
    updated_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.instrument_id} {self.price}{' (stale)' if self.stale else ''}"


class M2MCandle(models.Model):
    """One minute of a strategy's mark-to-market: OHLC of the total, and its split at the close.

    `time` is the minute's open (UTC). A time series (composite primary key with the time column,
    a hypertable on TimescaleDB; docs/storage.md).
    """

    pk = models.CompositePrimaryKey("strategy", "time")
    # No database constraint: the M2M job writes thousands of rows a minute, all for strategies it
    # just read; deleting a strategy still deletes its candles (Django emulates CASCADE).
    strategy = models.ForeignKey(Strategy, on_delete=models.CASCADE, related_name="+", db_constraint=False)
    time = models.DateTimeField()
    open = _price()
    high = _price()
    low = _price()
    close = _price()
    realised = _price()
    unrealised = _price()
    stale_legs = models.PositiveSmallIntegerField(default=0)

    class Meta:
        db_table = "strategies_m2mcandle"
        verbose_name = "M2M candle"

    def __str__(self) -> str:
        return f"{self.strategy_id} {self.time:%Y-%m-%d %H:%M} {self.close}"
