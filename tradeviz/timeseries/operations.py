"""Migration operations for time-series tables. They run SQL only and leave model state alone.

    operations = [
        migrations.CreateModel("MinuteBar", …, CompositePrimaryKey("instrument", "time")),
        TimeSeriesTable("MinuteBar", compress_after="7 days"),
        CreateRollup(RollupSpec(name="marketdata_bar_5m", source_table="marketdata_minutebar", …)),
    ]

Which path runs is decided when the migration runs, from `detect.timescale_available()`, and logged
at INFO; the same migration therefore works on PostgreSQL and on TimescaleDB.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from django.db import migrations, router
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.backends.utils import truncate_name
from django.db.migrations.state import ProjectState

from tradeviz.timeseries.detect import installed_timescale_version, timescale_available
from tradeviz.timeseries.rollups import RollupSpec, create_rollup_sql, drop_rollup_sql
from tradeviz.timeseries.sql import MAX_IDENTIFIER_LENGTH, check_identifier, interval_text, qn

logger = logging.getLogger(__name__)

# create_hypertable(relation, by_range(column, interval)) exists from TimescaleDB 2.13 on.
BY_RANGE_SINCE = (2, 13)


def _version_tuple(version: str | None) -> tuple[int, ...]:
    parts: list[int] = []
    for piece in (version or "").split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


def primary_key_columns(schema_editor: BaseDatabaseSchemaEditor, table: str) -> list[str] | None:
    """The primary key's columns in key order; None when the table does not exist (yet)."""
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)", [qn(table)])
        row = cursor.fetchone()
        if row is None or row[0] is None:
            return None
        cursor.execute(
            "SELECT a.attname FROM pg_index i "
            "CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord) "
            "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum "
            "WHERE i.indrelid = %s::regclass AND i.indisprimary ORDER BY k.ord",
            [qn(table)],
        )
        return [str(r[0]) for r in cursor.fetchall()]


class TimeSeriesTable(migrations.operations.base.Operation):
    """Make a model's table a time-series table: hypertable + compression/retention on TimescaleDB,
    BRIN on the time column on plain PostgreSQL.

    The model must already have a composite primary key that contains `time_column` and the
    `key_columns` (Django 5.2 `CompositePrimaryKey`); it is never dropped. Column names are database
    column names (`instrument_id`, not `instrument`). Intervals are PostgreSQL interval text
    ("1 day") or timedeltas. All statements are idempotent (`IF NOT EXISTS`, `if_not_exists`).

    Reverse: on PostgreSQL drops the indexes it added; on TimescaleDB removes the compression and
    retention policies and leaves the hypertable (a hypertable cannot be turned back into a table).
    """

    reversible = True
    reduces_to_sql = True
    atomic = True

    def __init__(
        self,
        model_name: str,
        time_column: str = "time",
        key_columns: Sequence[str] = ("instrument_id",),
        chunk_interval: str | timedelta = "1 day",
        compress_after: str | timedelta | None = "7 days",
        retention: str | timedelta | None = None,
    ) -> None:
        self.model_name = model_name
        self.time_column = check_identifier(time_column, what="time column")
        self.key_columns = tuple(check_identifier(k, what="key column") for k in key_columns)
        self.chunk_interval = interval_text(chunk_interval)
        self.compress_after = interval_text(compress_after) if compress_after is not None else None
        self.retention = interval_text(retention) if retention is not None else None

    def deconstruct(self) -> tuple[str, list[Any], dict[str, Any]]:
        kwargs: dict[str, Any] = {
            "model_name": self.model_name,
            "time_column": self.time_column,
            "key_columns": self.key_columns,
            "chunk_interval": self.chunk_interval,
            "compress_after": self.compress_after,
            "retention": self.retention,
        }
        return self.__class__.__qualname__, [], kwargs

    def state_forwards(self, app_label: str, state: ProjectState) -> None:
        """No model state: the operation only adds storage features."""

    def describe(self) -> str:
        return f"Make {self.model_name} a time-series table on {self.time_column}"

    @property
    def migration_name_fragment(self) -> str:
        return f"timeseries_{self.model_name.lower()}"

    # --- helpers ---

    def _table(
        self, app_label: str, state: ProjectState, schema_editor: BaseDatabaseSchemaEditor
    ) -> str | None:
        model = state.apps.get_model(app_label, self.model_name)
        if not self.allow_migrate_model(schema_editor.connection.alias, model):
            return None
        return str(model._meta.db_table)

    def brin_index_name(self, table: str) -> str:
        return truncate_name(f"{table}_{self.time_column}_brin", MAX_IDENTIFIER_LENGTH)

    def btree_index_name(self, table: str) -> str:
        return truncate_name(f"{table}_key_time_idx", MAX_IDENTIFIER_LENGTH)

    def _check_primary_key(self, table: str, pk: list[str] | None) -> bool:
        """Validate the PK; return whether it already leads with (keys…, time) for (key, range) lookups."""
        if pk is None:  # sqlmigrate before the table exists: assume the documented layout
            return True
        missing = [c for c in (*self.key_columns, self.time_column) if c not in pk]
        if missing:
            raise ValueError(
                f"{table}: the primary key {pk} must contain {', '.join(missing)} "
                "(use models.CompositePrimaryKey with the key and time fields)"
            )
        lead = pk[: len(self.key_columns) + 1]
        return set(lead[:-1]) == set(self.key_columns) and lead[-1] == self.time_column

    # --- forwards / backwards ---

    def database_forwards(
        self,
        app_label: str,
        schema_editor: BaseDatabaseSchemaEditor,
        from_state: ProjectState,
        to_state: ProjectState,
    ) -> None:
        table = self._table(app_label, to_state, schema_editor)
        if table is None:
            return
        pk = primary_key_columns(schema_editor, table)
        pk_leads = self._check_primary_key(table, pk)
        if timescale_available(schema_editor.connection):
            logger.info(
                "TimeSeriesTable %s: TimescaleDB path (hypertable, compression%s)",
                table,
                ", retention" if self.retention else "",
                extra={"table": table, "path": "timescaledb"},
            )
            self._forwards_timescale(schema_editor, table)
        else:
            logger.info(
                "TimeSeriesTable %s: plain PostgreSQL path (BRIN on %s%s)",
                table,
                self.time_column,
                ", btree on keys and time" if not pk_leads else "",
                extra={"table": table, "path": "postgresql"},
            )
            schema_editor.execute(
                f"CREATE INDEX IF NOT EXISTS {qn(self.brin_index_name(table))} ON {qn(table)} "
                f"USING brin ({qn(self.time_column)})"
            )
            if not pk_leads:
                cols = ", ".join(qn(c) for c in (*self.key_columns, self.time_column))
                schema_editor.execute(
                    f"CREATE INDEX IF NOT EXISTS {qn(self.btree_index_name(table))} ON {qn(table)} ({cols})"
                )

    def _forwards_timescale(self, schema_editor: BaseDatabaseSchemaEditor, table: str) -> None:
        version = _version_tuple(installed_timescale_version(schema_editor.connection))
        if version >= BY_RANGE_SINCE:
            schema_editor.execute(
                "SELECT create_hypertable(%s::regclass, by_range(%s, %s::interval), "
                "migrate_data => true, if_not_exists => true)",
                [qn(table), self.time_column, self.chunk_interval],
            )
        else:
            schema_editor.execute(
                "SELECT create_hypertable(%s::regclass, %s, chunk_time_interval => %s::interval, "
                "migrate_data => true, if_not_exists => true)",
                [qn(table), self.time_column, self.chunk_interval],
            )
        if self.compress_after is not None:
            segment_by = ", ".join(self.key_columns)
            # Skipped when compression is already on: re-setting it fails once chunks are compressed.
            schema_editor.execute(
                "DO $do$ BEGIN "  # noqa: S608
                "IF NOT EXISTS (SELECT 1 FROM timescaledb_information.hypertables "
                f"WHERE format('%%I.%%I', hypertable_schema, hypertable_name)::regclass = '{qn(table)}'::regclass "
                "AND compression_enabled) THEN "
                f"ALTER TABLE {qn(table)} SET (timescaledb.compress, "
                f"timescaledb.compress_segmentby = '{segment_by}', "
                f"timescaledb.compress_orderby = '{self.time_column} DESC'); "
                "END IF; END $do$"
            )
            schema_editor.execute(
                "SELECT add_compression_policy(%s::regclass, compress_after => %s::interval, if_not_exists => true)",
                [qn(table), self.compress_after],
            )
        if self.retention is not None:
            schema_editor.execute(
                "SELECT add_retention_policy(%s::regclass, drop_after => %s::interval, if_not_exists => true)",
                [qn(table), self.retention],
            )

    def database_backwards(
        self,
        app_label: str,
        schema_editor: BaseDatabaseSchemaEditor,
        from_state: ProjectState,
        to_state: ProjectState,
    ) -> None:
        table = self._table(app_label, from_state, schema_editor)
        if table is None:
            return
        if timescale_available(schema_editor.connection):
            logger.info(
                "TimeSeriesTable %s reversed: policies removed, hypertable kept",
                table,
                extra={"table": table},
            )
            schema_editor.execute(
                "SELECT remove_retention_policy(%s::regclass, if_exists => true)", [qn(table)]
            )
            schema_editor.execute(
                "SELECT remove_compression_policy(%s::regclass, if_exists => true)", [qn(table)]
            )
            return
        schema_editor.execute(f"DROP INDEX IF EXISTS {qn(self.btree_index_name(table))}")
        schema_editor.execute(f"DROP INDEX IF EXISTS {qn(self.brin_index_name(table))}")


class CreateRollup(migrations.operations.base.Operation):
    """Create a rollup (rollups.py): a continuous aggregate + refresh policy on TimescaleDB, or a
    summary table + watermark-driven view on plain PostgreSQL. Put it after the source table's
    `TimeSeriesTable` (a continuous aggregate needs a hypertable). Reverse drops what it created.

    The spec is written into the migration (not imported from app code) so that later edits to a
    spec need a new migration instead of silently changing an old one.
    """

    reversible = True
    reduces_to_sql = True
    atomic = True

    def __init__(self, spec: RollupSpec) -> None:
        if not isinstance(spec, RollupSpec):
            raise TypeError("CreateRollup takes a RollupSpec")
        self.spec = spec

    def deconstruct(self) -> tuple[str, list[Any], dict[str, Any]]:
        return self.__class__.__qualname__, [], {"spec": self.spec}

    def state_forwards(self, app_label: str, state: ProjectState) -> None:
        """No model state: rollups are read with raw SQL through `rollup_relation`."""

    def describe(self) -> str:
        return f"Create rollup {self.spec.name} ({self.spec.bucket} of {self.spec.source_table})"

    @property
    def migration_name_fragment(self) -> str:
        return f"rollup_{self.spec.name}"

    def database_forwards(
        self,
        app_label: str,
        schema_editor: BaseDatabaseSchemaEditor,
        from_state: ProjectState,
        to_state: ProjectState,
    ) -> None:
        if not router.allow_migrate(schema_editor.connection.alias, app_label):
            return
        timescale = timescale_available(schema_editor.connection)
        logger.info(
            "CreateRollup %s: %s",
            self.spec.name,
            "TimescaleDB continuous aggregate" if timescale else "plain PostgreSQL summary table",
            extra={"rollup": self.spec.name, "path": "timescaledb" if timescale else "postgresql"},
        )
        for statement in create_rollup_sql(self.spec, timescale=timescale):
            schema_editor.execute(statement, params=None)

    def database_backwards(
        self,
        app_label: str,
        schema_editor: BaseDatabaseSchemaEditor,
        from_state: ProjectState,
        to_state: ProjectState,
    ) -> None:
        if not router.allow_migrate(schema_editor.connection.alias, app_label):
            return
        for statement in drop_rollup_sql(self.spec, timescale=timescale_available(schema_editor.connection)):
            schema_editor.execute(statement, params=None)


# The brief's name for the rollup operation; CreateRollup is the canonical one.
Rollup = CreateRollup
