"""Rollups on plain PostgreSQL: summary table + live view, checked against a Python reference
aggregation of generated (shuffled) bars; idempotence, partial windows, watermark, open bucket,
reversibility, registry, the beat service and task, and the beat schedule migration."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.db.migrations.state import ProjectState
from django.db.migrations.writer import OperationWriter

from tradeviz.errors import InvalidInput
from tradeviz.timeseries import rollups as rollups_module
from tradeviz.timeseries.detect import clear_timescale_cache, timescale_available
from tradeviz.timeseries.operations import CreateRollup, TimeSeriesTable
from tradeviz.timeseries.rollups import (
    RollupColumn,
    RollupRefreshFailed,
    RollupSpec,
    get_rollup,
    refresh_recent_rollups,
    refresh_registered_rollups,
    refresh_rollup,
    register_rollup,
    registered_rollups,
    rollup_relation,
)
from tradeviz.timeseries.tasks import refresh_rollups
from tradeviz.timeseries.testing import (
    OHLCV_AGGREGATES,
    GeneratedBar,
    apply_operation,
    create_bar_table,
    fetch_rows,
    generate_bars,
    insert_bars,
    ist,
    reference_rollup,
)

pytestmark = pytest.mark.django_db

TABLE = "tstest_bar"
DAYS = [date(2024, 3, 11), date(2024, 3, 12), date(2024, 3, 13)]
INSTRUMENTS = [1, 2, 3]
FAR_FUTURE = datetime(2030, 1, 1, tzinfo=UTC)
ALL_TIME = (datetime(2024, 1, 1, tzinfo=UTC), datetime(2025, 1, 1, tzinfo=UTC))


def _spec(name: str, bucket: str) -> RollupSpec:
    return RollupSpec(name=name, source_table=TABLE, bucket=bucket, aggregates=OHLCV_AGGREGATES)


SPECS = {
    "5": _spec("tstest_bar_5m", "5"),
    "15": _spec("tstest_bar_15m", "15"),
    "60": _spec("tstest_bar_1h", "60"),
    "1D": _spec("tstest_bar_1d", "1D"),
}


@pytest.fixture(autouse=True)
def _plain_postgres(settings: Any) -> Iterator[None]:
    """The plain-PostgreSQL path; on a TimescaleDB test database TIMESCALE_MODE=off forces it."""
    settings.TIMESCALE_MODE = "off"
    clear_timescale_cache()
    assert timescale_available() is False
    yield
    clear_timescale_cache()


@pytest.fixture
def isolated_registry(monkeypatch: pytest.MonkeyPatch) -> dict[str, RollupSpec]:
    """Apps register their own rollups at startup; these tests see only the ones they register."""
    registry: dict[str, RollupSpec] = {}
    monkeypatch.setattr(rollups_module, "_registry", registry)
    return registry


@pytest.fixture
def bar_table() -> ProjectState:
    state = create_bar_table("Bar", TABLE)
    apply_operation(TimeSeriesTable("Bar"), state)
    for spec in SPECS.values():
        apply_operation(CreateRollup(spec), state)
    return state


@pytest.fixture
def bars(bar_table: ProjectState) -> list[GeneratedBar]:
    generated = generate_bars(instruments=INSTRUMENTS, days=DAYS)
    insert_bars(TABLE, generated)
    return generated


def _store(spec: RollupSpec) -> str:
    return connection.ops.quote_name(spec.store_name)


def _watermark(spec: RollupSpec) -> tuple[Any, Any]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT watermark, stamp FROM tradeviz_rollup_watermark WHERE relation = %s", [spec.name]
        )
        row = cursor.fetchone()
    assert row is not None
    return row[0], row[1]


def _regclass(name: str) -> str | None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)::text", [name])
        row = cursor.fetchone()
    return row[0] if row else None


# --- correctness -----------------------------------------------------------------------------------


@pytest.mark.parametrize("bucket", list(SPECS))
def test_refresh_matches_python_reference(bucket: str, bars: list[GeneratedBar]) -> None:
    spec = SPECS[bucket]
    result = refresh_rollup(spec, *ALL_TIME, now=FAR_FUTURE)
    expected = reference_rollup(spec, bars)
    per_day = {"5": 75, "15": 25, "60": 7, "1D": 1}[bucket]
    assert len(expected) == len(INSTRUMENTS) * len(DAYS) * per_day
    assert result is not None
    assert (result.written, result.deleted, result.start) == (len(expected), 0, None)
    assert fetch_rows(_store(spec)) == expected
    assert fetch_rows(rollup_relation(spec)) == expected


def test_view_columns_and_types(bars: list[GeneratedBar]) -> None:
    spec = SPECS["5"]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
            "WHERE attrelid = %s::regclass AND attnum > 0 ORDER BY attnum",
            [spec.name],
        )
        assert cursor.fetchall() == [
            ("bucket", "timestamp with time zone"),
            ("instrument_id", "bigint"),
            ("open", "numeric"),
            ("high", "numeric"),
            ("low", "numeric"),
            ("close", "numeric"),
            ("volume", "numeric"),
            ("oi", "bigint"),
        ]


def test_first_and_last_follow_time_not_insertion_order(bar_table: ProjectState) -> None:
    day = DAYS[0]
    rows = [
        GeneratedBar(
            7, ist(day, 9, 19).astimezone(UTC), Decimal(14), Decimal(15), Decimal(13), Decimal(14), 4, 40
        ),
        GeneratedBar(
            7, ist(day, 9, 15).astimezone(UTC), Decimal(10), Decimal(11), Decimal(9), Decimal(10), 1, 10
        ),
        GeneratedBar(
            7, ist(day, 9, 17).astimezone(UTC), Decimal(12), Decimal(20), Decimal(8), Decimal(12), 2, None
        ),
    ]
    insert_bars(TABLE, rows)
    spec = SPECS["5"]
    refresh_rollup(spec, *ALL_TIME, now=FAR_FUTURE)
    assert fetch_rows(rollup_relation(spec)) == [
        (
            ist(day, 9, 15).astimezone(UTC),
            7,
            Decimal(10),
            Decimal(20),
            Decimal(8),
            Decimal(14),
            Decimal(7),
            40,
        )
    ]


def test_refresh_twice_gives_the_same_rows_and_writes_nothing(bars: list[GeneratedBar]) -> None:
    spec = SPECS["15"]
    refresh_rollup(spec, *ALL_TIME, now=FAR_FUTURE)
    first = fetch_rows(_store(spec))
    again = refresh_rollup(spec, *ALL_TIME, now=FAR_FUTURE)
    assert again is not None
    assert (again.written, again.deleted) == (0, 0)
    assert fetch_rows(_store(spec)) == first


def test_partial_window_touches_only_overlapping_buckets(bars: list[GeneratedBar]) -> None:
    spec = SPECS["5"]
    refresh_rollup(spec, *ALL_TIME, now=FAR_FUTURE)
    before = {(row[1], row[0]): row for row in fetch_rows(_store(spec))}
    day = DAYS[1]
    inside = ist(day, 10, 4)  # last minute of the 10:00-10:05 bucket, inside the window
    outside = ist(day, 10, 9)  # last minute of the 10:05-10:10 bucket, outside it
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {TABLE} SET close = 999 WHERE instrument_id = 1 AND time IN (%s, %s)", [inside, outside]
        )
        cursor.execute(
            f"DELETE FROM {TABLE} WHERE instrument_id = 2 AND time >= %s AND time < %s",
            [ist(day, 10, 0), ist(day, 10, 5)],
        )
    # A window inside one bucket is widened to the whole bucket.
    result = refresh_rollup(spec, ist(day, 10, 1), ist(day, 10, 2), now=FAR_FUTURE)
    assert result is not None
    assert (result.start, result.end) == (ist(day, 10, 0), ist(day, 10, 5))
    assert (result.written, result.deleted) == (1, 1)

    after = {(row[1], row[0]): row for row in fetch_rows(_store(spec))}
    bucket_in = ist(day, 10, 0).astimezone(UTC)
    bucket_out = ist(day, 10, 5).astimezone(UTC)
    assert after[(1, bucket_in)][5] == Decimal(999)
    assert (2, bucket_in) not in after
    assert after[(1, bucket_out)] == before[(1, bucket_out)]  # outside the window: untouched
    changed = {key for key in before if before[key] != after.get(key)}
    assert changed == {(1, bucket_in), (2, bucket_in)}
    assert len(after) == len(before) - 1


def test_view_serves_rows_after_the_watermark_live(bars: list[GeneratedBar]) -> None:
    spec = SPECS["5"]
    expected = reference_rollup(spec, bars)
    # Never refreshed: the view aggregates everything live, the store is empty.
    assert fetch_rows(_store(spec)) == []
    assert fetch_rows(rollup_relation(spec)) == expected

    now = ist(DAYS[1], 12, 2)
    result = refresh_rollup(spec, now - timedelta(minutes=30), now, now=now)
    assert result is not None
    # First refresh materializes all history up to the open bucket (12:00), never the open bucket.
    assert (result.start, result.end) == (None, ist(DAYS[1], 12, 0))
    assert _watermark(spec) == (ist(DAYS[1], 12, 0), ist(DAYS[1], 12, 0))
    stored = fetch_rows(_store(spec))
    assert max(row[0] for row in stored) == ist(DAYS[1], 11, 55)
    assert stored == [row for row in expected if row[0] < ist(DAYS[1], 12, 0)]
    assert fetch_rows(rollup_relation(spec)) == expected

    # A tick merged into the open bucket shows immediately, without a refresh.
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {TABLE} SET high = 5000 WHERE instrument_id = 3 AND time = %s", [ist(DAYS[1], 12, 1)]
        )
    live = fetch_rows(
        rollup_relation(spec), where="instrument_id = 3 AND bucket = %s", params=[ist(DAYS[1], 12, 0)]
    )
    assert live[0][3] == Decimal(5000)


def test_daily_rollup_watermark_and_live_day(bars: list[GeneratedBar]) -> None:
    spec = SPECS["1D"]
    now = ist(DAYS[1], 14, 0)
    result = refresh_rollup(spec, now - timedelta(minutes=30), now, now=now)
    assert result is not None
    assert result.end == ist(DAYS[1], 0, 0)  # IST midnight: raw boundary of the day bucket
    assert _watermark(spec) == (ist(DAYS[1], 0, 0), datetime(2024, 3, 12, tzinfo=UTC))
    assert [row[0] for row in fetch_rows(_store(spec))] == [datetime(2024, 3, 11, tzinfo=UTC)] * 3
    assert fetch_rows(rollup_relation(spec)) == reference_rollup(spec, bars)


def test_window_beyond_the_watermark_fills_the_gap(bars: list[GeneratedBar]) -> None:
    spec = SPECS["60"]
    refresh_rollup(spec, *ALL_TIME, now=ist(DAYS[0], 16, 0))
    assert _watermark(spec)[0] == ist(DAYS[0], 15, 15)
    # Refresh only a window on the third day: the second day must be materialized too.
    result = refresh_rollup(spec, ist(DAYS[2], 10, 0), ist(DAYS[2], 11, 0), now=FAR_FUTURE)
    assert result is not None
    assert (result.start, result.end) == (ist(DAYS[0], 15, 15), ist(DAYS[2], 11, 15))
    materialized = {row[0] for row in fetch_rows(_store(spec))}
    assert ist(DAYS[1], 9, 15) in materialized
    assert ist(DAYS[2], 10, 15) in materialized
    assert ist(DAYS[2], 11, 15) not in materialized
    assert fetch_rows(rollup_relation(spec)) == reference_rollup(spec, bars)


def test_nothing_to_do_when_only_the_open_bucket_is_in_the_window(bars: list[GeneratedBar]) -> None:
    spec = SPECS["5"]
    now = ist(DAYS[1], 12, 2)
    refresh_rollup(spec, *ALL_TIME, now=now)
    assert refresh_rollup(spec, ist(DAYS[1], 12, 0), now, now=now) is None


def test_refresh_rejects_naive_and_empty_windows(bar_table: ProjectState) -> None:
    spec = SPECS["5"]
    with pytest.raises(ValueError, match="aware"):
        refresh_rollup(spec, datetime(2024, 1, 1), datetime(2024, 1, 2, tzinfo=UTC))
    with pytest.raises(ValueError, match="empty"):
        refresh_rollup(spec, ALL_TIME[1], ALL_TIME[0])


# --- migration operation ---------------------------------------------------------------------------


def test_create_rollup_is_reversible(bar_table: ProjectState) -> None:
    spec = SPECS["5"]
    assert _regclass(spec.name) == spec.name
    assert _regclass(spec.store_name) == spec.store_name
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'p'",
            [spec.store_name],
        )
        assert cursor.fetchone() == ("PRIMARY KEY (instrument_id, bucket)",)
    apply_operation(CreateRollup(spec), bar_table, backwards=True)
    assert _regclass(spec.name) is None
    assert _regclass(spec.store_name) is None
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM tradeviz_rollup_watermark WHERE relation = %s", [spec.name])
        assert cursor.fetchone() == (0,)
    # Forwards again after a reverse works (the migration can be re-applied).
    apply_operation(CreateRollup(spec), bar_table)
    assert _regclass(spec.name) == spec.name


def test_create_rollup_serializes_into_a_migration() -> None:
    spec = SPECS["1D"]
    text, imports = OperationWriter(CreateRollup(spec), indentation=0).serialize()
    assert "import tradeviz.timeseries.rollups" in imports
    namespace: dict[str, Any] = {}
    exec("\n".join(sorted(imports)), namespace)  # noqa: S102 - the writer's own output
    rebuilt = eval(text.rstrip(","), namespace)  # noqa: S307
    assert rebuilt.spec == spec


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"bucket": "7"}, "dividing 1440"),
        ({"bucket": "W"}, "dividing 1440"),
        ({"name": "Bad-Name"}, "rollup name"),
        ({"aggregates": (("open", "median"),)}, "median"),
        ({"aggregates": (("bucket", "max"),)}, "distinct"),
        ({"policy_start_offset": timedelta(minutes=5)}, "two buckets|2 buckets"),
    ],
)
def test_spec_validation(kwargs: dict[str, Any], message: str) -> None:
    base: dict[str, Any] = {
        "name": "tstest_x",
        "source_table": TABLE,
        "bucket": "5",
        "aggregates": OHLCV_AGGREGATES,
    }
    with pytest.raises(ValueError, match=message):
        RollupSpec(**{**base, **kwargs})


def test_spec_normalizes_columns() -> None:
    spec = RollupSpec(name="tstest_x", source_table=TABLE, bucket="1", aggregates=(("vol", "sum", "volume"),))
    assert spec.bucket == "1"
    assert spec.columns == (RollupColumn(output="vol", kind="sum", source="volume"),)  # type: ignore[arg-type]
    assert spec.output_columns == ("bucket", "instrument_id", "vol")
    assert replace(spec, bucket="D").bucket == "1D"


# --- registry, service, task, schedule --------------------------------------------------------------


def test_registry(isolated_registry: dict[str, RollupSpec]) -> None:
    spec = SPECS["5"]
    assert register_rollup(spec) is spec
    register_rollup(spec)  # idempotent
    assert registered_rollups() == (spec,)
    assert get_rollup(spec.name) is spec
    assert rollup_relation(spec.name) == '"tstest_bar_5m"'
    with pytest.raises(ValueError, match="different definition"):
        register_rollup(replace(spec, bucket="15"))
    with pytest.raises(LookupError):
        rollup_relation("tstest_unknown")


def test_refresh_recent_rollups(isolated_registry: dict[str, RollupSpec], bars: list[GeneratedBar]) -> None:
    for spec in SPECS.values():
        register_rollup(spec)
    now = ist(DAYS[2], 15, 31)
    results = refresh_recent_rollups(window=timedelta(minutes=30), now=now)
    assert [(r.rollup, r.end) for r in results] == [
        ("tstest_bar_5m", ist(DAYS[2], 15, 30)),
        ("tstest_bar_15m", ist(DAYS[2], 15, 30)),
        ("tstest_bar_1h", ist(DAYS[2], 15, 15)),
        ("tstest_bar_1d", ist(DAYS[2], 0, 0)),
    ]
    for spec in SPECS.values():
        assert fetch_rows(rollup_relation(spec)) == reference_rollup(spec, bars)
    # The next minute: nothing changed, so nothing is written.
    again = refresh_recent_rollups(window=timedelta(minutes=30), now=now + timedelta(minutes=1))
    assert [(r.rollup, r.written, r.deleted) for r in again] == [
        ("tstest_bar_5m", 0, 0),
        ("tstest_bar_15m", 0, 0),
        ("tstest_bar_1h", 0, 0),
    ]


def test_one_broken_rollup_does_not_stop_the_others(
    isolated_registry: dict[str, RollupSpec], bars: list[GeneratedBar]
) -> None:
    register_rollup(_spec("tstest_never_created", "5"))
    register_rollup(SPECS["15"])
    with pytest.raises(RollupRefreshFailed, match="tstest_never_created"):
        refresh_registered_rollups(start=ALL_TIME[0], end=ALL_TIME[1], now=FAR_FUTURE)
    assert fetch_rows(_store(SPECS["15"])) == reference_rollup(SPECS["15"], bars)


def test_task_refreshes_an_explicit_window(
    isolated_registry: dict[str, RollupSpec], bars: list[GeneratedBar]
) -> None:
    register_rollup(SPECS["60"])
    refresh_rollups(start="2024-03-11T00:00:00+05:30", end="2024-03-14T00:00:00+05:30")
    assert fetch_rows(_store(SPECS["60"])) == reference_rollup(SPECS["60"], bars)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"start": "2024-03-11T00:00:00+05:30"},
        {"start": "2024-03-11T00:00:00", "end": "2024-03-12T00:00:00"},
        {"start": "yesterday", "end": "today"},
    ],
)
def test_task_rejects_bad_arguments(isolated_registry: dict[str, RollupSpec], kwargs: dict[str, str]) -> None:
    with pytest.raises(InvalidInput):
        refresh_rollups(**kwargs)


def test_task_default_is_the_recent_window(
    isolated_registry: dict[str, RollupSpec], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[timedelta] = []
    monkeypatch.setattr(
        "tradeviz.timeseries.tasks.refresh_recent_rollups", lambda *, window: calls.append(window)
    )
    refresh_rollups()
    refresh_rollups(window_seconds=600)
    assert calls == [rollups_module.DEFAULT_REFRESH_WINDOW, timedelta(minutes=10)]
    assert refresh_rollups.name == "tradeviz.refresh_rollups"


def test_beat_schedule_migration() -> None:
    from django.apps import apps
    from django_celery_beat.models import PeriodicTask

    migration = importlib.import_module("tradeviz.migrations.0002_rollup_refresh_schedule")
    PeriodicTask.objects.filter(task="tradeviz.refresh_rollups").delete()
    migration.create_schedule(apps, None)
    migration.create_schedule(apps, None)  # idempotent
    task = PeriodicTask.objects.get(task="tradeviz.refresh_rollups")
    assert (task.name, task.enabled, task.interval.every, task.interval.period, task.expire_seconds) == (
        "Refresh rollups",
        True,
        1,
        "minutes",
        50,
    )
    migration.remove_schedule(apps, None)
    assert not PeriodicTask.objects.filter(task="tradeviz.refresh_rollups").exists()
