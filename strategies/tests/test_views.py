"""The strategy pages outside the browser: who may see what."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from strategies.tests.factories import long_future, straddle
from strategies.views import sparkline_points

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner_client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def stranger_client(other_user: Any) -> Client:
    client = Client()
    client.force_login(other_user)
    return client


def test_pages_need_a_login(client: Client, user: Any, instruments: Any) -> None:
    strategy = straddle(user, instruments)
    for url in ("/strategies/", "/strategies/new/", f"/strategies/{strategy.pk}/"):
        response = client.get(url)
        assert (response.status_code, response["Location"].split("?")[0]) == (302, "/login/")


def test_the_owner_sees_list_and_detail(owner_client: Client, user: Any, instruments: Any) -> None:
    strategy = straddle(user, instruments)
    listing = owner_client.get("/strategies/").content.decode()
    assert "Short straddle" in listing
    detail = owner_client.get(f"/strategies/{strategy.pk}/").content.decode()
    assert instruments["ce"].tradingsymbol in detail
    assert instruments["pe"].tradingsymbol in detail
    assert owner_client.get("/strategies/new/").status_code == 200


def test_a_stranger_gets_404_and_an_empty_list(stranger_client: Client, user: Any, instruments: Any) -> None:
    strategy = long_future(user, instruments)
    assert stranger_client.get(f"/strategies/{strategy.pk}/").status_code == 404
    assert "Long future" not in stranger_client.get("/strategies/").content.decode()


def test_sparkline_points_scale_into_the_box() -> None:
    assert sparkline_points([1.0], width=10, height=10) == ""
    assert sparkline_points([0.0, 5.0, 10.0], width=10, height=10) == "0.0,10.0 5.0,5.0 10.0,0.0"
    assert sparkline_points([3.0, 3.0], width=10, height=10) == "0.0,10.0 10.0,10.0"
