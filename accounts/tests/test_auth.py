from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from accounts.apikeys import api_key_create, api_key_revoke
from accounts.models import ApiKey

pytestmark = pytest.mark.django_db

ME = "/api/v1/auth/me/"


def test_no_credentials_is_401_in_error_shape(api_client: Any) -> None:
    response = api_client.get(ME, HTTP_X_CORRELATION_ID="req-123")
    assert response.status_code == 401
    body = response.json()
    assert body == {
        "error": {
            "code": "not_authenticated",
            "message": "Authentication credentials were not provided.",
            "details": None,
            "correlation_id": "req-123",
        }
    }


def test_jwt_obtained_from_token_endpoint_authenticates(api_client: Any, user: Any) -> None:
    tokens = api_client.post(
        "/api/v1/auth/token/", {"username": "trader", "password": "trader-pass-1"}, format="json"
    ).json()
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    response = api_client.get(ME)
    assert response.status_code == 200
    assert response.json()["username"] == "trader"

    refreshed = api_client.post("/api/v1/auth/token/refresh/", {"refresh": tokens["refresh"]}, format="json")
    assert refreshed.status_code == 200
    assert api_client.post("/api/v1/auth/token/verify/", {"token": tokens["access"]}, format="json").status_code == 200


def test_wrong_password_gets_no_token(api_client: Any, user: Any) -> None:
    response = api_client.post("/api/v1/auth/token/", {"username": "trader", "password": "nope"}, format="json")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "no_active_account"


def test_garbage_jwt_is_401(api_client: Any) -> None:
    api_client.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")
    response = api_client.get(ME)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_not_valid"


def test_api_key_authenticates_and_records_last_use(api_client: Any, user: Any) -> None:
    issued = api_key_create(user=user, name="script")
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {issued.raw_key}")
    response = api_client.get(ME)
    assert response.status_code == 200
    assert response.json()["username"] == "trader"
    assert ApiKey.objects.get(pk=issued.api_key.pk).last_used_at is not None


def test_revoked_api_key_is_401(api_client: Any, user: Any) -> None:
    issued = api_key_create(user=user, name="script")
    api_key_revoke(api_key=issued.api_key)
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {issued.raw_key}")
    response = api_client.get(ME)
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "Invalid or revoked API key."


@pytest.mark.parametrize(
    "header",
    ["Api-Key ", "Api-Key tvz_deadbeef_x", "Api-Key plainwrong", "Api-Key tvz__", "Api-Key tvz_a_b_c"],
)
def test_malformed_or_unknown_api_keys_are_401(api_client: Any, user: Any, header: str) -> None:
    api_key_create(user=user, name="real")
    api_client.credentials(HTTP_AUTHORIZATION=header)
    assert api_client.get(ME).status_code == 401


def test_key_with_right_prefix_but_wrong_secret_is_401(api_client: Any, user: Any) -> None:
    issued = api_key_create(user=user, name="script")
    forged = issued.raw_key[:-4] + "AAAA"
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {forged}")
    assert api_client.get(ME).status_code == 401


def test_key_of_deactivated_user_is_401(api_client: Any, user: Any) -> None:
    issued = api_key_create(user=user, name="script")
    user.is_active = False
    user.save()
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {issued.raw_key}")
    assert api_client.get(ME).status_code == 401


def test_only_hash_of_key_is_stored(user: Any) -> None:
    issued = api_key_create(user=user, name="script")
    row = ApiKey.objects.get(pk=issued.api_key.pk)
    assert issued.raw_key.startswith(f"tvz_{row.prefix}_")
    assert issued.raw_key not in (row.hashed_key, row.prefix)
    assert len(row.hashed_key) == 64


def test_session_login_reaches_api(client: Any, user: Any) -> None:
    assert client.login(username="trader", password="trader-pass-1")
    assert client.get(ME).status_code == 200


def test_dashboard_requires_login(client: Any) -> None:
    response = client.get(reverse("ops"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
