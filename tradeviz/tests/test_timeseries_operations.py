"""TimeSeriesTable on plain PostgreSQL: BRIN on time, extra btree only when the PK does not lead with
(key, time), PK validation, reversibility, sqlmigrate output, serialization."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from django.db.migrations.writer import MigrationWriter

from tradeviz.timeseries.detect import clear_timescale_cache, timescale_available
from tradeviz.timeseries.operations import TimeSeriesTable
from tradeviz.timeseries.testing import TEST_APP_LABEL, bar_model_state, project_state

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _plain_postgres(settings: Any) -> Iterator[None]:
    """The plain-PostgreSQL path; on a TimescaleDB test database TIMESCALE_MODE=off forces it."""
    settings.TIMESCALE_MODE = "off"
    clear_timescale_cache()
    assert timescale_available() is False
    yield
    clear_timescale_cache()


def _indexes(table: str) -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s ORDER BY indexname", [table]
        )
        return dict(cursor.fetchall())


def _create(model_name: str, table: str, pk_fields: tuple[str, ...] = ("instrument_id", "time")) -> object:
    state = project_state(bar_model_state(model_name, table, pk_fields=pk_fields))
    with connection.schema_editor() as editor:
        editor.create_model(state.apps.get_model(TEST_APP_LABEL, model_name))
    return state


def test_forwards_adds_brin_and_backwards_removes_it() -> None:
    state = _create("Bar", "tstest_bar")
    operation = TimeSeriesTable("Bar", compress_after="7 days", retention="400 days")
    with connection.schema_editor() as editor:
        operation.database_forwards(TEST_APP_LABEL, editor, state, state)
    assert _indexes("tstest_bar") == {
        "tstest_bar_pkey": 'CREATE UNIQUE INDEX tstest_bar_pkey ON public.tstest_bar USING btree (instrument_id, "time")',
        "tstest_bar_time_brin": 'CREATE INDEX tstest_bar_time_brin ON public.tstest_bar USING brin ("time")',
    }
    # Idempotent: applying twice changes nothing.
    with connection.schema_editor() as editor:
        operation.database_forwards(TEST_APP_LABEL, editor, state, state)
    assert set(_indexes("tstest_bar")) == {"tstest_bar_pkey", "tstest_bar_time_brin"}

    with connection.schema_editor() as editor:
        operation.database_backwards(TEST_APP_LABEL, editor, state, state)
    assert set(_indexes("tstest_bar")) == {"tstest_bar_pkey"}


def test_pk_not_leading_with_key_gets_a_key_time_btree() -> None:
    state = _create("TimeFirstBar", "tstest_tfbar", pk_fields=("time", "instrument_id"))
    operation = TimeSeriesTable("TimeFirstBar")
    with connection.schema_editor() as editor:
        operation.database_forwards(TEST_APP_LABEL, editor, state, state)
    indexes = _indexes("tstest_tfbar")
    assert indexes["tstest_tfbar_key_time_idx"] == (
        'CREATE INDEX tstest_tfbar_key_time_idx ON public.tstest_tfbar USING btree (instrument_id, "time")'
    )
    assert "tstest_tfbar_time_brin" in indexes
    with connection.schema_editor() as editor:
        operation.database_backwards(TEST_APP_LABEL, editor, state, state)
    assert set(_indexes("tstest_tfbar")) == {"tstest_tfbar_pkey"}


def test_pk_without_the_time_column_is_rejected_and_nothing_is_created() -> None:
    state = _create("NoTimePk", "tstest_notime", pk_fields=("instrument_id", "volume"))
    operation = TimeSeriesTable("NoTimePk")
    with pytest.raises(ValueError, match="must contain time"), connection.schema_editor() as editor:
        operation.database_forwards(TEST_APP_LABEL, editor, state, state)
    assert set(_indexes("tstest_notime")) == {"tstest_notime_pkey"}


def test_state_is_untouched() -> None:
    state = project_state(bar_model_state("Bar", "tstest_bar"))
    before = state.clone()
    TimeSeriesTable("Bar").state_forwards(TEST_APP_LABEL, state)
    assert state.models == before.models


def test_sqlmigrate_output() -> None:
    state = _create("Bar", "tstest_bar")
    with connection.schema_editor(collect_sql=True, atomic=False) as editor:
        TimeSeriesTable("Bar").database_forwards(TEST_APP_LABEL, editor, state, state)
    assert editor.collected_sql == [
        'CREATE INDEX IF NOT EXISTS "tstest_bar_time_brin" ON "tstest_bar" USING brin ("time");'
    ]


def test_serializes_into_a_migration() -> None:
    operation = TimeSeriesTable("Bar", chunk_interval="1 day", compress_after=None, retention="400 days")
    text, imports = MigrationWriter.serialize(operation)
    assert text == (
        "tradeviz.timeseries.operations.TimeSeriesTable(\n"
        "    model_name='Bar',\n"
        "    time_column='time',\n"
        "    key_columns=('instrument_id',),\n"
        "    chunk_interval='1 day',\n"
        "    compress_after=None,\n"
        "    retention='400 days',\n"
        ")"
    )
    assert imports == {"import tradeviz.timeseries.operations"}
    assert operation.describe() == "Make Bar a time-series table on time"


@pytest.mark.parametrize("bad", ["1 fortnight", "7 days; DROP TABLE x", ""])
def test_interval_arguments_are_validated(bad: str) -> None:
    with pytest.raises(ValueError, match="interval"):
        TimeSeriesTable("Bar", compress_after=bad)
