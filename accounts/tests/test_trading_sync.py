"""Broker sync: disabled cleanly without configuration; when enabled, the broker's book replaces the
account's positions and holdings; a failing endpoint changes nothing."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pybreaker
import pytest

from accounts.models import FundsSnapshot, Holding, Position
from accounts.services.broker_sync import BrokerClient, account_sync, accounts_sync_all
from accounts.services.orders import order_updates_apply
from accounts.tasks import broker_sync
from accounts.tests.trading_factories import make_account, make_instrument, parsed, update

pytestmark = pytest.mark.django_db


def client_for(routes: dict[str, Any]) -> BrokerClient:
    def handler(request: httpx.Request) -> httpx.Response:
        body = routes.get(request.url.path)
        if body is None:
            return httpx.Response(404)
        if isinstance(body, int):
            return httpx.Response(body)
        return httpx.Response(200, json=body)

    client = BrokerClient("http://broker.test", timeout=1, retries=1,
                          breaker=pybreaker.CircuitBreaker(fail_max=100, reset_timeout=1))
    client._http = httpx.Client(base_url="http://broker.test", transport=httpx.MockTransport(handler))
    return client


def test_without_configuration_the_job_is_disabled(settings: Any, user: Any) -> None:
    settings.BROKER_SYNC_ENABLED = False
    make_account(user)
    assert broker_sync() == {"status": "disabled", "synced": 0, "failed": 0}
    settings.BROKER_SYNC_ENABLED = True
    settings.TICKER_SERVICE_URL = ""
    assert accounts_sync_all()["status"] == "disabled"


def test_the_brokers_book_replaces_the_accounts(user: Any, settings: Any) -> None:
    account = make_account(user, broker_account_id="ZX1")
    future, other, stock = make_instrument(), make_instrument(), make_instrument(instrument_type="EQ", exchange="NSE")
    order_updates_apply(updates=parsed(update(account, other, status="COMPLETE", filled=75, average="10")))
    Holding.objects.create(account=account, instrument_token=999, tradingsymbol="GONE", quantity=1)
    routes = {
        "/broker/accounts/ZX1/positions": {"data": [
            {"token": future.instrument_token, "product": "NRML", "quantity": -75, "average_price": 120.5,
             "last_price": 118, "realised": 0, "unrealised": 187.5},
            {"token": 1, "product": "NRML", "quantity": 1, "average_price": 1},  # unknown instrument: skipped
        ]},
        "/broker/accounts/ZX1/holdings": {"data": [
            {"token": stock.instrument_token, "tradingsymbol": "TESTEQ", "isin": "INE000000000", "quantity": 10,
             "average_price": 1500, "last_price": 1560, "pnl": 600},
        ]},
        "/broker/accounts/ZX1/margins": {"data": {"available_cash": 50000, "used_margin": 12000,
                                                  "available_margin": 38000, "opening_balance": 50000}},
    }
    result = account_sync(account=account, client=client_for(routes))
    assert (result.positions, result.holdings, result.skipped_rows) == (1, 1, 1)
    assert list(Position.objects.values_list("instrument_id", "quantity", "average_price", "unrealised_pnl")) == [
        (future.pk, -75, Decimal("120.5000"), Decimal("187.5000"))]
    assert list(Holding.objects.values_list("tradingsymbol", "quantity", "pnl")) == [("TESTEQ", 10, Decimal("600.0000"))]
    funds = FundsSnapshot.objects.get()
    assert (funds.available_cash, funds.used_margin) == (Decimal("50000.0000"), Decimal("12000.0000"))
    account.refresh_from_db()
    assert account.last_synced_at is not None


def test_a_failing_endpoint_changes_nothing(user: Any, settings: Any) -> None:
    settings.BROKER_SYNC_ENABLED = True
    settings.TICKER_SERVICE_URL = "http://broker.test"
    account = make_account(user, broker_account_id="ZX2")
    order_updates_apply(updates=parsed(update(account, make_instrument(), status="COMPLETE", filled=75, average="10")))
    before = list(Position.objects.values())
    client = client_for({"/broker/accounts/ZX2/positions": {"data": []}, "/broker/accounts/ZX2/holdings": 503})
    assert accounts_sync_all(client=client) == {"status": "partial", "synced": 0, "failed": 1}
    assert list(Position.objects.values()) == before
    assert not FundsSnapshot.objects.exists()
