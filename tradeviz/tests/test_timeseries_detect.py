"""TimescaleDB detection: vendor, extension in the current database, TIMESCALE_MODE, caching."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from django.db import connection
from django.test import override_settings

from tradeviz.timeseries import detect
from tradeviz.timeseries.detect import clear_timescale_cache, installed_timescale_version, timescale_available


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    clear_timescale_cache()
    yield
    clear_timescale_cache()


def _extension_installed() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_extension WHERE extname = 'timescaledb'")
        row = cursor.fetchone()
    return bool(row and row[0])


@pytest.mark.django_db
def test_detection_matches_the_test_database() -> None:
    """False on the plain-PostgreSQL test database; True when run against a timescale:// database."""
    assert timescale_available() is _extension_installed()
    assert (installed_timescale_version() is not None) is _extension_installed()


@pytest.mark.django_db
def test_plain_postgres_database_is_not_timescale() -> None:
    if _extension_installed():
        pytest.skip("this run uses a TimescaleDB test database")
    assert timescale_available(connection) is False


@pytest.mark.django_db
@override_settings(TIMESCALE_MODE="off")
def test_mode_off_disables_timescale_without_querying(django_assert_num_queries: Any) -> None:
    with django_assert_num_queries(0):
        assert timescale_available() is False


@pytest.mark.django_db
@override_settings(TIMESCALE_MODE="sometimes")
def test_invalid_mode_is_an_error() -> None:
    with pytest.raises(ValueError, match="TIMESCALE_MODE"):
        timescale_available()


def test_other_vendors_are_never_timescale() -> None:
    fake: Any = SimpleNamespace(alias="other", vendor="sqlite", settings_dict={"NAME": "x.db"})
    assert timescale_available(fake) is False


@pytest.mark.django_db
def test_answer_is_cached_per_alias_and_logged_once(
    django_assert_num_queries: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger=detect.__name__):
        first = timescale_available()
        with django_assert_num_queries(0):
            assert timescale_available() is first
            assert timescale_available(connection) is first
    decisions = [r for r in caplog.records if r.name == detect.__name__]
    assert len(decisions) == 1
    assert decisions[0].getMessage().startswith("time-series storage: ")


@pytest.mark.django_db
def test_clear_cache_forces_a_new_probe(django_assert_num_queries: Any) -> None:
    timescale_available()
    clear_timescale_cache("default")
    with django_assert_num_queries(1):
        timescale_available()


# --- the guarded timescale engine ------------------------------------------------------------------


@pytest.fixture
def engine_connection() -> Iterator[Any]:
    """A second connection to the test database through the guarded timescale engine."""
    from tradeviz.db.backends.timescale.base import DatabaseWrapper

    # alias "default": connection signal handlers look the alias up in django.db.connections.
    wrapper = DatabaseWrapper({**connection.settings_dict}, alias="default")
    yield wrapper
    wrapper.close()


def _create_extension_statements(wrapper: Any) -> list[str]:
    return [q["sql"] for q in wrapper.queries if "CREATE EXTENSION" in q["sql"].upper()]


@pytest.mark.django_db
@override_settings(TIMESCALE_MODE="off")
def test_engine_does_not_create_the_extension_when_mode_is_off(engine_connection: Any) -> None:
    engine_connection.force_debug_cursor = True
    engine_connection.prepare_database()
    assert _create_extension_statements(engine_connection) == []


@pytest.mark.django_db
def test_engine_skips_the_extension_when_the_server_cannot_load_it(
    engine_connection: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from tradeviz.db.backends.timescale import base

    if _extension_installed():
        pytest.skip("the extension is already installed in this test database")
    # A loader GUC that no server defines: as on a server without shared_preload_libraries.
    monkeypatch.setattr(base, "LOADER_GUC", "timescaledb.no_such_setting_for_tests")
    engine_connection.force_debug_cursor = True
    with caplog.at_level(logging.WARNING, logger=base.__name__):
        engine_connection.prepare_database()
    assert _create_extension_statements(engine_connection) == []
    assert [r.getMessage() for r in caplog.records if r.name == base.__name__] == [
        "timescaledb extension unavailable; using plain PostgreSQL"
    ]
    # The connection is still usable afterwards.
    with engine_connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)
