"""Test support for code built on the time-series layer: a throwaway bar table, generated bars, and a
pure-Python reference aggregation that the SQL rollups must match exactly.

Not imported by production code.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.db import connection, models
from django.db.migrations.state import ModelState, ProjectState

from tradeviz.timeseries.buckets import MARKET_TZ, SESSION_OPEN, bucket_floor, daily_stamp, parse_resolution
from tradeviz.timeseries.rollups import AggregateKind, RollupSpec

TEST_APP_LABEL = "timeseries_test"
SESSION_MINUTES = 375  # 09:15 … 15:29 IST
PRICE_QUANT = Decimal("0.0001")
BASE_PRICE = 100.0
MAX_STEP = 0.5
MAX_VOLUME = 5000
MAX_OI = 50_000
# Some bars carry no open interest (NULL), so first/last must keep NULLs like the SQL does.
NULL_OI_PROBABILITY = 0.05


@dataclass(frozen=True)
class GeneratedBar:
    instrument_id: int
    time: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: int
    oi: int | None

    def as_row(self) -> tuple[Any, ...]:
        return (
            self.instrument_id,
            self.time,
            self.open,
            self.high,
            self.low,
            self.close,
            self.volume,
            self.oi,
        )


BAR_COLUMNS = ("instrument_id", "time", "open", "high", "low", "close", "volume", "oi")
OHLCV_AGGREGATES = (
    ("open", "first"),
    ("high", "max"),
    ("low", "min"),
    ("close", "last"),
    ("volume", "sum"),
    ("oi", "last"),
)


def bar_model_state(
    model_name: str, db_table: str, *, pk_fields: Sequence[str] = ("instrument_id", "time")
) -> ModelState:
    """A ModelState shaped like the project's bar tables (composite primary key incl. time)."""

    def price() -> models.DecimalField[Any, Any]:
        return models.DecimalField(max_digits=18, decimal_places=4)

    return ModelState(
        TEST_APP_LABEL,
        model_name,
        [
            ("pk", models.CompositePrimaryKey(*pk_fields)),
            ("instrument_id", models.BigIntegerField()),
            ("time", models.DateTimeField()),
            ("open", price()),
            ("high", price()),
            ("low", price()),
            ("close", price()),
            ("volume", models.BigIntegerField(default=0)),
            ("oi", models.BigIntegerField(null=True)),
        ],
        options={"db_table": db_table},
    )


def project_state(*states: ModelState) -> ProjectState:
    state = ProjectState()
    for model_state in states:
        state.add_model(model_state)
    return state


def session_minutes(day: date) -> list[datetime]:
    """Every 1-minute bar open time of the NSE session on `day`, in UTC."""
    start = datetime.combine(day, SESSION_OPEN, MARKET_TZ)
    return [(start + timedelta(minutes=m)).astimezone(UTC) for m in range(SESSION_MINUTES)]


def generate_bars(
    *, instruments: Iterable[int], days: Iterable[date], seed: int = 7, minutes: Iterable[int] | None = None
) -> list[GeneratedBar]:
    """A random walk of 1-minute bars per instrument over the given trading days (session minutes, or
    only the given minute offsets from 09:15). Shuffled, so tests catch first/last by insertion order."""
    rng = random.Random(seed)
    offsets = list(minutes) if minutes is not None else list(range(SESSION_MINUTES))
    bars: list[GeneratedBar] = []
    for instrument in instruments:
        price = BASE_PRICE + instrument
        for day in days:
            for offset in offsets:
                moment = (
                    datetime.combine(day, SESSION_OPEN, MARKET_TZ) + timedelta(minutes=offset)
                ).astimezone(UTC)
                open_ = price
                close = max(1.0, open_ + rng.uniform(-MAX_STEP, MAX_STEP))
                high = max(open_, close) + rng.uniform(0, MAX_STEP)
                low = min(open_, close) - rng.uniform(0, MAX_STEP)
                price = close
                bars.append(
                    GeneratedBar(
                        instrument_id=instrument,
                        time=moment,
                        open=Decimal(open_).quantize(PRICE_QUANT),
                        high=Decimal(high).quantize(PRICE_QUANT),
                        low=Decimal(low).quantize(PRICE_QUANT),
                        close=Decimal(close).quantize(PRICE_QUANT),
                        volume=rng.randint(0, MAX_VOLUME),
                        oi=None if rng.random() < NULL_OI_PROBABILITY else rng.randint(0, MAX_OI),
                    )
                )
    rng.shuffle(bars)
    return bars


def insert_bars(table: str, bars: Iterable[GeneratedBar]) -> None:
    placeholders = ", ".join(["%s"] * len(BAR_COLUMNS))
    sql = f"INSERT INTO {connection.ops.quote_name(table)} ({', '.join(BAR_COLUMNS)}) VALUES ({placeholders})"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.executemany(sql, [bar.as_row() for bar in bars])


def reference_rollup(spec: RollupSpec, bars: Iterable[GeneratedBar]) -> list[tuple[Any, ...]]:
    """The rollup computed in Python, rows ordered by (keys, bucket) as (bucket, keys…, aggregates…).

    Only for specs keyed by instrument_id over GeneratedBar columns."""
    res = parse_resolution(spec.bucket)
    groups: dict[tuple[int, datetime], list[GeneratedBar]] = {}
    for bar in bars:
        stamp = daily_stamp(bar.time) if res.is_daily else bucket_floor(res, bar.time)
        groups.setdefault((bar.instrument_id, stamp), []).append(bar)
    rows: list[tuple[Any, ...]] = []
    for (instrument, stamp), members in sorted(groups.items()):
        members.sort(key=lambda b: b.time)
        values: list[Any] = []
        for column in spec.columns:
            series = [getattr(b, column.source) for b in members]
            if column.kind is AggregateKind.FIRST:
                values.append(series[0])
            elif column.kind is AggregateKind.LAST:
                values.append(series[-1])
            else:
                present = [v for v in series if v is not None]
                if not present:
                    values.append(None)
                elif column.kind is AggregateKind.MAX:
                    values.append(max(present))
                elif column.kind is AggregateKind.MIN:
                    values.append(min(present))
                else:
                    values.append(sum(present))
        rows.append((stamp, instrument, *values))
    return rows


def fetch_rows(relation_sql: str, *, where: str = "", params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """All rows of a rollup relation ordered by (instrument_id, bucket)."""
    where_sql = f" WHERE {where}" if where else ""
    with connection.cursor() as cursor:
        sql = f"SELECT * FROM {relation_sql}{where_sql} ORDER BY instrument_id, bucket"  # noqa: S608
        cursor.execute(sql, list(params))
        return [tuple(row) for row in cursor.fetchall()]


def ist(day: date, hh: int, mm: int) -> datetime:
    """An aware IST datetime (test convenience)."""
    return datetime.combine(day, time(hh, mm), MARKET_TZ)


def create_bar_table(
    model_name: str, table: str, *, pk_fields: Sequence[str] = ("instrument_id", "time")
) -> ProjectState:
    """Create a bar-shaped table through the schema editor, as a migration would; returns its state."""
    state = project_state(bar_model_state(model_name, table, pk_fields=pk_fields))
    with connection.schema_editor() as editor:
        editor.create_model(state.apps.get_model(TEST_APP_LABEL, model_name))
    return state


def apply_operation(operation: Any, state: ProjectState, *, backwards: bool = False) -> None:
    """Run a migration operation forwards (or backwards) in the test app, as `migrate` would."""
    with connection.schema_editor() as editor:
        if backwards:
            operation.database_backwards(TEST_APP_LABEL, editor, state, state)
        else:
            operation.database_forwards(TEST_APP_LABEL, editor, state, state)


def drop_tables(*tables: str) -> None:
    """Remove test tables and everything depending on them (rollup views, aggregates)."""
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"DROP TABLE IF EXISTS {connection.ops.quote_name(table)} CASCADE")
