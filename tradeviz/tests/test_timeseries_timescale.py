"""The TimescaleDB path, against a real TimescaleDB test database (skipped elsewhere):

    DATABASE_URL=timescale://postgres@127.0.0.1:5432/tradeviz_ts TEST_DATABASE_NAME=test_tv_tsdb \
        DJANGO_ENV=test .venv/bin/pytest tradeviz/tests/test_timeseries_*.py

Hypertable with its composite primary key intact, compression and retention policies, continuous
aggregates with refresh policies, and the same rows as the plain-PostgreSQL summary tables for the
same data. `refresh_continuous_aggregate` cannot run inside a transaction, so these tests work on
the test database in autocommit (pytest-django's blocker, no `django_db` mark) and drop exactly what
they created. They deliberately avoid `transaction=True`: its flush would also wipe rows that data
migrations seeded, for every later test of a `--reuse-db` run.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from django.db import connection, transaction
from django.db.migrations.state import ProjectState

from tradeviz.timeseries import operations as operations_module
from tradeviz.timeseries import rollups as rollups_module
from tradeviz.timeseries.detect import clear_timescale_cache, installed_timescale_version, timescale_available
from tradeviz.timeseries.operations import CreateRollup, TimeSeriesTable
from tradeviz.timeseries.rollups import RollupSpec, refresh_rollup, rollup_relation
from tradeviz.timeseries.testing import (
    OHLCV_AGGREGATES,
    GeneratedBar,
    apply_operation,
    create_bar_table,
    drop_tables,
    fetch_rows,
    generate_bars,
    insert_bars,
    ist,
    reference_rollup,
)

TABLE = "tstsdb_bar"
DAYS = [date(2024, 3, 11), date(2024, 3, 12), date(2024, 3, 13)]
INSTRUMENTS = [1, 2, 3]
FAR_FUTURE = datetime(2030, 1, 1, tzinfo=UTC)
ALL_TIME = (datetime(2024, 1, 1, tzinfo=UTC), datetime(2025, 1, 1, tzinfo=UTC))


def _spec(name: str, bucket: str) -> RollupSpec:
    return RollupSpec(name=name, source_table=TABLE, bucket=bucket, aggregates=OHLCV_AGGREGATES)


SPECS = {
    "5": _spec("tstsdb_bar_5m", "5"),
    "15": _spec("tstsdb_bar_15m", "15"),
    "60": _spec("tstsdb_bar_1h", "60"),
    "1D": _spec("tstsdb_bar_1d", "1D"),
}
# The same rollups built the plain-PostgreSQL way on the same hypertable, for comparison.
PLAIN_SPECS = {
    key: _spec(spec.name.replace("tstsdb_", "tsplain_"), spec.bucket) for key, spec in SPECS.items()
}


def _watermark_table_exists() -> bool:
    return _query("SELECT to_regclass('tradeviz_rollup_watermark') IS NOT NULL") == [(True,)]


@pytest.fixture(autouse=True)
def _timescale(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    with django_db_blocker.unblock():
        clear_timescale_cache()
        if not timescale_available():
            pytest.skip(
                "TimescaleDB is not installed in the test database; run with "
                "DATABASE_URL=timescale://… on a server with the timescaledb extension"
            )
        # The job scheduler would run the policies under the tests' feet (the retention policy would
        # even drop the 2024 test chunks); the tests check the policies' definitions, not their runs.
        _query("SELECT _timescaledb_functions.stop_background_workers()")
        had_watermarks = _watermark_table_exists()
        try:
            yield
        finally:
            with connection.cursor() as cursor:
                for spec in SPECS.values():
                    if spec.resolution.is_daily:
                        cursor.execute(f"DROP VIEW IF EXISTS {spec.name}")
                    cursor.execute(f"DROP MATERIALIZED VIEW IF EXISTS {spec.cagg_name}")
                for spec in PLAIN_SPECS.values():
                    cursor.execute(f"DROP VIEW IF EXISTS {spec.name}")
                    cursor.execute(f"DROP TABLE IF EXISTS {spec.store_name}")
                if not had_watermarks:
                    cursor.execute("DROP TABLE IF EXISTS tradeviz_rollup_watermark")
                elif _watermark_table_exists():
                    cursor.execute(
                        "DELETE FROM tradeviz_rollup_watermark WHERE relation = ANY(%s)",
                        [[spec.name for spec in PLAIN_SPECS.values()]],
                    )
            drop_tables(TABLE)
            clear_timescale_cache()


@pytest.fixture
def hypertable() -> ProjectState:
    state = create_bar_table("Bar", TABLE)
    apply_operation(TimeSeriesTable("Bar", compress_after="7 days", retention="400 days"), state)
    return state


@pytest.fixture
def bars(hypertable: ProjectState) -> list[GeneratedBar]:
    generated = generate_bars(instruments=INSTRUMENTS, days=DAYS)
    insert_bars(TABLE, generated)
    return generated


def _query(sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        return [tuple(row) for row in cursor.fetchall()]


def _jobs(relation: str) -> list[tuple[str, dict[str, Any]]]:
    rows = _query(
        "SELECT proc_name, config::text FROM timescaledb_information.jobs "
        "WHERE hypertable_name = %s ORDER BY proc_name",
        [relation],
    )
    return [(str(name), json.loads(config)) for name, config in rows]


def _cagg_jobs() -> dict[str, dict[str, Any]]:
    # For a continuous aggregate, the jobs view names the aggregate itself as hypertable_name.
    rows = _query(
        "SELECT hypertable_name, config::text, schedule_interval FROM timescaledb_information.jobs "
        "WHERE proc_name = 'policy_refresh_continuous_aggregate' AND hypertable_name LIKE 'tstsdb%%' "
        "ORDER BY hypertable_name"
    )
    return {str(view): {**json.loads(config), "schedule": schedule} for view, config, schedule in rows}


def _column_types(relation: str) -> list[tuple[str, str]]:
    return [
        (str(name), str(kind))
        for name, kind in _query(
            "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
            "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
            [relation],
        )
    ]


def test_detection_is_true() -> None:
    assert timescale_available() is True
    assert installed_timescale_version() is not None


def test_hypertable_keeps_its_primary_key_and_gets_policies(hypertable: ProjectState) -> None:
    assert _query(
        "SELECT hypertable_name, compression_enabled FROM timescaledb_information.hypertables "
        "WHERE hypertable_name = %s",
        [TABLE],
    ) == [(TABLE, True)]
    assert _query(
        "SELECT column_name, time_interval FROM timescaledb_information.dimensions WHERE hypertable_name = %s",
        [TABLE],
    ) == [("time", timedelta(days=1))]
    assert _query(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'p'",
        [TABLE],
    ) == [(f"{TABLE}_pkey", 'PRIMARY KEY (instrument_id, "time")')]
    assert _query(
        "SELECT attname, segmentby_column_index, orderby_column_index, orderby_asc "
        "FROM timescaledb_information.compression_settings WHERE hypertable_name = %s ORDER BY attname",
        [TABLE],
    ) == [("instrument_id", 1, None, None), ("time", None, 1, False)]
    assert _jobs(TABLE) == [
        ("policy_compression", {"hypertable_id": _jobs_hypertable_id(), "compress_after": "7 days"}),
        ("policy_retention", {"hypertable_id": _jobs_hypertable_id(), "drop_after": "400 days"}),
    ]
    # Idempotent: applying again neither fails nor duplicates policies.
    apply_operation(TimeSeriesTable("Bar", compress_after="7 days", retention="400 days"), hypertable)
    assert [name for name, _ in _jobs(TABLE)] == ["policy_compression", "policy_retention"]


def _jobs_hypertable_id() -> int:
    return int(
        _query(
            "SELECT id FROM _timescaledb_catalog.hypertable WHERE table_name = %s",
            [TABLE],
        )[0][0]
    )


def test_reverse_removes_policies_and_keeps_the_hypertable(hypertable: ProjectState) -> None:
    apply_operation(
        TimeSeriesTable("Bar", compress_after="7 days", retention="400 days"), hypertable, backwards=True
    )
    assert _jobs(TABLE) == []
    assert _query(
        "SELECT count(*) FROM timescaledb_information.hypertables WHERE hypertable_name = %s", [TABLE]
    ) == [(1,)]
    assert _query(
        "SELECT count(*) FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'p'", [TABLE]
    ) == [(1,)]


def test_compression_keeps_rows_readable(bars: list[GeneratedBar]) -> None:
    chunks = _query("SELECT show_chunks(%s::regclass)::text", [TABLE])
    assert len(chunks) == len(DAYS)
    _query("SELECT compress_chunk(%s::regclass)", [chunks[0][0]])
    assert _query(f"SELECT count(*) FROM {TABLE}") == [(len(bars),)]


@pytest.mark.parametrize("bucket", list(SPECS))
def test_cagg_matches_reference_and_plain_summary(
    bucket: str, bars: list[GeneratedBar], hypertable: ProjectState, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec, plain = SPECS[bucket], PLAIN_SPECS[bucket]
    apply_operation(CreateRollup(spec), hypertable)
    expected = reference_rollup(spec, bars)
    # Real-time aggregation: correct before any refresh.
    assert fetch_rows(rollup_relation(spec)) == expected
    assert refresh_rollup(spec, *ALL_TIME, now=FAR_FUTURE) is not None
    assert fetch_rows(rollup_relation(spec)) == expected

    # The plain-PostgreSQL rollup of the same hypertable gives the same rows and column types.
    with monkeypatch.context() as forced:
        forced.setattr(rollups_module, "timescale_available", lambda *_: False)
        forced.setattr(operations_module, "timescale_available", lambda *_: False)
        apply_operation(CreateRollup(plain), hypertable)
        refresh_rollup(plain, *ALL_TIME, now=FAR_FUTURE)
    assert fetch_rows(rollup_relation(plain)) == fetch_rows(rollup_relation(spec))
    assert _column_types(plain.name) == _column_types(spec.name)

    # Reverse drops the aggregate (and, for 1D, the stamping view) with its policy.
    apply_operation(CreateRollup(spec), hypertable, backwards=True)
    assert _query("SELECT to_regclass(%s)::text, to_regclass(%s)::text", [spec.name, spec.cagg_name]) == [
        (None, None)
    ]


def test_refresh_policies(hypertable: ProjectState) -> None:
    for spec in SPECS.values():
        apply_operation(CreateRollup(spec), hypertable)
    jobs = _cagg_jobs()
    assert {
        name: (job["start_offset"], job["end_offset"], job["schedule"]) for name, job in jobs.items()
    } == {
        "tstsdb_bar_5m": ("3 days", "00:05:00", timedelta(minutes=5)),
        "tstsdb_bar_15m": ("3 days", "00:15:00", timedelta(minutes=15)),
        "tstsdb_bar_1h": ("3 days", "01:00:00", timedelta(hours=1)),
        "tstsdb_bar_1d_cagg": ("3 days", "1 day", timedelta(hours=1)),
    }


def test_refresh_is_idempotent_and_partial(bars: list[GeneratedBar], hypertable: ProjectState) -> None:
    spec = SPECS["5"]
    apply_operation(CreateRollup(spec), hypertable)
    refresh_rollup(spec, *ALL_TIME, now=FAR_FUTURE)
    # Read only what is materialized, to see exactly which buckets a refresh rewrote.
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER MATERIALIZED VIEW {spec.name} SET (timescaledb.materialized_only = true)")
    materialized = fetch_rows(rollup_relation(spec))
    assert materialized == reference_rollup(spec, bars)
    refresh_rollup(spec, *ALL_TIME, now=FAR_FUTURE)
    assert fetch_rows(rollup_relation(spec)) == materialized

    day = DAYS[1]
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {TABLE} SET close = 999 WHERE instrument_id = 1 AND time IN (%s, %s)",
            [ist(day, 10, 4), ist(day, 10, 9)],
        )
    refresh_rollup(spec, ist(day, 10, 1), ist(day, 10, 2), now=FAR_FUTURE)
    after = {(row[1], row[0]): row for row in fetch_rows(rollup_relation(spec))}
    before = {(row[1], row[0]): row for row in materialized}
    changed = {key for key in before if before[key] != after[key]}
    assert changed == {(1, ist(day, 10, 0).astimezone(UTC))}


def test_refresh_inside_a_transaction_runs_after_commit(
    bars: list[GeneratedBar], hypertable: ProjectState
) -> None:
    spec = SPECS["15"]
    apply_operation(CreateRollup(spec), hypertable)
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER MATERIALIZED VIEW {spec.name} SET (timescaledb.materialized_only = true)")
    with transaction.atomic():
        result = refresh_rollup(spec, *ALL_TIME, now=FAR_FUTURE)
        assert result is not None
        assert result.deferred is True
        assert fetch_rows(rollup_relation(spec)) == []  # nothing materialized yet
    assert fetch_rows(rollup_relation(spec)) == reference_rollup(spec, bars)


def test_deferred_refresh_is_dropped_on_rollback(bars: list[GeneratedBar], hypertable: ProjectState) -> None:
    spec = SPECS["15"]
    apply_operation(CreateRollup(spec), hypertable)
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER MATERIALIZED VIEW {spec.name} SET (timescaledb.materialized_only = true)")

    with transaction.atomic():
        refresh_rollup(spec, *ALL_TIME, now=FAR_FUTURE)
        transaction.set_rollback(True)
    assert fetch_rows(rollup_relation(spec)) == []
