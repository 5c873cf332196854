"""Writing a batch's partial bars: COPY into a temp table, one merge upsert, one volume fix-up.

The merge (see `_MERGE`) applies the rules of aggregate.py to a stored bar and an incoming partial
bar: high/low widen; open is replaced only by an earlier first tick, close only by a later last tick
(ties broken by price); day_volume keeps the larger. Every rule is idempotent and commutative, so a
repeated delivery changes nothing, a late tick lands where it belongs, and two consumers writing
the same minute converge on the same row whatever the order of their commits. Bars without tick
metadata (imported or backfilled) are authoritative: ticks only widen their high and low.

A bar's volume is its day_volume minus the day_volume of the instrument's previous bar of the same
market day (0 for the day's first bar), so a write can change the volume of the *next* bar too (a
late tick raising an earlier minute's cumulative volume). `_VOLUME_CHECK` recomputes the exact volume
of every written bar and of the next bar after each, in the same transaction, and updates only
those that differ; in the steady state (the forming minute) it updates nothing.
"""

from __future__ import annotations

import io
import logging
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
from django.db import connection, transaction
from django.utils import timezone

from marketdata.history_cache import invalidate_instruments
from marketdata.services.bars import RAW_TABLE
from marketdata.ticks.aggregate import MS_PER_MINUTE, MinuteBars
from marketdata.ticks.decode import NO_VALUE
from tradeviz.timeseries.buckets import bucket_floor
from tradeviz.timeseries.rollups import RollupSpec, refresh_rollup, registered_rollups

logger = logging.getLogger(__name__)

STAGING_TABLE = "_tick_bars"
COLUMNS = (
    "instrument_id", "time", "open", "high", "low", "close", "volume", "oi", "first_tick_ms", "last_tick_ms",
    "day_volume",
)
COPY_CHUNK_BYTES = 1 << 20

# b = the stored bar, x = the incoming partial bar (EXCLUDED). A stored bar with last_tick_ms NULL
# was not built from ticks (import, backfill): it keeps its values except for a wider high/low.
_MERGE = {
    "open": "CASE WHEN b.last_tick_ms IS NOT NULL AND (x.first_tick_ms < b.first_tick_ms OR "
    "(x.first_tick_ms = b.first_tick_ms AND x.open < b.open)) THEN x.open ELSE b.open END",
    "high": "GREATEST(b.high, x.high)",
    "low": "LEAST(b.low, x.low)",
    "close": "CASE WHEN b.last_tick_ms IS NOT NULL AND (x.last_tick_ms > b.last_tick_ms OR "
    "(x.last_tick_ms = b.last_tick_ms AND x.close > b.close)) THEN x.close ELSE b.close END",
    # A first guess, exact unless the previous bar changed (then _VOLUME_CHECK corrects it).
    "volume": "CASE WHEN b.last_tick_ms IS NULL OR x.day_volume IS NULL THEN b.volume "
    "WHEN b.day_volume IS NULL THEN x.volume ELSE b.volume + GREATEST(x.day_volume - b.day_volume, 0) END",
    "oi": "CASE WHEN b.last_tick_ms IS NULL THEN b.oi "
    "WHEN x.last_tick_ms > b.last_tick_ms THEN COALESCE(x.oi, b.oi) "
    "WHEN x.last_tick_ms = b.last_tick_ms THEN GREATEST(b.oi, x.oi) "
    "ELSE COALESCE(b.oi, x.oi) END",
    "first_tick_ms": "CASE WHEN b.last_tick_ms IS NULL THEN NULL ELSE LEAST(b.first_tick_ms, x.first_tick_ms) END",
    "last_tick_ms": "CASE WHEN b.last_tick_ms IS NULL THEN NULL ELSE GREATEST(b.last_tick_ms, x.last_tick_ms) END",
    "day_volume": "CASE WHEN b.last_tick_ms IS NULL THEN NULL ELSE GREATEST(b.day_volume, x.day_volume) END",
}

# Prices leave as float8: events and JSON are floats at the edge (numeric → Decimal would be slow).
_RETURNING = (
    "RETURNING b.instrument_id, (extract(epoch FROM b.time) * 1000)::bigint, b.open::float8, b.high::float8, "
    "b.low::float8, b.close::float8, b.volume, b.oi, b.last_tick_ms"
)

# Rows go in key order so that concurrent consumers lock the rows of one minute in the same order
# (no deadlocks between them, only waits).
_UPSERT = (
    f"INSERT INTO {RAW_TABLE} AS b ({', '.join(COLUMNS)}) "  # noqa: S608 - constants only
    f"SELECT {', '.join(COLUMNS)} FROM {STAGING_TABLE} ORDER BY instrument_id, time "
    "ON CONFLICT (instrument_id, time) DO UPDATE SET "
    + ", ".join(f"{column} = {expr.replace('x.', 'EXCLUDED.')}" for column, expr in _MERGE.items())
    + " WHERE ("
    + ", ".join(f"b.{column}" for column in _MERGE)
    + ") IS DISTINCT FROM ("
    + ", ".join(expr.replace("x.", "EXCLUDED.") for expr in _MERGE.values())
    + f") {_RETURNING}"
)

_DAY_START = "date_trunc('day', {col} AT TIME ZONE 'Asia/Kolkata') AT TIME ZONE 'Asia/Kolkata'"

# The exact volume of each candidate bar: its day_volume minus the previous bar's of the same
# market day. When that previous bar has no day_volume (imported, or ticks without volume), the
# day's volume before this bar is the sum of the earlier bars' volumes. Only bars whose stored
# volume differs come back (usually none); `_SET_VOLUMES` then updates exactly those rows. Two
# statements rather than UPDATE … FROM (…): the planner, misjudging the CTE's size, would hash-join
# the whole bar table.
_WRONG_VOLUMES = f"""
SELECT b.instrument_id, b.time, e.volume FROM candidates AS c
JOIN {RAW_TABLE} AS b ON b.instrument_id = c.instrument_id AND b.time = c.time
LEFT JOIN LATERAL (
    SELECT p.time, p.day_volume FROM {RAW_TABLE} AS p
    WHERE p.instrument_id = c.instrument_id AND p.time < c.time AND p.time >= c.day_start
    ORDER BY p.time DESC LIMIT 1
) AS p ON true
CROSS JOIN LATERAL (
    SELECT GREATEST(b.day_volume - CASE
        WHEN p.time IS NULL THEN 0
        WHEN p.day_volume IS NOT NULL THEN p.day_volume
        ELSE (SELECT COALESCE(sum(s.volume), 0) FROM {RAW_TABLE} AS s
              WHERE s.instrument_id = b.instrument_id AND s.time >= c.day_start AND s.time < b.time)
    END, 0)::bigint AS volume
) AS e
WHERE b.day_volume IS NOT NULL AND b.last_tick_ms IS NOT NULL AND b.volume <> e.volume
"""  # noqa: S608 - constants only

_SET_VOLUMES = f"""
UPDATE {RAW_TABLE} AS b SET volume = u.volume
FROM unnest(%s::bigint[], %s::timestamptz[], %s::bigint[]) AS u(instrument_id, time, volume)
WHERE b.instrument_id = u.instrument_id AND b.time = u.time
{_RETURNING}
"""  # noqa: S608 - constants only

_VOLUME_CHECK = f"""
WITH touched AS (
    SELECT instrument_id, time, {_DAY_START.format(col="time")} AS day_start FROM {STAGING_TABLE}
),
candidates AS (
    SELECT instrument_id, time, day_start FROM touched
    UNION
    SELECT t.instrument_id, n.time, t.day_start
    FROM touched AS t
    CROSS JOIN LATERAL (
        SELECT n.time FROM {RAW_TABLE} AS n
        WHERE n.instrument_id = t.instrument_id AND n.time > t.time AND n.time < t.day_start + interval '1 day'
          AND n.day_volume IS NOT NULL
        ORDER BY n.time LIMIT 1
    ) AS n
)
{_WRONG_VOLUMES}
"""  # noqa: S608 - constants only

_MINUTE_VOLUME_CHECK = f"""
WITH candidates AS (
    SELECT instrument_id, time, {_DAY_START.format(col="time")} AS day_start
    FROM {RAW_TABLE} WHERE instrument_id = ANY(%s) AND time = %s AND day_volume IS NOT NULL
)
{_WRONG_VOLUMES}
"""  # noqa: S608 - constants only

_BARS_AT = f"""
SELECT b.instrument_id, (extract(epoch FROM b.time) * 1000)::bigint, b.open::float8, b.high::float8,
       b.low::float8, b.close::float8, b.volume, b.oi, b.last_tick_ms
FROM {RAW_TABLE} AS b WHERE b.instrument_id = ANY(%s) AND b.time = %s
"""  # noqa: S608 - constants only


@dataclass(frozen=True, slots=True)
class StoredBar:
    """A bar as stored after a write (prices as floats, for events)."""

    instrument_id: int
    minute_ms: int
    open: float
    high: float
    low: float
    close: float
    volume: int
    oi: int | None
    last_tick_ms: int | None

    @classmethod
    def of(cls, row: tuple[Any, ...]) -> StoredBar:
        return cls(*row)


def _ms_to_datetime(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def _arrow(bars: MinuteBars) -> pa.Table:
    def optional(values: np.ndarray) -> pa.Array:
        return pa.array(values, type=pa.int64(), mask=values == NO_VALUE)

    return pa.table(
        {
            "instrument_id": pa.array(bars.instrument_id, pa.int64()),
            "time": pa.array(bars.minute_ms, pa.timestamp("ms", tz="UTC")),
            "open": pa.array(bars.open, pa.float64()),
            "high": pa.array(bars.high, pa.float64()),
            "low": pa.array(bars.low, pa.float64()),
            "close": pa.array(bars.close, pa.float64()),
            "volume": pa.array(bars.volume, pa.int64()),
            "oi": optional(bars.oi),
            "first_tick_ms": pa.array(bars.first_ms, pa.int64()),
            "last_tick_ms": pa.array(bars.last_ms, pa.int64()),
            "day_volume": optional(bars.day_volume),
        }
    )


def _copy(cursor: Any, table: pa.Table) -> None:
    buffer = io.BytesIO()
    pacsv.write_csv(table, buffer, pacsv.WriteOptions(include_header=False, quoting_style="needed"))
    view = buffer.getbuffer()
    with cursor.cursor.copy(f"COPY {STAGING_TABLE} ({', '.join(table.column_names)}) FROM STDIN WITH (FORMAT csv)") as copy:
        for start in range(0, len(view), COPY_CHUNK_BYTES):
            copy.write(view[start : start + COPY_CHUNK_BYTES])


def write_bars(bars: MinuteBars) -> dict[tuple[int, int], StoredBar]:
    """Merge a batch's partial bars into marketdata_bar in one transaction.

    Returns the bars whose stored values changed, keyed by (instrument_id, minute_ms), as stored
    after the write. Raises on any database error, leaving nothing written.
    """
    if len(bars) == 0:
        return {}
    changed: dict[tuple[int, int], StoredBar] = {}
    nested = connection.in_atomic_block
    with connection.cursor() as cursor:
        _prepare_session(cursor, recheck=nested)  # outside our transaction: it must outlive a rollback
    with transaction.atomic(), connection.cursor() as cursor:
        if nested:
            # ON COMMIT DELETE ROWS empties the table at our commits; an outer transaction (tests)
            # has none between two writes.
            cursor.execute(f"DELETE FROM {STAGING_TABLE}")  # noqa: S608 - a constant
        _copy(cursor, _arrow(bars))
        cursor.execute(_UPSERT)
        for row in cursor.fetchall():
            bar = StoredBar.of(row)
            changed[(bar.instrument_id, bar.minute_ms)] = bar
        for bar in _fix_volumes(cursor, _VOLUME_CHECK, []):
            changed[(bar.instrument_id, bar.minute_ms)] = bar
    return changed


# Database sessions (psycopg connections) already set up by _prepare_session.
_prepared: weakref.WeakSet[Any] = weakref.WeakSet()


def _prepare_session(cursor: Any, *, recheck: bool) -> None:
    """Once per database session: the staging table (a temp table lives as long as the session, so a
    reconnect after a database restart creates it again) and no JIT — these statements are index
    lookups over a few thousand rows, and the planner's inflated estimates for them would otherwise
    buy ~0.5 s of JIT compilation per batch."""
    session = connection.connection
    # `recheck`: inside a caller's transaction (tests) the table may vanish with its rollback.
    if session in _prepared and not recheck:
        return
    cursor.execute(
        "SET jit = off; "
        f"CREATE TEMP TABLE IF NOT EXISTS {STAGING_TABLE} (LIKE {RAW_TABLE} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
    )
    if not recheck:
        _prepared.add(session)


def _fix_volumes(cursor: Any, check_sql: str, params: list[Any]) -> list[StoredBar]:
    cursor.execute(check_sql, params)
    wrong = cursor.fetchall()
    if not wrong:
        return []
    ids, times, volumes = (list(column) for column in zip(*wrong, strict=True))
    cursor.execute(_SET_VOLUMES, [ids, times, volumes])
    return [StoredBar.of(row) for row in cursor.fetchall()]


def fix_minute_volumes(minute_ms: int, instrument_ids: list[int]) -> list[StoredBar]:
    """Recompute the exact volume of these instruments' tick-built bars of one minute (at its close).

    Catches the one race the per-batch fix-up cannot see: two consumers committing a minute and a
    late tick of the minute before it at the same moment. Returns the bars corrected.
    """
    nested = connection.in_atomic_block
    with connection.cursor() as cursor:
        _prepare_session(cursor, recheck=nested)
    with transaction.atomic(), connection.cursor() as cursor:
        return _fix_volumes(cursor, _MINUTE_VOLUME_CHECK, [instrument_ids, _ms_to_datetime(minute_ms)])


def bars_at(minute_ms: int, instrument_ids: list[int]) -> list[StoredBar]:
    """The stored bars of these instruments for one minute (primary-key lookups)."""
    with connection.cursor() as cursor:
        cursor.execute(_BARS_AT, [instrument_ids, _ms_to_datetime(minute_ms)])
        return [StoredBar.of(row) for row in cursor.fetchall()]


def rollups_needing_refresh(*, start_ms: int, now: datetime) -> list[RollupSpec]:
    """The bar rollups with a closed bucket at or after `start_ms`.

    A bucket still open is served live from the raw table by every rollup (real-time aggregation on
    TimescaleDB, the live view on plain PostgreSQL), so writes to it need no refresh.
    """
    start = _ms_to_datetime(start_ms)
    return [
        spec
        for spec in registered_rollups()
        if spec.source_table == RAW_TABLE and bucket_floor(spec.resolution, start) < bucket_floor(spec.resolution, now)
    ]


def refresh_rollups(*, start_ms: int, end_ms: int, now: datetime | None = None) -> None:
    """Refresh the rollups over the minutes [start_ms, end_ms] (closed buckets only)."""
    current = now or timezone.now()
    for spec in rollups_needing_refresh(start_ms=start_ms, now=current):
        refresh_rollup(
            spec, _ms_to_datetime(start_ms), _ms_to_datetime(end_ms) + timedelta(milliseconds=MS_PER_MINUTE),
            now=current,
        )


def invalidate(instrument_ids: Iterable[int]) -> None:
    """New bars for these instruments: the history cache must stop serving old answers."""
    invalidate_instruments(instrument_ids)
