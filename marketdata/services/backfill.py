"""Filling gaps in minute bars from the ticker service's /history.

Gaps are found from the session calendar, not assumed: for every session of the instrument's
exchange in the range, the minutes that should exist (open … close-1) minus the minutes stored,
computed in SQL. Contiguous missing minutes become ranges; each range is fetched and written
through the normal bar write path (so rollups and caches follow).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np
from django.db import connection

from marketdata.calendar import sessions_in_range
from marketdata.models import Instrument
from marketdata.services.bars import BarBatch, bars_upsert
from marketdata.ticker_client import TickerClient, ticker_client

logger = logging.getLogger(__name__)

MINUTE = timedelta(minutes=1)
HISTORY_ROW_FIELDS = 7  # ts_ms, o, h, l, c, v, oi
INDEX_EXCHANGES_WITH_DERIVATIVES = {"NSE": "NSE", "NFO": "NSE", "SIM": "SIM"}


@dataclass(frozen=True)
class Gap:
    start: datetime  # first missing minute
    end: datetime  # one past the last missing minute

    @property
    def minutes(self) -> int:
        return int((self.end - self.start) / MINUTE)


@dataclass
class BackfillReport:
    gaps: int = 0
    missing_minutes: int = 0
    fetched: int = 0
    written: int = 0
    rejected: int = 0


_MISSING_SQL = """
SELECT m FROM unnest(%s::timestamptz[], %s::timestamptz[]) AS s(open, close)
CROSS JOIN LATERAL generate_series(s.open, s.close - interval '1 minute', interval '1 minute') AS m
WHERE NOT EXISTS (SELECT 1 FROM marketdata_bar b WHERE b.instrument_id = %s AND b.time = m)
ORDER BY m
"""


def find_gaps(*, instrument: Instrument, start: date, end: date, now: datetime | None = None) -> list[Gap]:
    """Missing minutes of the instrument's sessions in [start, end] (up to `now`), as ranges."""
    now = now or datetime.now(tz=UTC)
    calendar_exchange = INDEX_EXCHANGES_WITH_DERIVATIVES.get(instrument.exchange, instrument.exchange)
    sessions = [s for s in sessions_in_range(start, end, calendar_exchange) if s.open < now]
    if not sessions:
        return []
    opens = [s.open for s in sessions]
    closes = [min(s.close, now.replace(second=0, microsecond=0)) for s in sessions]
    with connection.cursor() as cursor:
        cursor.execute(_MISSING_SQL, [opens, closes, instrument.pk])
        missing = [row[0] for row in cursor.fetchall()]
    gaps: list[Gap] = []
    for minute in missing:
        if gaps and gaps[-1].end == minute:
            gaps[-1] = Gap(gaps[-1].start, minute + MINUTE)
        else:
            gaps.append(Gap(minute, minute + MINUTE))
    return gaps


def _batch_from_history(instrument_id: int, rows: list[list[float]], gap: Gap) -> tuple[BarBatch, int]:
    """Valid candles inside the gap; returns the batch and the number of rows rejected."""
    clean = [r for r in rows if isinstance(r, list | tuple) and len(r) >= HISTORY_ROW_FIELDS - 1]
    if not clean:
        return BarBatch.empty(), len(rows)
    data = np.array([[*r[:6], r[6] if len(r) > 6 and r[6] is not None else np.nan] for r in clean], dtype=np.float64)
    time_us = (data[:, 0] * 1000).astype(np.int64)
    o, h, low, c, v = data[:, 1], data[:, 2], data[:, 3], data[:, 4], data[:, 5]
    start_us, end_us = int(gap.start.timestamp()) * 1_000_000, int(gap.end.timestamp()) * 1_000_000
    ok = (
        np.isfinite(data[:, :6]).all(axis=1) & (o > 0) & (low > 0) & (h >= np.maximum(o, c)) & (low <= np.minimum(o, c))
        & (v >= 0) & (time_us >= start_us) & (time_us < end_us) & (time_us % 60_000_000 == 0)
    )
    kept = int(ok.sum())
    batch = BarBatch(
        instrument_id=np.full(kept, instrument_id, dtype=np.int64), time_us=time_us[ok], open=o[ok], high=h[ok],
        low=low[ok], close=c[ok], volume=v[ok].astype(np.int64), oi=data[ok, 6],
    )
    return batch, len(rows) - kept


def backfill_instrument(
    *, instrument: Instrument, start: date, end: date, client: TickerClient | None = None, now: datetime | None = None
) -> BackfillReport:
    """Fetch and store every missing minute of the instrument's sessions in [start, end]."""
    client = client or ticker_client()
    report = BackfillReport()
    for gap in find_gaps(instrument=instrument, start=start, end=end, now=now):
        report.gaps += 1
        report.missing_minutes += gap.minutes
        rows = client.history(instrument.instrument_token, gap.start, gap.end)
        report.fetched += len(rows)
        batch, rejected = _batch_from_history(instrument.pk, rows, gap)
        report.rejected += rejected
        report.written += bars_upsert(batch=batch)
    logger.info(
        "backfill done",
        extra={"instrument": instrument.symbol, "gaps": report.gaps, "missing_minutes": report.missing_minutes,
               "fetched": report.fetched, "written": report.written, "rejected_rows": report.rejected},
    )
    return report


def queue_backfills(*, today: date | None = None) -> int:
    """Queue `marketdata.backfill_instrument` for active instruments with bars in the lookback window.

    Disabled (returns 0, logged) when no ticker service is configured.
    """
    from django.conf import settings

    from marketdata.tasks import backfill_instrument as task

    if not settings.TICKER_SERVICE_URL:
        logger.info("backfill disabled: TICKER_SERVICE_URL is not set")
        return 0
    today = today or datetime.now(tz=UTC).date()
    start = today - timedelta(days=settings.BACKFILL_LOOKBACK_DAYS)
    since = datetime.combine(start, datetime.min.time(), UTC)
    with connection.cursor() as cursor:
        cursor.execute(
            # The daily rollup is small: one row per instrument per day.
            "SELECT DISTINCT d.instrument_id FROM marketdata_bar_1d d JOIN marketdata_instrument i"
            " ON i.id = d.instrument_id WHERE d.bucket >= %s AND i.is_active",
            [since],
        )
        ids = [row[0] for row in cursor.fetchall()]
    for instrument_id in ids:
        task.delay(instrument_id, start.isoformat(), today.isoformat())
    logger.info("backfills queued", extra={"instruments": len(ids)})
    return len(ids)
