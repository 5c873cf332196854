"""/api/v1/strategies/ and /api/v1/strategies/{id}/instruments/: CRUD, validation (clear 400s in the
error shape), and ownership on every endpoint (a stranger gets 404 and nothing changes)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from accounts.tests.trading_factories import make_account
from strategies.models import LegStatus, M2MCandle, Strategy, StrategyInstrument, StrategyStatus
from strategies.tests.factories import ENTRY, leg, long_future, straddle

pytestmark = pytest.mark.django_db

BASE = "/api/v1/strategies/"


def snapshot() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    return list(Strategy.objects.order_by("id").values()), list(StrategyInstrument.objects.order_by("id").values())


def test_create_with_two_legs(auth_client: Any, user: Any, instruments: Any) -> None:
    account = make_account(user)
    response = auth_client.post(BASE, {
        "name": "Straddle", "description": "weekly", "tags": ["nifty", "short-vol", "nifty"],
        "trading_account": account.pk,
        "instruments": [
            leg(instruments["ce"], "SELL", 1, "200"),
            {"symbol": instruments["pe"].symbol, "side": "sell", "lots": 2, "entry_price": 180.5},
        ],
    }, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert {k: body[k] for k in ("name", "description", "tags", "status", "trading_account", "current_m2m")} == {
        "name": "Straddle", "description": "weekly", "tags": ["nifty", "short-vol"], "status": "ACTIVE",
        "trading_account": account.pk, "current_m2m": 0.0}
    legs = body["instruments"]
    assert [(x["side"], x["lots"], x["quantity"], x["entry_price"], x["status"], x["instrument"]["symbol"])
            for x in legs] == [
        ("SELL", 1, 75, 200.0, "OPEN", instruments["ce"].symbol),
        ("SELL", 2, 150, 180.5, "OPEN", instruments["pe"].symbol),
    ]
    assert legs[0]["entry_time"] == "2025-11-28T04:00:00Z"
    assert (legs[0]["last_price"], legs[0]["price_stale"], legs[0]["pnl"]) == (None, True, 0.0)


def test_list_detail_update_and_delete(auth_client: Any, user: Any, instruments: Any) -> None:
    first = straddle(user, instruments)
    second = long_future(user, instruments)
    listed = auth_client.get(BASE).json()
    assert [(s["name"], s["leg_count"], s["open_leg_count"]) for s in listed] == [
        ("Long future", 1, 1), ("Short straddle", 2, 2)]
    assert [s["name"] for s in auth_client.get(f"{BASE}?status=paused").json()] == []

    patched = auth_client.patch(f"{BASE}{first.pk}/", {"name": "Renamed", "status": "PAUSED", "tags": "a, b"},
                                format="json")
    assert patched.status_code == 200
    assert (patched.json()["name"], patched.json()["status"], patched.json()["tags"]) == ("Renamed", "PAUSED", ["a", "b"])
    assert [s["name"] for s in auth_client.get(f"{BASE}?status=PAUSED").json()] == ["Renamed"]

    assert auth_client.delete(f"{BASE}{second.pk}/").status_code == 204
    assert list(Strategy.objects.values_list("name", flat=True)) == ["Renamed"]


def test_legs_crud(auth_client: Any, user: Any, instruments: Any) -> None:
    strategy = long_future(user, instruments)
    url = f"{BASE}{strategy.pk}/instruments/"
    added = auth_client.post(url, leg(instruments["ce"], "BUY", 3, "150.25"), format="json")
    assert added.status_code == 201
    leg_id = added.json()["id"]
    assert (added.json()["quantity"], added.json()["status"]) == (225, "OPEN")
    assert [x["id"] for x in auth_client.get(url).json()][-1] == leg_id

    exit_time = (timezone.now() - timedelta(minutes=5)).isoformat()
    closed = auth_client.patch(f"{url}{leg_id}/", {"exit_price": "160", "exit_time": exit_time}, format="json")
    assert closed.status_code == 200
    body = closed.json()
    assert (body["status"], body["exit_price"], body["pnl"], body["last_price"]) == ("CLOSED", 160.0, 2193.75, 160.0)

    more = auth_client.patch(f"{url}{leg_id}/", {"lots": 1}, format="json").json()
    assert (more["lots"], more["quantity"]) == (1, 75)
    assert auth_client.get(f"{url}{leg_id}/").json()["lots"] == 1
    assert auth_client.delete(f"{url}{leg_id}/").status_code == 204
    assert not StrategyInstrument.objects.filter(pk=leg_id).exists()


def test_closing_exits_open_legs_at_the_last_price(auth_client: Any, user: Any, instruments: Any,
                                                   prices: Any) -> None:
    strategy = straddle(user, instruments)
    prices({instruments["ce"]: (190.0, 0), instruments["pe"]: (185.0, 0)})
    body = auth_client.patch(f"{BASE}{strategy.pk}/", {"status": "CLOSED"}, format="json").json()
    # CE -75 x (190 - 200) = 750; PE -75 x (185 - 180) = -375.
    assert (body["status"], body["realised_pnl"], body["current_m2m"], body["unrealised_pnl"]) == (
        "CLOSED", 375.0, 375.0, 0.0)
    assert [(x["status"], x["exit_price"]) for x in body["instruments"]] == [("CLOSED", 190.0), ("CLOSED", 185.0)]
    assert body["closed_at"] is not None


ERRORS = [
    ({"instrument_token": 1}, "instrument_token", "Unknown instrument token 1."),
    ({"instrument_token": "abc"}, "instrument_token", "instrument_token must be a number."),
    ({"symbol": "NFO:NOPE"}, "symbol", "Unknown instrument 'NFO:NOPE'."),
    ({"lots": 0}, "lots", "lots must be greater than zero."),
    ({"lots": -2}, "lots", "lots must be greater than zero."),
    ({"lots": 1.5}, "lots", "lots must be a positive whole number."),
    ({"lots": None}, "lots", "lots must be a positive whole number."),
    ({"side": "HOLD"}, "side", "side must be BUY or SELL."),
    ({"entry_price": 0}, "entry_price", "entry_price must be a positive price."),
    ({"entry_price": "x"}, "entry_price", "entry_price must be a number."),
    ({"entry_time": "yesterday"}, "entry_time", "entry_time must be an ISO-8601 date-time."),
    ({"entry_time": "2025-11-28T09:15:00"}, "entry_time", "entry_time must include a time zone offset."),
    ({"entry_time": "2999-01-01T00:00:00Z"}, "entry_time", "entry_time is in the future."),
    ({"exit_price": 210, "exit_time": "2025-11-27T04:00:00Z"}, "exit_time", "exit_time is before entry_time."),
    ({"exit_time": "2025-11-29T04:00:00Z"}, "exit_price", "exit_price is required when exit_time is given."),
]


@pytest.mark.parametrize(("change", "field", "message"), ERRORS)
def test_bad_legs_are_clear_400s(auth_client: Any, user: Any, instruments: Any, change: dict[str, Any],
                                 field: str, message: str) -> None:
    strategy = long_future(user, instruments)
    before = snapshot()
    body = leg(instruments["ce"], "BUY", 1, "100")
    if "symbol" in change:
        body.pop("instrument_token")
    body.update(change)
    response = auth_client.post(f"{BASE}{strategy.pk}/instruments/", body, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    assert response.json()["error"]["message"] == message
    assert response.json()["error"]["details"] == {field: [message]}
    assert snapshot() == before


def test_a_bad_leg_in_a_create_names_its_index_and_creates_nothing(auth_client: Any, instruments: Any) -> None:
    response = auth_client.post(BASE, {"name": "x", "instruments": [
        leg(instruments["ce"], "BUY", 1, "100"), leg(instruments["pe"], "BUY", 0, "100")]}, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["message"] == "Leg 2: lots must be greater than zero."
    assert error["details"] == {"instruments": {"1": {"lots": ["lots must be greater than zero."]}}}
    assert not Strategy.objects.exists()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"name": ""}, "name is required."),
        ({"name": "x" * 101}, "name must be at most 100 characters."),
        ({"name": "x", "tags": [1]}, "tags must be a list of strings."),
        ({"name": "x", "status": "CLOSED"}, "A new strategy is ACTIVE or PAUSED."),
        ({"name": "x", "trading_account": 999999}, "No such trading account."),
        ({"name": "x", "instruments": "CE"}, "instruments must be a list of objects."),
    ],
)
def test_bad_strategies_are_400(auth_client: Any, body: dict[str, Any], message: str) -> None:
    response = auth_client.post(BASE, body, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["message"] == message
    assert not Strategy.objects.exists()


def test_another_users_trading_account_cannot_be_linked(auth_client: Any, other_user: Any) -> None:
    theirs = make_account(other_user)
    response = auth_client.post(BASE, {"name": "x", "trading_account": theirs.pk}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["details"] == {"trading_account": ["No such trading account."]}


def test_a_closed_strategy_cannot_be_edited(auth_client: Any, user: Any, instruments: Any) -> None:
    strategy = straddle(user, instruments)
    auth_client.patch(f"{BASE}{strategy.pk}/", {"status": "CLOSED"}, format="json")
    leg_id = strategy.legs.first().pk
    before = snapshot()
    attempts = [
        auth_client.patch(f"{BASE}{strategy.pk}/", {"name": "again"}, format="json"),
        auth_client.patch(f"{BASE}{strategy.pk}/", {"status": "ACTIVE"}, format="json"),
        auth_client.post(f"{BASE}{strategy.pk}/instruments/", leg(instruments["fut"], "BUY", 1, "1"), format="json"),
        auth_client.patch(f"{BASE}{strategy.pk}/instruments/{leg_id}/", {"lots": 3}, format="json"),
        auth_client.delete(f"{BASE}{strategy.pk}/instruments/{leg_id}/"),
    ]
    for response in attempts:
        assert response.status_code == 400
        assert response.json()["error"] == {
            "code": "strategy_closed", "message": "The strategy is closed; it can no longer be changed.",
            "details": None, "correlation_id": response.json()["error"]["correlation_id"]}
    assert snapshot() == before


def test_status_changes_follow_the_lifecycle(auth_client: Any, user: Any, instruments: Any) -> None:
    strategy = long_future(user, instruments)
    bad = auth_client.patch(f"{BASE}{strategy.pk}/", {"status": "DONE"}, format="json")
    assert (bad.status_code, bad.json()["error"]["message"]) == (400, "Cannot change status from ACTIVE to DONE.")
    assert auth_client.patch(f"{BASE}{strategy.pk}/", {"status": "PAUSED"}, format="json").json()["status"] == "PAUSED"
    assert auth_client.patch(f"{BASE}{strategy.pk}/", {"status": "ACTIVE"}, format="json").json()["status"] == "ACTIVE"


def every_endpoint(strategy: Strategy, leg_id: int) -> list[tuple[str, str, dict[str, Any] | None]]:
    s = f"{BASE}{strategy.pk}"
    return [
        ("get", f"{s}/", None),
        ("patch", f"{s}/", {"name": "hijacked"}),
        ("patch", f"{s}/", {"status": "CLOSED"}),
        ("delete", f"{s}/", None),
        ("get", f"{s}/instruments/", None),
        ("post", f"{s}/instruments/", {"instrument_token": 0, "side": "BUY", "lots": 1, "entry_price": 1}),
        ("get", f"{s}/instruments/{leg_id}/", None),
        ("patch", f"{s}/instruments/{leg_id}/", {"lots": 9}),
        ("delete", f"{s}/instruments/{leg_id}/", None),
        ("get", f"{s}/m2m", None),
        ("get", f"{s}/payoff", None),
    ]


@pytest.mark.parametrize("index", range(11))
def test_a_stranger_gets_404_everywhere_and_nothing_changes(other_client: Any, user: Any, instruments: Any,
                                                            index: int) -> None:
    strategy = straddle(user, instruments)
    M2MCandle.objects.create(strategy=strategy, time=ENTRY, open=1, high=1, low=1, close=1, realised=0, unrealised=1)
    method, url, body = every_endpoint(strategy, strategy.legs.first().pk)[index]
    before = (snapshot(), list(M2MCandle.objects.values()))
    response = getattr(other_client, method)(url, body, format="json") if body else getattr(other_client, method)(url)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert (snapshot(), list(M2MCandle.objects.values())) == before


def test_a_stranger_does_not_see_strategies_in_the_list(other_client: Any, user: Any, instruments: Any) -> None:
    straddle(user, instruments)
    assert other_client.get(BASE).json() == []


@pytest.mark.parametrize("index", range(11))
def test_anonymous_callers_get_401(api_client: Any, user: Any, instruments: Any, index: int) -> None:
    strategy = straddle(user, instruments)
    method, url, body = every_endpoint(strategy, strategy.legs.first().pk)[index]
    response = getattr(api_client, method)(url, body, format="json") if body else getattr(api_client, method)(url)
    assert response.status_code == 401


def test_a_leg_of_another_strategy_is_404(auth_client: Any, user: Any, instruments: Any) -> None:
    first, second = straddle(user, instruments), long_future(user, instruments)
    foreign_leg = second.legs.first().pk
    assert auth_client.get(f"{BASE}{first.pk}/instruments/{foreign_leg}/").status_code == 404


def test_strategy_values_round_trip_as_numbers(auth_client: Any, user: Any, instruments: Any) -> None:
    strategy = long_future(user, instruments)
    Strategy.objects.filter(pk=strategy.pk).update(current_m2m=Decimal("1234.5678"))
    assert auth_client.get(f"{BASE}{strategy.pk}/").json()["current_m2m"] == 1234.5678
    assert StrategyInstrument.objects.get().status == LegStatus.OPEN
    assert Strategy.objects.get().status == StrategyStatus.ACTIVE
