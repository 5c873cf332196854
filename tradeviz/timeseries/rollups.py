"""Rollups of OHLCV-like time-series tables into coarser buckets (5m, 15m, 1h, 1D, …).

A `RollupSpec` declares the rollup; `CreateRollup` (operations.py) creates it in a migration; the
beat task keeps it fresh; readers query `rollup_relation(spec)`. Both backends expose one relation
named `spec.name` with the columns `bucket` (timestamptz), the key columns and the aggregate columns,
in that order, with identical types and identical rows for the same source data:

* TimescaleDB: a continuous aggregate with real-time aggregation (`materialized_only = false`), so
  the bucket still forming is computed from the raw rows at query time; `time_bucket` with the NSE
  origin; `first()` / `last()`; a refresh policy. For 1D the aggregate buckets by IST midnight and a
  plain view named `spec.name` shifts the bucket by +05:30 to the daily stamp (00:00 UTC of the IST
  date), because a continuous aggregate can only group by `time_bucket` on the raw time column.
* Plain PostgreSQL: a summary table `<name>_store` (primary key (keys…, bucket)) upserted by
  `refresh_rollup`, plus a view named `spec.name` that does what TimescaleDB's real-time aggregation
  does: materialized buckets below a watermark UNION ALL buckets aggregated live from the source at
  and after it. The watermark (per rollup, in `tradeviz_rollup_watermark`) only ever covers closed
  buckets, so the live bar is merged in exactly as on TimescaleDB.

Refreshing never materializes the bucket that is still open (its end is after `now`): that bucket
is always served live by the view / real-time aggregation, on both backends.
"""

from __future__ import annotations

import enum
import logging
import threading
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from django.db import connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone

from tradeviz.timeseries.buckets import (
    IST_UTC_OFFSET_SQL,
    Resolution,
    bucket_ceil,
    bucket_floor,
    bucket_sql,
    bucket_stamp,
    daily_stamp_sql,
    daily_time_bucket_sql,
    parse_resolution,
)
from tradeviz.timeseries.detect import timescale_available
from tradeviz.timeseries.sql import check_identifier, interval_literal, qn

# SQL here is assembled from identifiers that passed check_identifier (lower-case letters, digits and
# underscores) and are double-quoted, and from constants; values always travel as parameters. Hence
# the S608 suppressions below.

logger = logging.getLogger(__name__)

STORE_SUFFIX = "_store"
CAGG_SUFFIX = "_cagg"
WATERMARK_TABLE = "tradeviz_rollup_watermark"
BUCKET_COLUMN = "bucket"
# Longest suffix appended to a rollup name (its summary table, index or continuous aggregate).
_NAME_RESERVE = len(STORE_SUFFIX) + len("_pkey")
DEFAULT_POLICY_START_OFFSET = timedelta(days=3)
# TimescaleDB refuses a refresh-policy window smaller than two buckets.
MIN_POLICY_WINDOW_BUCKETS = 2
MAX_POLICY_SCHEDULE = timedelta(hours=1)
# The beat job (every minute) re-aggregates this much recent history, which picks up ticks that
# arrived late for buckets that had already closed. Older rewrites (backfill) must call
# `refresh_rollup` / `refresh_registered_rollups` for the range they wrote.
DEFAULT_REFRESH_WINDOW = timedelta(minutes=30)
_ADVISORY_LOCK_NAMESPACE = 0x7476  # "tv": keeps our advisory lock keys apart from other users'
_CAST_TYPES = frozenset({"bigint", "integer", "smallint", "numeric", "double precision", "real"})


class AggregateKind(enum.StrEnum):
    FIRST = "first"  # value at the earliest time in the bucket
    LAST = "last"  # value at the latest time in the bucket
    MAX = "max"
    MIN = "min"
    SUM = "sum"


@dataclass(frozen=True)
class RollupColumn:
    """One aggregate column: `output` = kind(`source`) [cast to `cast`]."""

    output: str
    kind: AggregateKind
    source: str = ""
    cast: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", AggregateKind(self.kind))
        check_identifier(self.output, what="rollup column")
        object.__setattr__(self, "source", check_identifier(self.source or self.output, what="source column"))
        if self.cast is not None and self.cast not in _CAST_TYPES:
            raise ValueError(f"cast {self.cast!r} must be one of {sorted(_CAST_TYPES)}")

    def deconstruct(self) -> tuple[str, list[Any], dict[str, Any]]:
        kwargs: dict[str, Any] = {"output": self.output, "kind": self.kind.value}
        if self.source != self.output:
            kwargs["source"] = self.source
        if self.cast is not None:
            kwargs["cast"] = self.cast
        return f"{__name__}.RollupColumn", [], kwargs


ColumnDecl = RollupColumn | tuple[str, str] | tuple[str, str, str]


def _as_column(decl: ColumnDecl) -> RollupColumn:
    if isinstance(decl, RollupColumn):
        return decl
    output, kind, *source = decl
    return RollupColumn(output=output, kind=AggregateKind(kind), source=source[0] if source else "")


@dataclass(frozen=True)
class RollupSpec:
    """A rollup of `source_table` into `bucket`-sized buckets per key.

    `aggregates` takes RollupColumn objects or `(output, kind)` / `(output, kind, source)` tuples.
    `bucket` is a resolution from buckets.py: an intraday size dividing a day (continuous aggregates
    need one fixed origin) or `1D`. The policy_* values configure TimescaleDB's refresh policy;
    `policy_end_offset` defaults to one bucket, `policy_schedule_interval` to one bucket (≤ 1 hour).
    """

    name: str
    source_table: str
    bucket: str
    aggregates: Sequence[ColumnDecl]
    time_column: str = "time"
    key_columns: Sequence[str] = ("instrument_id",)
    policy_start_offset: timedelta = DEFAULT_POLICY_START_OFFSET
    policy_end_offset: timedelta | None = None
    policy_schedule_interval: timedelta | None = None
    columns: tuple[RollupColumn, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_identifier(self.name, what="rollup name", reserve=_NAME_RESERVE)
        check_identifier(self.source_table, what="source table")
        check_identifier(self.time_column, what="time column")
        keys = tuple(check_identifier(k, what="key column") for k in self.key_columns)
        if not keys:
            raise ValueError("a rollup needs at least one key column")
        object.__setattr__(self, "key_columns", keys)
        res = parse_resolution(self.bucket)
        if not (res.aligns_globally or res.is_daily):
            raise ValueError(
                f"rollup bucket {self.bucket!r}: use an intraday size dividing 1440 minutes or 1D "
                "(continuous aggregates need a fixed origin; weekly/monthly bars are grouped from 1D)"
            )
        object.__setattr__(self, "bucket", res.udf)
        columns = tuple(_as_column(c) for c in self.aggregates)
        object.__setattr__(self, "aggregates", columns)
        object.__setattr__(self, "columns", columns)
        names = [BUCKET_COLUMN, *keys, *(c.output for c in columns)]
        if not columns or len(set(names)) != len(names):
            raise ValueError(
                f"rollup {self.name}: aggregate columns must be present and distinct from bucket/keys"
            )
        if self.policy_start_offset < self.end_offset + MIN_POLICY_WINDOW_BUCKETS * self.resolution.width:
            raise ValueError(
                f"rollup {self.name}: policy_start_offset must cover at least "
                f"{MIN_POLICY_WINDOW_BUCKETS} buckets beyond policy_end_offset"
            )

    @property
    def resolution(self) -> Resolution:
        return parse_resolution(self.bucket)

    @property
    def end_offset(self) -> timedelta:
        return self.policy_end_offset if self.policy_end_offset is not None else self.resolution.width

    @property
    def schedule_interval(self) -> timedelta:
        if self.policy_schedule_interval is not None:
            return self.policy_schedule_interval
        return min(self.resolution.width, MAX_POLICY_SCHEDULE)

    @property
    def store_name(self) -> str:
        """The plain-PostgreSQL summary table."""
        return f"{self.name}{STORE_SUFFIX}"

    @property
    def cagg_name(self) -> str:
        """The TimescaleDB continuous aggregate (the public relation itself, except for 1D)."""
        return f"{self.name}{CAGG_SUFFIX}" if self.resolution.is_daily else self.name

    @property
    def output_columns(self) -> tuple[str, ...]:
        return (BUCKET_COLUMN, *self.key_columns, *(c.output for c in self.columns))

    def deconstruct(self) -> tuple[str, list[Any], dict[str, Any]]:
        kwargs: dict[str, Any] = {
            "name": self.name,
            "source_table": self.source_table,
            "bucket": self.bucket,
            "aggregates": tuple(self.columns),
            "time_column": self.time_column,
            "key_columns": tuple(self.key_columns),
            "policy_start_offset": self.policy_start_offset,
        }
        if self.policy_end_offset is not None:
            kwargs["policy_end_offset"] = self.policy_end_offset
        if self.policy_schedule_interval is not None:
            kwargs["policy_schedule_interval"] = self.policy_schedule_interval
        return f"{__name__}.RollupSpec", [], kwargs


# --- registry ------------------------------------------------------------------------------------

_registry: dict[str, RollupSpec] = {}
_registry_lock = threading.Lock()


def register_rollup(spec: RollupSpec) -> RollupSpec:
    """Register a rollup for refreshing (call from an app's `ready()`). Idempotent for an equal spec;
    a different spec under a registered name is an error, not a silent replacement."""
    with _registry_lock:
        existing = _registry.get(spec.name)
        if existing is not None and existing != spec:
            raise ValueError(f"rollup {spec.name!r} is already registered with a different definition")
        _registry[spec.name] = spec
    return spec


def unregister_rollup(name: str) -> None:
    """Remove a registration (tests)."""
    with _registry_lock:
        _registry.pop(name, None)


def registered_rollups() -> tuple[RollupSpec, ...]:
    """Registered specs in registration order."""
    with _registry_lock:
        return tuple(_registry.values())


def get_rollup(name: str) -> RollupSpec:
    try:
        return _registry[name]
    except KeyError:
        raise LookupError(f"no rollup named {name!r} is registered") from None


def rollup_relation(spec_or_name: RollupSpec | str) -> str:
    """The quoted relation readers select from — the same name and columns on both backends."""
    spec = spec_or_name if isinstance(spec_or_name, RollupSpec) else get_rollup(spec_or_name)
    return qn(spec.name)


# --- SQL -----------------------------------------------------------------------------------------


def _aggregate_sql(column: RollupColumn, time_col: str, *, timescale: bool) -> str:
    src = qn(column.source)
    if column.kind is AggregateKind.FIRST:
        expr = f"first({src}, {time_col})" if timescale else f"(array_agg({src} ORDER BY {time_col}))[1]"
    elif column.kind is AggregateKind.LAST:
        expr = f"last({src}, {time_col})" if timescale else f"(array_agg({src} ORDER BY {time_col} DESC))[1]"
    else:
        expr = f"{column.kind.value}({src})"
    return f"({expr})::{column.cast}" if column.cast else expr


def _bucket_expr(spec: RollupSpec, *, timescale: bool) -> str:
    time_col = qn(spec.time_column)
    if spec.resolution.is_daily:
        return daily_time_bucket_sql(time_col) if timescale else daily_stamp_sql(time_col)
    return bucket_sql(spec.resolution, time_col, timescale=timescale)


def aggregate_select_sql(spec: RollupSpec, *, timescale: bool, where: str = "") -> str:
    """`SELECT bucket, keys…, aggregates… FROM source [WHERE …] GROUP BY bucket, keys…`.

    On TimescaleDB with a 1D bucket, `bucket` is IST midnight (the continuous aggregate's bucket);
    the public view adds the +05:30 shift.
    """
    time_col = qn(spec.time_column)
    bucket = _bucket_expr(spec, timescale=timescale)
    keys = ", ".join(qn(k) for k in spec.key_columns)
    aggs = ", ".join(
        f"{_aggregate_sql(c, time_col, timescale=timescale)} AS {qn(c.output)}" for c in spec.columns
    )
    where_sql = f" WHERE {where}" if where else ""
    return (
        f"SELECT {bucket} AS {qn(BUCKET_COLUMN)}, {keys}, {aggs} FROM {qn(spec.source_table)}{where_sql} "  # noqa: S608
        f"GROUP BY {bucket}, {keys}"
    )


def _watermark_lookup(spec: RollupSpec, column: str) -> str:
    # A scalar subquery is planned as an InitPlan: evaluated once, and usable as an index bound.
    return (
        f"COALESCE((SELECT {column} FROM {qn(WATERMARK_TABLE)} WHERE relation = '{spec.name}'),"  # noqa: S608
        " '-infinity'::timestamptz)"
    )


def create_rollup_sql(spec: RollupSpec, *, timescale: bool) -> list[str]:
    """The DDL that creates the rollup's relations (see the module docstring for the layout)."""
    keys = ", ".join(qn(k) for k in spec.key_columns)
    outputs = ", ".join(qn(c) for c in spec.output_columns)
    if timescale:
        statements = [
            f"CREATE MATERIALIZED VIEW {qn(spec.cagg_name)} "
            "WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS "
            f"{aggregate_select_sql(spec, timescale=True)} WITH NO DATA",
            f"SELECT add_continuous_aggregate_policy('{spec.cagg_name}'::regclass, "
            f"start_offset => {interval_literal(spec.policy_start_offset)}, "
            f"end_offset => {interval_literal(spec.end_offset)}, "
            f"schedule_interval => {interval_literal(spec.schedule_interval)}, if_not_exists => true)",
        ]
        if spec.resolution.is_daily:
            aggs = ", ".join(qn(c.output) for c in spec.columns)
            statements.append(
                f"CREATE VIEW {qn(spec.name)} AS SELECT {qn(BUCKET_COLUMN)} + {IST_UTC_OFFSET_SQL} AS "  # noqa: S608
                f"{qn(BUCKET_COLUMN)}, {keys}, {aggs} FROM {qn(spec.cagg_name)}"
            )
        return statements
    live_where = f"{qn(spec.time_column)} >= {_watermark_lookup(spec, 'watermark')}"
    return [
        f"CREATE TABLE IF NOT EXISTS {qn(WATERMARK_TABLE)} (relation text PRIMARY KEY, "
        "watermark timestamptz, stamp timestamptz)",
        f"INSERT INTO {qn(WATERMARK_TABLE)} (relation) VALUES ('{spec.name}') "  # noqa: S608
        "ON CONFLICT (relation) DO UPDATE SET watermark = NULL, stamp = NULL",
        f"CREATE TABLE {qn(spec.store_name)} AS {aggregate_select_sql(spec, timescale=False)} WITH NO DATA",
        f"ALTER TABLE {qn(spec.store_name)} ADD CONSTRAINT {qn(spec.store_name + '_pkey')} "
        f"PRIMARY KEY ({keys}, {qn(BUCKET_COLUMN)})",
        f"CREATE VIEW {qn(spec.name)} AS "  # noqa: S608
        f"SELECT {outputs} FROM {qn(spec.store_name)} "
        f"WHERE {qn(BUCKET_COLUMN)} < {_watermark_lookup(spec, 'stamp')} "
        f"UNION ALL {aggregate_select_sql(spec, timescale=False, where=live_where)}",
    ]


def drop_rollup_sql(spec: RollupSpec, *, timescale: bool) -> list[str]:
    """The DDL that removes what `create_rollup_sql` made (the policy goes with its aggregate)."""
    if timescale:
        statements = [f"DROP VIEW IF EXISTS {qn(spec.name)}"] if spec.resolution.is_daily else []
        statements.append(f"DROP MATERIALIZED VIEW IF EXISTS {qn(spec.cagg_name)}")
        return statements
    return [
        f"DROP VIEW IF EXISTS {qn(spec.name)}",
        f"DROP TABLE IF EXISTS {qn(spec.store_name)}",
        f"DELETE FROM {qn(WATERMARK_TABLE)} WHERE relation = '{spec.name}'",  # noqa: S608
    ]


def _upsert_sql(spec: RollupSpec, *, bounded_start: bool) -> str:
    """One set-based statement: aggregate the window, upsert changed buckets, delete vanished ones."""
    time_col = qn(spec.time_column)
    keys = [qn(k) for k in spec.key_columns]
    aggs = [qn(c.output) for c in spec.columns]
    outputs = ", ".join(qn(c) for c in spec.output_columns)
    store = qn(spec.store_name)
    bucket = qn(BUCKET_COLUMN)
    source_where = f"{time_col} < %(end)s" + (f" AND {time_col} >= %(start)s" if bounded_start else "")
    store_where = f"r.{bucket} < %(stamp_end)s" + (
        f" AND r.{bucket} >= %(stamp_start)s" if bounded_start else ""
    )
    set_list = ", ".join(f"{a} = EXCLUDED.{a}" for a in aggs)
    old_row = ", ".join(f"r.{a}" for a in aggs)
    new_row = ", ".join(f"EXCLUDED.{a}" for a in aggs)
    match = " AND ".join(f"f.{c} = r.{c}" for c in [bucket, *keys])
    # Unchanged buckets are not rewritten (IS DISTINCT FROM): the every-minute refresh of a quiet
    # window then writes nothing, which keeps WAL and table bloat down.
    return (
        f"WITH fresh AS ({aggregate_select_sql(spec, timescale=False, where=source_where)}), "  # noqa: S608
        f"upserted AS (INSERT INTO {store} AS r ({outputs}) SELECT {outputs} FROM fresh "
        f"ON CONFLICT ({', '.join(keys)}, {bucket}) DO UPDATE SET {set_list} "
        f"WHERE ROW({old_row}) IS DISTINCT FROM ROW({new_row}) RETURNING 1), "
        f"removed AS (DELETE FROM {store} AS r WHERE {store_where} "
        f"AND NOT EXISTS (SELECT 1 FROM fresh AS f WHERE {match}) RETURNING 1) "
        "SELECT (SELECT count(*) FROM upserted), (SELECT count(*) FROM removed)"
    )


# --- refreshing ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RefreshResult:
    """What a refresh did. `start` None means from the beginning of the data (first materialization);
    `written`/`deleted` are counted on plain PostgreSQL only; `deferred` means a TimescaleDB refresh
    requested inside a transaction, which runs when that transaction commits."""

    rollup: str
    backend: str
    start: datetime | None
    end: datetime
    written: int | None = None
    deleted: int | None = None
    deferred: bool = False


class RollupRefreshFailed(RuntimeError):
    """One or more rollups failed to refresh; each failure was logged with its context."""


def _aware(value: datetime, what: str) -> datetime:
    if timezone.is_naive(value):
        raise ValueError(f"{what} must be an aware datetime")
    return value.astimezone(UTC)


def _lock_key(spec: RollupSpec) -> int:
    # pg_advisory_xact_lock(int4, int4): keep the key inside the signed 32-bit range.
    return zlib.crc32(spec.name.encode()) & 0x7FFFFFFF


def refresh_rollup(
    spec: RollupSpec,
    start: datetime,
    end: datetime,
    *,
    now: datetime | None = None,
    wait: bool = True,
    using: str = "default",
) -> RefreshResult | None:
    """Recompute the buckets overlapping [start, end) from the source rows.

    The window is widened to whole buckets and its end is capped at the start of the bucket open at
    `now` (default: the current time) — the open bucket is always served live. Returns None when
    nothing was to be done (empty window, or `wait=False` and another refresh holds the lock).

    Plain PostgreSQL: one INSERT … SELECT … GROUP BY … ON CONFLICT DO UPDATE (plus deletion of
    buckets whose source rows vanished) under a per-rollup advisory lock. When the window reaches
    past the watermark it is extended back to the watermark, so the summary never has holes below
    it; the first refresh therefore materializes all history. TimescaleDB:
    `CALL refresh_continuous_aggregate(…)`, which cannot run inside a transaction — inside one it is
    deferred to `transaction.on_commit` (the result says `deferred=True`).
    """
    conn = connections[using]
    res = spec.resolution
    start, end = _aware(start, "start"), _aware(end, "end")
    if start >= end:
        raise ValueError(f"refresh window is empty: {start.isoformat()} >= {end.isoformat()}")
    limit = bucket_floor(res, _aware(now or timezone.now(), "now"))
    window_start = bucket_floor(res, start)
    window_end = min(bucket_ceil(res, end), limit)
    if timescale_available(conn):
        return _refresh_timescale(conn, spec, window_start, window_end)
    return _refresh_plain(conn, spec, window_start, window_end, wait=wait)


def _refresh_timescale(
    conn: BaseDatabaseWrapper, spec: RollupSpec, start: datetime, end: datetime
) -> RefreshResult | None:
    if start >= end:
        return None
    if conn.in_atomic_block:
        # refresh_continuous_aggregate cannot run inside a transaction block. Until the caller's
        # transaction commits, real-time aggregation already serves its rows (unless they rewrite
        # materialized buckets), so refreshing right after the commit is equivalent. robust=True: a
        # failed refresh is logged and must not turn the caller's successful commit into an error.
        transaction.on_commit(
            partial(_call_refresh_continuous_aggregate, conn, spec, start, end), using=conn.alias, robust=True
        )
        logger.info(
            "rollup refresh deferred until commit",
            extra={"rollup": spec.name, "backend": "timescaledb", "start": start, "end": end},
        )
        return RefreshResult(rollup=spec.name, backend="timescaledb", start=start, end=end, deferred=True)
    _call_refresh_continuous_aggregate(conn, spec, start, end)
    return RefreshResult(rollup=spec.name, backend="timescaledb", start=start, end=end)


def _call_refresh_continuous_aggregate(
    conn: BaseDatabaseWrapper, spec: RollupSpec, start: datetime, end: datetime
) -> None:
    with conn.cursor() as cursor:
        cursor.execute(
            "CALL refresh_continuous_aggregate(%s::regclass, %s::timestamptz, %s::timestamptz)",
            [spec.cagg_name, start, end],
        )
    logger.info(
        "rollup refreshed", extra={"rollup": spec.name, "backend": "timescaledb", "start": start, "end": end}
    )


def _refresh_plain(
    conn: BaseDatabaseWrapper, spec: RollupSpec, start: datetime, end: datetime, *, wait: bool
) -> RefreshResult | None:
    res = spec.resolution
    with transaction.atomic(using=conn.alias), conn.cursor() as cursor:
        # Serializes refreshes of one rollup (beat vs. a backfill) so watermark moves can't race.
        lock_fn = "pg_advisory_xact_lock" if wait else "pg_try_advisory_xact_lock"
        cursor.execute(f"SELECT {lock_fn}(%s, %s)", [_ADVISORY_LOCK_NAMESPACE, _lock_key(spec)])
        acquired = cursor.fetchone()
        if not wait and not (acquired and acquired[0]):
            logger.info("rollup refresh skipped: another refresh is running", extra={"rollup": spec.name})
            return None
        cursor.execute(
            'SELECT watermark FROM "tradeviz_rollup_watermark" WHERE relation = %s FOR UPDATE', [spec.name]
        )
        row = cursor.fetchone()
        if row is None:
            raise LookupError(
                f"rollup {spec.name} has no watermark row: was its CreateRollup migration applied?"
            )
        watermark: datetime | None = row[0]
        effective_start: datetime | None = start
        if watermark is None or end > watermark:
            # Moving the watermark forward: everything between it and the window must be materialized too.
            effective_start = None if watermark is None else min(start, watermark)
        if effective_start is not None and effective_start >= end:
            return None
        params = {"end": end, "stamp_end": bucket_stamp(res, end)}
        if effective_start is not None:
            params.update(start=effective_start, stamp_start=bucket_stamp(res, effective_start))
        cursor.execute(_upsert_sql(spec, bounded_start=effective_start is not None), params)
        counts = cursor.fetchone()
        written, deleted = (int(counts[0]), int(counts[1])) if counts else (0, 0)
        if watermark is None or end > watermark:
            cursor.execute(
                'UPDATE "tradeviz_rollup_watermark" SET watermark = %s, stamp = %s WHERE relation = %s',
                [end, bucket_stamp(res, end), spec.name],
            )
    logger.info(
        "rollup refreshed",
        extra={
            "rollup": spec.name,
            "backend": "postgresql",
            "start": effective_start,
            "end": end,
            "written": written,
            "deleted": deleted,
        },
    )
    return RefreshResult(
        rollup=spec.name,
        backend="postgresql",
        start=effective_start,
        end=end,
        written=written,
        deleted=deleted,
    )


def _refresh_many(
    specs: Iterable[RollupSpec], start: datetime, end: datetime, *, now: datetime | None, wait: bool
) -> list[RefreshResult]:
    results: list[RefreshResult] = []
    failed: list[str] = []
    for spec in specs:
        try:
            result = refresh_rollup(spec, start, end, now=now, wait=wait)
        except Exception:
            # One broken rollup (e.g. its migration not applied yet) must not starve the others.
            logger.exception("rollup refresh failed", extra={"rollup": spec.name, "start": start, "end": end})
            failed.append(spec.name)
            continue
        if result is not None:
            results.append(result)
    if failed:
        raise RollupRefreshFailed(f"rollup refresh failed for: {', '.join(failed)}")
    return results


def refresh_recent_rollups(
    *, window: timedelta = DEFAULT_REFRESH_WINDOW, now: datetime | None = None
) -> list[RefreshResult]:
    """Refresh every registered rollup over [now - window, now) — the beat job. Does not wait for a
    rollup whose refresh is already running (the running one covers the same ground)."""
    if window <= timedelta(0):
        raise ValueError("window must be positive")
    current = _aware(now or timezone.now(), "now")
    return _refresh_many(registered_rollups(), current - window, current, now=current, wait=False)


def refresh_registered_rollups(
    *, start: datetime, end: datetime, source_table: str | None = None, now: datetime | None = None
) -> list[RefreshResult]:
    """Refresh registered rollups (all, or those of `source_table`) over [start, end) — call this after
    writing or deleting source rows older than the beat window (backfill, corrections)."""
    specs = [s for s in registered_rollups() if source_table is None or s.source_table == source_table]
    return _refresh_many(specs, start, end, now=now, wait=True)
