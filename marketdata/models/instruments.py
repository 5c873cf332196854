from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.db import models


class Exchange(models.TextChoices):
    NSE = "NSE", "NSE"
    NFO = "NFO", "NSE F&O"
    BSE = "BSE", "BSE"
    BFO = "BFO", "BSE F&O"
    SIM = "SIM", "Simulated exchange"


class InstrumentType(models.TextChoices):
    INDEX = "INDEX", "Index"
    EQ = "EQ", "Equity"
    FUT = "FUT", "Futures"
    CE = "CE", "Call option"
    PE = "PE", "Put option"


class Instrument(models.Model):
    """One tradable or reference instrument from the broker instrument master.

    `instrument_token` is the broker's id and the key of every upsert. `symbol` is the normalised
    `EXCHANGE:TRADINGSYMBOL` (see marketdata.symbols) used by UDF and every lookup by name.
    """

    instrument_token = models.BigIntegerField(unique=True)
    exchange_token = models.BigIntegerField(null=True, blank=True)
    tradingsymbol = models.CharField(max_length=64)
    name = models.CharField(max_length=128, blank=True)
    exchange = models.CharField(max_length=8, choices=Exchange.choices)
    segment = models.CharField(max_length=16, blank=True)
    instrument_type = models.CharField(max_length=8, choices=InstrumentType.choices)
    symbol = models.CharField(max_length=80, unique=True, editable=False)
    underlying = models.CharField(max_length=64, blank=True, db_index=True)
    expiry = models.DateField(null=True, blank=True)
    strike = models.DecimalField(
        max_digits=settings.PRICE_MAX_DIGITS, decimal_places=settings.PRICE_DECIMAL_PLACES, null=True, blank=True
    )
    lot_size = models.PositiveIntegerField(default=1)
    tick_size = models.DecimalField(
        max_digits=settings.PRICE_MAX_DIGITS, decimal_places=settings.PRICE_DECIMAL_PLACES, default="0.05"
    )
    last_price = models.DecimalField(
        max_digits=settings.PRICE_MAX_DIGITS, decimal_places=settings.PRICE_DECIMAL_PLACES, null=True, blank=True
    )
    is_active = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("exchange", "tradingsymbol")
        indexes = [
            models.Index(fields=["underlying", "expiry", "instrument_type"], name="instr_chain_idx"),
            GinIndex(fields=["tradingsymbol"], name="instr_tsym_trgm", opclasses=["gin_trgm_ops"]),
            GinIndex(fields=["name"], name="instr_name_trgm", opclasses=["gin_trgm_ops"]),
        ]

    def __str__(self) -> str:
        return self.symbol

    def save(self, *args: object, **kwargs: object) -> None:
        from marketdata.symbols import make_symbol

        self.symbol = make_symbol(self.exchange, self.tradingsymbol)
        super().save(*args, **kwargs)  # type: ignore[arg-type]
