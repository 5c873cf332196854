"""The strategy dashboards in Chromium: create a strategy with two legs through the form, see its M2M
chart fill from the M2M job's candles and grow live from /ws/strategies (mocked: the live server in
tests speaks no WebSocket), and the list's live M2M and sparkline."""

from __future__ import annotations

import json
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from marketdata.ticker_client import TickerError
from strategies.m2m import closed_minute, m2m_run
from strategies.models import Strategy
from strategies.tests.factories import ms, straddle

pytestmark = pytest.mark.browser
SCREENSHOTS = Path(tempfile.gettempdir()) / "tradeviz-strategies"


def no_ticker(tokens: list[int]) -> Any:
    raise TickerError("down")


class FakeStream:
    """/ws/strategies answered inside the browser: acknowledges subscriptions, sends what the test pushes."""

    def __init__(self) -> None:
        self.sockets: list[Any] = []
        self.received: list[dict[str, Any]] = []

    def handle(self, ws: Any) -> None:
        self.sockets.append(ws)

        def on_message(message: str | bytes) -> None:
            body = json.loads(message)
            self.received.append(body)
            if body.get("action") == "subscribe":
                ws.send(json.dumps({"type": "subscribed", "strategy": body.get("strategy")}))

        ws.on_message(on_message)

    def push(self, message: dict[str, Any]) -> None:
        for ws in self.sockets:
            ws.send(json.dumps(message))


@pytest.fixture
def fake_stream(page: Any) -> FakeStream:
    """Every /ws/ route answered in the browser, from before logging in (the home page opens /ws/ticks)."""
    fake = FakeStream()
    page.route_web_socket("**/ws/**", fake.handle)
    return fake


def run_minutes(prices: Any, instruments: Any, ce: list[float], pe: list[float]) -> list[Any]:
    """The M2M job for consecutive minutes ending now, with these option prices."""
    now = timezone.now()
    results = []
    for k, (c, p) in enumerate(zip(ce, pe, strict=True)):
        at = now - timedelta(minutes=len(ce) - 1 - k)
        prices({instruments["ce"]: (c, ms(at) - 500), instruments["pe"]: (p, ms(at) - 500),
                instruments["index"]: (24000.0, ms(at) - 500)})
        results.append(m2m_run(now=at, fetch_quotes=no_ticker, push=False))
    return results


def test_create_a_strategy_with_two_legs_and_see_its_m2m_chart(
    fake_stream: FakeStream, logged_in_page: Any, live_server: Any, instruments: Any, prices: Any,
    browser_errors: list[str],
) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    page = logged_in_page
    prices({instruments["index"]: (24000.0, ms(timezone.now()))})
    page.goto(f"{live_server.url}/strategies/new/")
    page.get_by_label("Name").fill("UI straddle")
    page.get_by_label("Tags").fill("nifty, weekly")
    rows = page.locator("#legs tbody tr")
    rows.nth(0).get_by_label("Instrument").fill(instruments["ce"].symbol)
    rows.nth(0).get_by_label("Side").select_option("SELL")
    rows.nth(0).get_by_label("Entry price").fill("200")
    page.get_by_role("button", name="+ Add leg").click()
    rows.nth(1).get_by_label("Instrument").fill(instruments["pe"].symbol)
    rows.nth(1).get_by_label("Side").select_option("SELL")
    rows.nth(1).get_by_label("Lots").fill("2")
    rows.nth(1).get_by_label("Entry price").fill("180")
    page.screenshot(path=SCREENSHOTS / "new.png", full_page=True)
    with page.expect_navigation(url="**/strategies/*/"):
        page.get_by_role("button", name="Create strategy").click()

    strategy = Strategy.objects.get()
    assert (strategy.name, strategy.tags) == ("UI straddle", ["nifty", "weekly"])
    assert list(strategy.legs.order_by("id").values_list("side", "lots", "quantity")) == [
        ("SELL", 1, 75), ("SELL", 2, 150)]
    assert page.locator("#legs-table tbody tr").count() == 2
    page.wait_for_selector("#m2m-empty", state="visible")
    page.wait_for_function("() => document.getElementById('payoff-summary').textContent.includes('breakevens')")

    # The M2M job writes two minutes; the page reads them as candles.
    results = run_minutes(prices, instruments, ce=[195.0, 190.0], pe=[178.0, 176.0])
    assert [r.strategies for r in results] == [1, 1]
    page.reload()
    page.wait_for_selector('#m2m-chart[data-candles="2"]')
    # CE -75 x (190 - 200) = 750; PE -150 x (176 - 180) = 600.
    assert page.locator("#stat-m2m").inner_text() == "1,350.00"
    assert page.locator("#m2m-empty").is_hidden()

    # The next minute arrives live.
    minute = closed_minute(timezone.now()) + timedelta(minutes=1)
    page.wait_for_function("() => document.getElementById('live-state').textContent === 'live'")
    fake_stream.push({"type": "m2m", "strategy": strategy.pk, "time": int(minute.timestamp()), "open": 1350.0,
                      "high": 1500.0, "low": 1300.0, "close": 1425.0, "m2m": 1425.0, "realised": 0.0,
                      "unrealised": 1425.0, "stale_legs": 0})
    page.wait_for_selector('#m2m-chart[data-candles="3"]')
    assert page.locator("#stat-m2m").inner_text() == "1,425.00"
    assert {"action": "subscribe", "strategy": strategy.pk} in fake_stream.received
    summary = page.locator("#payoff-summary").inner_text()
    assert "max loss unlimited" in summary
    page.screenshot(path=SCREENSHOTS / "detail.png", full_page=True)
    assert browser_errors == []


def test_the_list_shows_m2m_status_and_sparkline_and_updates_live(
    fake_stream: FakeStream, logged_in_page: Any, live_server: Any, user: Any, instruments: Any, prices: Any,
    browser_errors: list[str],
) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    strategy = straddle(user, instruments)
    run_minutes(prices, instruments, ce=[195.0, 190.0, 192.0], pe=[178.0, 176.0, 170.0])
    page = logged_in_page
    page.goto(f"{live_server.url}/strategies/")
    row = page.locator(f'tr[data-strategy-id="{strategy.pk}"]')
    # CE -75 x (192 - 200) = 600; PE -75 x (170 - 180) = 750.
    assert row.locator("td.m2m").inner_text() == "1,350.00"
    assert row.locator(".badge").inner_text() == "ACTIVE"
    assert len(json.loads(row.locator("svg.spark").get_attribute("data-values"))) == 3
    page.wait_for_function("() => document.getElementById('live-state').textContent === 'live'")
    fake_stream.push({"type": "m2m", "strategy": strategy.pk, "time": int(timezone.now().timestamp()) // 60 * 60,
                      "open": 1350.0, "high": 1400.0, "low": 1350.0, "close": 1400.0, "m2m": 1400.0,
                      "realised": 0.0, "unrealised": 1400.0, "stale_legs": 1})
    page.wait_for_function(
        f"() => document.querySelector('tr[data-strategy-id=\"{strategy.pk}\"] td.m2m').textContent === '1,400.00'")
    assert len(json.loads(row.locator("svg.spark").get_attribute("data-values"))) == 4
    assert "1 stale" in row.locator("td.updated").inner_text()
    page.screenshot(path=SCREENSHOTS / "list.png", full_page=True)
    assert browser_errors == []
