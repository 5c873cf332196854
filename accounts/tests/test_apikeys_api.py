from __future__ import annotations

from typing import Any

import pytest

from accounts.apikeys import api_key_create
from accounts.models import ApiKey

pytestmark = pytest.mark.django_db

URL = "/api/v1/auth/api-keys/"


def test_create_shows_key_once_and_it_works(auth_client: Any, api_client: Any, user: Any) -> None:
    created = auth_client.post(URL, {"name": "chart"}, format="json")
    assert created.status_code == 201
    body = created.json()
    assert body["name"] == "chart"
    assert body["key"].startswith(f"tvz_{body['prefix']}_")

    listed = auth_client.get(URL).json()
    assert [k["prefix"] for k in listed] == [body["prefix"]]
    assert "key" not in listed[0]

    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {body['key']}")
    assert api_client.get("/api/v1/auth/me/").status_code == 200


def test_create_without_name_is_400_with_details(auth_client: Any) -> None:
    response = auth_client.post(URL, {}, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert error["details"] == {"name": ["This field is required."]}


def test_revoke_own_key(auth_client: Any, user: Any) -> None:
    issued = api_key_create(user=user, name="old")
    assert auth_client.delete(f"{URL}{issued.api_key.pk}/").status_code == 204
    assert ApiKey.objects.get(pk=issued.api_key.pk).revoked_at is not None


def test_stranger_cannot_see_or_revoke_keys(other_client: Any, user: Any) -> None:
    issued = api_key_create(user=user, name="mine")
    assert other_client.get(URL).json() == []
    response = other_client.delete(f"{URL}{issued.api_key.pk}/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert ApiKey.objects.get(pk=issued.api_key.pk).revoked_at is None


def test_anonymous_cannot_create(api_client: Any) -> None:
    assert api_client.post(URL, {"name": "x"}, format="json").status_code == 401
    assert ApiKey.objects.count() == 0
