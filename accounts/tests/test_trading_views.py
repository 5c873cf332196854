"""The accounts page outside the browser: only the user's own accounts are offered."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from accounts.tests.trading_factories import make_account

pytestmark = pytest.mark.django_db


def test_the_page_needs_a_login(client: Client) -> None:
    response = client.get("/accounts/")
    assert (response.status_code, response["Location"].split("?")[0]) == (302, "/login/")


def test_only_own_accounts_are_offered_whatever_the_query(user: Any, other_user: Any) -> None:
    mine = make_account(user, display_name="Mine")
    theirs = make_account(other_user, display_name="Theirs")
    client = Client()
    client.force_login(user)
    response = client.get(f"/accounts/?account={theirs.pk}")
    assert response.context["selected"] == mine
    assert list(response.context["accounts"]) == [mine]
    assert "Theirs" not in response.content.decode()
