"""The accounts page in Chromium: positions with live P&L, orders that change as /ws/orders pushes them
(mocked in the browser: the test server speaks no WebSocket)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest

from accounts.models import Order
from accounts.services.live import order_payload
from accounts.services.orders import order_updates_apply
from accounts.tests.trading_factories import make_account, make_instrument, parsed, update
from marketdata.last_prices import LAST_PRICE_HASH, write_last_prices
from tradeviz.redis_client import get_redis

pytestmark = pytest.mark.browser
SCREENSHOTS = Path(tempfile.gettempdir()) / "tradeviz-strategies"


class FakeOrders:
    def __init__(self) -> None:
        self.sockets: list[Any] = []
        self.received: list[dict[str, Any]] = []

    def handle(self, ws: Any) -> None:
        self.sockets.append(ws)

        def on_message(message: str | bytes) -> None:
            body = json.loads(message)
            self.received.append(body)
            if body.get("action") == "subscribe":
                ws.send(json.dumps({"type": "subscribed", "account": body.get("account")}))

        ws.on_message(on_message)

    def push(self, message: dict[str, Any]) -> None:
        for ws in self.sockets:
            ws.send(json.dumps(message))


@pytest.fixture
def fake_orders(page: Any) -> FakeOrders:
    fake = FakeOrders()
    page.route_web_socket("**/ws/**", fake.handle)
    return fake


def test_positions_and_orders_update_live(fake_orders: FakeOrders, logged_in_page: Any, live_server: Any,
                                          user: Any, browser_errors: list[str]) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    account = make_account(user, display_name="Demo book")
    future = make_instrument(tradingsymbol="NIFTYPAGEFUT")
    order_updates_apply(updates=parsed(
        update(account, future, order_id="P1", status="COMPLETE", quantity=150, filled=150, average="100", at=0),
        update(account, future, order_id="P2", status="OPEN", side="SELL", quantity=75, price="110", at=1000),
    ))
    write_last_prices({future.instrument_token: {"ltp": 104.0, "ts": 0}})
    try:
        page = logged_in_page
        page.goto(f"{live_server.url}/accounts/")
        positions = page.locator("#positions-table tbody tr")
        positions.first.wait_for()
        assert positions.first.locator("td").all_inner_texts() == [
            "NIFTYPAGEFUT", "NRML", "150", "100.00", "104.00", "0.00", "600.00", "600.00"]
        page.wait_for_selector("#orders-table tbody tr >> nth=1")
        assert page.locator("#orders-table tbody tr").first.locator("td").nth(8).inner_text() == "OPEN"
        page.wait_for_function("() => document.getElementById('live-state').textContent === 'live'")
        assert {"action": "subscribe", "account": account.pk} in fake_orders.received

        # The SELL fills: the stream stores it and /ws/orders pushes the new state.
        applied = order_updates_apply(updates=parsed(update(
            account, future, order_id="P2", status="COMPLETE", side="SELL", quantity=75, filled=75,
            price="110", average="110", at=2000)))
        fake_orders.push({"type": "order", "order": order_payload(applied.orders[0])})
        fake_orders.push({"type": "position", "position": {"account": account.pk, "id": applied.positions[0]["id"]}})
        page.wait_for_function(
            "() => document.querySelector('#orders-table tbody tr td:nth-child(9)').textContent === 'COMPLETE'")
        # Positions re-read: 75 left at 100, realised 75 x 10, unrealised 75 x 4.
        page.wait_for_function(
            "() => document.querySelector('#positions-table tbody tr td:nth-child(3)').textContent === '75'")
        assert positions.first.locator("td").all_inner_texts()[5:] == ["750.00", "300.00", "1,050.00"]
        assert Order.objects.get(broker_order_id="P2").status == "COMPLETE"
        page.screenshot(path=SCREENSHOTS / "accounts.png", full_page=True)
    finally:
        get_redis().hdel(LAST_PRICE_HASH, str(future.instrument_token))
    assert browser_errors == []


def test_a_user_without_accounts_is_told_so(fake_orders: FakeOrders, logged_in_page: Any, live_server: Any,
                                           browser_errors: list[str]) -> None:
    logged_in_page.goto(f"{live_server.url}/accounts/")
    assert "No trading accounts are linked to you yet" in logged_in_page.content()
    assert browser_errors == []
