from __future__ import annotations

from django.conf import settings
from django.db import models

from .instruments import Instrument


def _price() -> models.DecimalField:  # type: ignore[type-arg]
    return models.DecimalField(max_digits=settings.PRICE_MAX_DIGITS, decimal_places=settings.PRICE_DECIMAL_PLACES)


class Bar(models.Model):
    """One 1-minute OHLCV(+OI) bar of an instrument; `time` is the minute's open (UTC).

    The composite primary key includes the time column so the table can be a TimescaleDB
    hypertable (see the migration and docs/storage.md). Rollups (5m, 15m, 1h, 1D) are built from it.
    """

    pk = models.CompositePrimaryKey("instrument", "time")
    # No database-level constraint: checking it costs ~5 µs per inserted row (half the time of a bulk
    # import) and every writer takes instrument ids from the instrument table anyway. Deleting an
    # instrument still deletes its bars (Django emulates CASCADE).
    instrument = models.ForeignKey(Instrument, on_delete=models.CASCADE, related_name="+", db_constraint=False)
    time = models.DateTimeField()
    open = _price()
    high = _price()
    low = _price()
    close = _price()
    volume = models.BigIntegerField(default=0)
    oi = models.BigIntegerField(null=True, blank=True)
    # Tick metadata, written by the tick consumer only (NULL for imported/backfilled bars, which are
    # then authoritative): the event times of the ticks behind `open` and `close`, and the day's
    # cumulative volume at the bar's last tick. They make merging a late or repeated tick exact and
    # idempotent (see docs/ingestion.md). UDF and the rollups ignore them.
    first_tick_ms = models.BigIntegerField(null=True, blank=True)
    last_tick_ms = models.BigIntegerField(null=True, blank=True)
    day_volume = models.BigIntegerField(null=True, blank=True)

    class Meta:
        db_table = "marketdata_bar"

    def __str__(self) -> str:
        return f"{self.instrument_id} {self.time:%Y-%m-%d %H:%M}"
