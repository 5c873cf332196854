"""Writing minute bars: set-based upserts through COPY, and what must follow every write.

Every writer (import, backfill, the tick consumer, demo data) ends with `bars_written`, which
refreshes the rollups over the touched window and invalidates the history cache of the touched
instruments.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.csv as pacsv
from django.db import IntegrityError, connection, transaction

logger = logging.getLogger(__name__)

RAW_TABLE = "marketdata_bar"
BAR_WIDTH = timedelta(minutes=1)


@dataclass(frozen=True)
class BarBatch:
    """Columnar bars ready to write. `time` is int64 epoch microseconds (UTC)."""

    instrument_id: npt.NDArray[np.int64]
    time_us: npt.NDArray[np.int64]
    open: npt.NDArray[np.float64]
    high: npt.NDArray[np.float64]
    low: npt.NDArray[np.float64]
    close: npt.NDArray[np.float64]
    volume: npt.NDArray[np.int64]
    oi: npt.NDArray[np.float64]  # NaN = no open interest

    @classmethod
    def empty(cls) -> BarBatch:
        ints, floats = np.array([], dtype=np.int64), np.array([], dtype=np.float64)
        return cls(ints, ints, floats, floats, floats, floats, ints, floats)

    def __len__(self) -> int:
        return int(self.instrument_id.shape[0])

    def to_arrow(self) -> pa.Table:
        oi = pa.array(self.oi, mask=np.isnan(self.oi)).cast(pa.int64())
        return pa.table(
            {
                "instrument_id": pa.array(self.instrument_id, pa.int64()),
                "time": pa.array(self.time_us, pa.timestamp("us", tz="UTC")),
                "open": pa.array(self.open, pa.float64()),
                "high": pa.array(self.high, pa.float64()),
                "low": pa.array(self.low, pa.float64()),
                "close": pa.array(self.close, pa.float64()),
                "volume": pa.array(self.volume, pa.int64()),
                "oi": oi,
            }
        )


def _copy_csv(table: pa.Table, target: str) -> None:
    """Stream an Arrow table into `target` with COPY … FROM STDIN (CSV): the fastest path in."""
    buffer = io.BytesIO()
    pacsv.write_csv(table, buffer, pacsv.WriteOptions(include_header=False, quoting_style="needed"))
    columns = ", ".join(table.column_names)
    with connection.cursor() as cursor, cursor.cursor.copy(  # type: ignore[attr-defined]
        f"COPY {target} ({columns}) FROM STDIN WITH (FORMAT csv)"
    ) as copy:
        view = buffer.getbuffer()
        chunk = 1 << 20
        for start in range(0, len(view), chunk):
            copy.write(view[start : start + chunk])


# Re-importing identical rows must change nothing: only rows whose values differ are updated.
_UPSERT_SQL = """
INSERT INTO marketdata_bar AS b (instrument_id, time, open, high, low, close, volume, oi)
SELECT instrument_id, time, open, high, low, close, volume, oi FROM _bars_in
ON CONFLICT (instrument_id, time) DO UPDATE
SET open = EXCLUDED.open, high = EXCLUDED.high, low = EXCLUDED.low, close = EXCLUDED.close,
    volume = EXCLUDED.volume, oi = EXCLUDED.oi,
    -- A replaced bar is authoritative: later ticks must not merge against the old ticks' metadata.
    first_tick_ms = NULL, last_tick_ms = NULL, day_volume = NULL
WHERE (b.open, b.high, b.low, b.close, b.volume, b.oi)
      IS DISTINCT FROM (EXCLUDED.open, EXCLUDED.high, EXCLUDED.low, EXCLUDED.close, EXCLUDED.volume, EXCLUDED.oi)
"""


def bars_upsert(*, batch: BarBatch, notify: bool = True) -> int:
    """Insert or replace bars (last write wins per (instrument, minute)); returns rows changed.

    Rows identical to the stored ones are skipped, so a repeated import is a no-op. Runs in one
    transaction: either the whole batch is stored or none of it.
    """
    if len(batch) == 0:
        return 0
    table = batch.to_arrow()
    with transaction.atomic(), connection.cursor() as cursor:
        changed = _copy_new_rows(cursor, batch, table)
        if changed is None:
            cursor.execute(
                "CREATE TEMP TABLE IF NOT EXISTS _bars_in (LIKE marketdata_bar INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
            )
            _copy_csv(table, "_bars_in")
            cursor.execute(_UPSERT_SQL)
            changed = cursor.rowcount
    if notify and changed:
        times = batch.time_us.astype("datetime64[us]")
        bars_written(
            instrument_ids=np.unique(batch.instrument_id).tolist(),
            start=_to_datetime(times.min()),
            end=_to_datetime(times.max()),
        )
    return int(changed)


def _copy_new_rows(cursor: Any, batch: BarBatch, table: pa.Table) -> int | None:
    """Fast path: when no stored bar overlaps the batch (a first import, a backfill of a gap), COPY
    straight into the table — no staging, no conflict checks. Returns None to fall back to the upsert.

    A concurrent writer could slip a row in between the check and the COPY; the COPY then fails on
    the primary key inside its savepoint and the caller upserts instead.
    """
    ids = np.unique(batch.instrument_id).tolist()
    start, end = _to_datetime(batch.time_us.min()), _to_datetime(batch.time_us.max())
    cursor.execute(
        f"SELECT EXISTS (SELECT 1 FROM {RAW_TABLE} WHERE instrument_id = ANY(%s) AND time >= %s AND time <= %s)",
        [ids, start, end],
    )
    if cursor.fetchone()[0]:
        return None
    try:
        with transaction.atomic():
            _copy_csv(table, RAW_TABLE)
    except IntegrityError:
        logger.info("bars: concurrent write during COPY; falling back to upsert")
        return None
    return len(batch)


def _to_datetime(value: np.datetime64) -> datetime:
    return value.astype("datetime64[us]").astype(datetime).replace(tzinfo=UTC)


def bars_written(*, instrument_ids: Iterable[int], start: datetime, end: datetime) -> None:
    """Bring derived data up to date after bars in [start, end] changed for these instruments."""
    from marketdata.history_cache import invalidate_instruments
    from tradeviz.timeseries.rollups import refresh_registered_rollups

    # `end` is the last written minute; the refresh window is half-open.
    refresh_registered_rollups(start=start, end=end + BAR_WIDTH, source_table=RAW_TABLE)
    invalidate_instruments(instrument_ids)
