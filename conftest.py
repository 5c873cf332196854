"""Project-wide pytest fixtures: users (owner / stranger), API clients authenticated three ways."""

from __future__ import annotations

import os
from typing import Any

import pytest

os.environ.setdefault("DJANGO_ENV", "test")

pytest_plugins = ["tradeviz.testing.browser"]

TRANSACTIONAL_FIXTURES = ("live_server", "transactional_db")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Transactional tests flush the database when they end, which would wipe what data migrations
    seeded (holidays, beat schedules) for every later test; serialized rollback restores it."""
    for item in items:
        marker = item.get_closest_marker("django_db")
        transactional = bool(marker and marker.kwargs.get("transaction")) or any(
            name in getattr(item, "fixturenames", ()) for name in TRANSACTIONAL_FIXTURES
        )
        if transactional and "django_db_serialized_rollback" not in item.fixturenames:  # type: ignore[attr-defined]
            item.fixturenames.append("django_db_serialized_rollback")  # type: ignore[attr-defined]


@pytest.fixture
def user(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user(username="trader", password="trader-pass-1")


@pytest.fixture
def other_user(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user(username="stranger", password="stranger-pass-1")


@pytest.fixture
def api_client() -> Any:
    from rest_framework.test import APIClient

    return APIClient()


@pytest.fixture
def auth_client(user: Any) -> Any:
    """An APIClient holding a JWT access token for `user`."""
    from rest_framework.test import APIClient
    from rest_framework_simplejwt.tokens import AccessToken

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(user)}")
    return client


@pytest.fixture
def other_client(other_user: Any) -> Any:
    from rest_framework.test import APIClient
    from rest_framework_simplejwt.tokens import AccessToken

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(other_user)}")
    return client
