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
