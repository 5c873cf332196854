"""/api/v1/accounts/: a user's trading accounts and, per account, positions, orders, holdings, funds.
Every endpoint is tried by its owner, a stranger (404, nothing changes) and an anonymous caller (401)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from accounts.models import FundsSnapshot, Holding, Order
from accounts.services.orders import order_updates_apply
from accounts.tests.trading_factories import T0_MS, make_account, make_instrument, parsed, update
from marketdata.last_prices import LAST_PRICE_HASH, write_last_prices
from tradeviz.redis_client import get_redis

pytestmark = pytest.mark.django_db

BASE = "/api/v1/accounts/"


@pytest.fixture
def book(user: Any) -> dict[str, Any]:
    """An account with a long position, a few orders, a holding and two funds snapshots."""
    account = make_account(user, display_name="Main")
    future = make_instrument(tradingsymbol="NIFTYTESTFUT", lot_size=75)
    order_updates_apply(updates=parsed(
        update(account, future, order_id="A", status="COMPLETE", quantity=150, filled=150, average="100", at=0),
        update(account, future, order_id="B", status="OPEN", quantity=75, at=60_000),
        # Placed the next IST day.
        update(account, future, order_id="C", status="CANCELLED", quantity=75, at=86_400_000),
    ))
    Holding.objects.create(account=account, instrument_token=future.instrument_token, tradingsymbol="INFY",
                           quantity=10, average_price=Decimal("1500"), last_price=Decimal("1560"), pnl=Decimal("600"))
    for k, cash in enumerate(("1000", "2000")):
        FundsSnapshot.objects.create(account=account, taken_at=datetime(2025, 12, 1, 4, k, tzinfo=UTC),
                                     available_cash=Decimal(cash))
    return {"account": account, "future": future}


def endpoints(account_id: int) -> list[str]:
    return [f"{BASE}{account_id}/{suffix}" for suffix in ("", "positions/", "orders/", "holdings/", "funds/")]


def test_a_user_lists_only_their_accounts(auth_client: Any, book: dict[str, Any], other_user: Any) -> None:
    make_account(other_user, display_name="Theirs")
    body = auth_client.get(BASE).json()
    assert [(a["display_name"], a["broker"]) for a in body] == [("Main", "sim")]


@pytest.mark.parametrize("index", range(5))
def test_a_stranger_gets_404_on_every_account_endpoint(other_client: Any, book: dict[str, Any], index: int) -> None:
    before = list(Order.objects.values())
    response = other_client.get(endpoints(book["account"].pk)[index])
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert list(Order.objects.values()) == before


@pytest.mark.parametrize("index", range(5))
def test_anonymous_callers_are_refused(api_client: Any, book: dict[str, Any], index: int) -> None:
    assert api_client.get(endpoints(book["account"].pk)[index]).status_code == 401


def test_writes_are_not_allowed(auth_client: Any, book: dict[str, Any]) -> None:
    url = f"{BASE}{book['account'].pk}/orders/"
    assert auth_client.post(url, {}, format="json").status_code == 405
    assert auth_client.delete(f"{BASE}{book['account'].pk}/").status_code == 405


def test_positions_are_marked_at_the_live_price(auth_client: Any, book: dict[str, Any]) -> None:
    token = book["future"].instrument_token
    write_last_prices({token: {"ltp": 104.5, "ts": T0_MS}})
    try:
        body = auth_client.get(f"{BASE}{book['account'].pk}/positions/").json()
    finally:
        get_redis().hdel(LAST_PRICE_HASH, str(token))
    assert len(body) == 1
    position = body[0]
    assert {k: position[k] for k in ("tradingsymbol", "product", "quantity", "average_price", "last_price",
                                     "realised_pnl", "unrealised_pnl", "total_pnl", "live")} == {
        "tradingsymbol": "NIFTYTESTFUT", "product": "NRML", "quantity": 150, "average_price": 100.0,
        "last_price": 104.5, "realised_pnl": 0.0, "unrealised_pnl": 675.0, "total_pnl": 675.0, "live": True,
    }


def test_positions_without_a_live_price_keep_the_stored_mark(auth_client: Any, book: dict[str, Any]) -> None:
    position = auth_client.get(f"{BASE}{book['account'].pk}/positions/").json()[0]
    assert (position["last_price"], position["unrealised_pnl"], position["live"]) == (None, 0.0, False)


def test_orders_newest_first_with_their_lifecycle(auth_client: Any, book: dict[str, Any]) -> None:
    body = auth_client.get(f"{BASE}{book['account'].pk}/orders/").json()
    assert body["count"] == 3
    assert [o["broker_order_id"] for o in body["results"]] == ["C", "B", "A"]
    first = body["results"][2]
    assert {k: first[k] for k in ("status", "quantity", "filled_quantity", "pending_quantity", "average_price",
                                  "completed_at", "side", "product")} == {
        "status": "COMPLETE", "quantity": 150, "filled_quantity": 150, "pending_quantity": 0,
        "average_price": 100.0, "completed_at": "2025-12-01T03:45:00Z", "side": "BUY", "product": "NRML",
    }


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("status=OPEN", ["B"]),
        ("status=open,cancelled", ["C", "B"]),
        ("date=2025-12-01", ["B", "A"]),
        ("date=2025-12-02", ["C"]),
        ("from=2025-12-01T09:16:00%2B05:30", ["C", "B"]),
        ("to=2025-12-01", ["B", "A"]),
        ("status=COMPLETE&date=2025-12-01", ["A"]),
        ("limit=1&offset=1", ["B"]),
    ],
)
def test_orders_filter_by_status_and_date(auth_client: Any, book: dict[str, Any], query: str,
                                          expected: list[str]) -> None:
    body = auth_client.get(f"{BASE}{book['account'].pk}/orders/?{query}").json()
    assert [o["broker_order_id"] for o in body["results"]] == expected


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("status=DONE", "unknown status DONE; expected any of OPEN, TRIGGER_PENDING, COMPLETE, CANCELLED, REJECTED"),
        ("date=yesterday", "date must be an ISO-8601 date or datetime"),
        ("date=2025-12-01T10:00", "date must be YYYY-MM-DD (the IST trading date)"),
        ("from=noon", "from must be an ISO-8601 date or datetime"),
    ],
)
def test_bad_order_filters_are_400(auth_client: Any, book: dict[str, Any], query: str, message: str) -> None:
    response = auth_client.get(f"{BASE}{book['account'].pk}/orders/?{query}")
    assert response.status_code == 400
    assert response.json()["error"]["message"] == message


def test_holdings_and_funds(auth_client: Any, book: dict[str, Any]) -> None:
    holdings = auth_client.get(f"{BASE}{book['account'].pk}/holdings/").json()
    assert [(h["tradingsymbol"], h["quantity"], h["pnl"]) for h in holdings] == [("INFY", 10, 600.0)]
    funds = auth_client.get(f"{BASE}{book['account'].pk}/funds/").json()
    assert funds["latest"]["available_cash"] == 2000.0
    assert [f["taken_at"] for f in funds["history"]] == ["2025-12-01T04:01:00Z", "2025-12-01T04:00:00Z"]
    assert auth_client.get(f"{BASE}{book['account'].pk}/funds/?limit=x").status_code == 400


def test_an_account_without_funds_answers_null(auth_client: Any, user: Any) -> None:
    account = make_account(user)
    assert auth_client.get(f"{BASE}{account.pk}/funds/").json() == {"latest": None, "history": []}


def test_detail(auth_client: Any, book: dict[str, Any]) -> None:
    body = auth_client.get(f"{BASE}{book['account'].pk}/").json()
    assert body["display_name"] == "Main"
    assert body["broker_account_id"] == book["account"].broker_account_id
    assert datetime.fromisoformat(body["created_at"]) > datetime.now(tz=UTC) - timedelta(minutes=5)
