"""The chart's live updates (static/js/chart.js, /ws/ticks) in headless Chromium.

The page talks to a stand-in for `/ws/ticks` played by Playwright (`route_web_socket`): it records
what the page sends and answers like the server (docs/websockets.md); the UDF history comes from
the fake datafeed of test_chart_page.py.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from marketdata.tests.test_chart_page import chart_url, fake_bar_times, fake_udf, status_text, wait_for_chart

pytestmark = pytest.mark.browser
__all__ = ["chart_url", "fake_udf"]

TICKS_ROUTE = "**/ws/ticks"


class FakeTicks:
    """Plays the server side of /ws/ticks for the page."""

    def __init__(self) -> None:
        self.connections: list[Any] = []
        self.received: list[dict[str, Any]] = []

    def handle(self, ws: Any) -> None:
        self.connections.append(ws)
        ws.on_message(lambda message: self._on_message(ws, message))

    def _on_message(self, ws: Any, raw: str) -> None:
        message = json.loads(raw)
        self.received.append(message)
        if message["action"] == "subscribe":
            ws.send(
                json.dumps(
                    {
                        "type": "subscribed",
                        "symbol": message["symbol"],
                        "resolution": message["resolution"],
                        "id": message.get("id"),
                    }
                )
            )
        elif message["action"] == "ping":
            ws.send(json.dumps({"type": "pong"}))

    def actions(self, action: str) -> list[dict[str, Any]]:
        return [m for m in self.received if m["action"] == action]

    def send(self, message: dict[str, Any]) -> None:
        self.connections[-1].send(json.dumps(message))

    def bar(self, symbol: str, resolution: str, time: int, close: float, *, closed: bool = False) -> None:
        self.send(
            {
                "type": "bar",
                "symbol": symbol,
                "resolution": resolution,
                "closed": closed,
                "bar": {
                    "time": time,
                    "open": 26000.0,
                    "high": close + 5,
                    "low": 25990.0,
                    "close": close,
                    "volume": 1234,
                },
            }
        )


@pytest.fixture
def ticks(page: Any) -> FakeTicks:
    """Routed before logging in: the login redirects to a page that may already open the socket."""
    fake = FakeTicks()
    page.route_web_socket(TICKS_ROUTE, fake.handle)
    return fake


def _refuse(ws: Any) -> None:
    def on_message(raw: str) -> None:
        message = json.loads(raw)
        if message["action"] == "subscribe":
            ws.send(
                json.dumps(
                    {"type": "error", "detail": f"unknown symbol {message['symbol']}", "id": message["id"]}
                )
            )

    ws.on_message(on_message)


@pytest.fixture
def refusing_ticks(page: Any) -> None:
    page.route_web_socket(TICKS_ROUTE, _refuse)


def live_state(page: Any) -> dict[str, Any]:
    return dict(page.evaluate("() => ({...window.tradevizLive})"))


def wait_live(page: Any, condition: str) -> None:
    page.wait_for_function(f"() => window.tradevizLive && ({condition})")


def test_live_bars_update_and_extend_the_chart(
    ticks: FakeTicks, logged_in_page: Any, fake_udf: Any, chart_url: str, browser_errors: list[str]
) -> None:
    page = logged_in_page
    page.goto(chart_url)
    wait_for_chart(page, symbol="NSE:NIFTY 50", resolution="1")
    wait_live(page, "window.tradevizLive.symbol === 'NSE:NIFTY 50'")
    assert ticks.actions("subscribe")[0] | {"id": None} == {
        "action": "subscribe",
        "symbol": "NSE:NIFTY 50",
        "resolution": "1",
        "id": None,
    }
    assert page.locator("#chart-status").get_attribute("data-live") == "live"

    last = fake_bar_times("1")[-1]
    ticks.bar("NSE:NIFTY 50", "1", last, 26111.25)  # the forming bar, updated
    wait_live(page, "window.tradevizLive.updates === 1")
    assert "C 26111.25" in page.locator("#chart-legend").inner_text()
    ticks.bar("NSE:NIFTY 50", "1", last + 60, 26122.5)  # the next minute starts
    wait_live(page, "window.tradevizLive.updates === 2")
    assert "C 26122.50" in page.locator("#chart-legend").inner_text()
    # Other symbols' bars (an old subscription's, say) are not drawn.
    ticks.bar("NSE:RELIANCE", "1", last + 60, 1.0)
    page.wait_for_timeout(200)
    assert live_state(page)["updates"] == 2
    assert status_text(page) == ""
    assert browser_errors == []


def test_switching_resolution_or_symbol_moves_the_subscription(
    ticks: FakeTicks, logged_in_page: Any, fake_udf: Any, chart_url: str, browser_errors: list[str]
) -> None:
    page = logged_in_page
    page.goto(chart_url)
    wait_for_chart(page, symbol="NSE:NIFTY 50", resolution="1")
    wait_live(page, "window.tradevizLive.resolution === '1'")
    page.get_by_text("5m", exact=True).click()
    wait_for_chart(page, symbol="NSE:NIFTY 50", resolution="5")
    wait_live(page, "window.tradevizLive.resolution === '5'")
    assert ticks.actions("unsubscribe") == [
        {"action": "unsubscribe", "symbol": "NSE:NIFTY 50", "resolution": "1"}
    ]
    assert [(m["symbol"], m["resolution"]) for m in ticks.actions("subscribe")] == [
        ("NSE:NIFTY 50", "1"),
        ("NSE:NIFTY 50", "5"),
    ]
    # A 1-minute bar still in flight from before the switch does not land on the 5-minute series.
    ticks.bar("NSE:NIFTY 50", "1", fake_bar_times("5")[-1] + 300, 1.0)
    page.wait_for_timeout(200)
    assert live_state(page)["updates"] == 0
    ticks.bar("NSE:NIFTY 50", "5", fake_bar_times("5")[-1], 26050.0)
    wait_live(page, "window.tradevizLive.updates === 1")
    assert browser_errors == []


def test_a_dropped_connection_is_reported_and_resumed(
    ticks: FakeTicks, logged_in_page: Any, fake_udf: Any, chart_url: str, browser_errors: list[str]
) -> None:
    page = logged_in_page
    page.goto(chart_url)
    wait_for_chart(page, symbol="NSE:NIFTY 50", resolution="1")
    wait_live(page, "window.tradevizLive.state === 'live' && window.tradevizLive.symbol !== ''")
    history_before = len(fake_udf.history_requests())
    connections_before = len(ticks.connections)
    subscribes_before = len(ticks.actions("subscribe"))

    ticks.connections[-1].close()
    wait_live(page, "window.tradevizLive.state === 'retrying'")
    assert status_text(page).startswith("Live updates interrupted; reconnecting in ")
    assert page.locator("#chart-status").get_attribute("data-kind") == "error"

    # The first retry comes within a second; the page catches up from history, then resubscribes.
    wait_live(page, "window.tradevizLive.state === 'live' && window.tradevizLive.symbol !== ''")
    assert len(ticks.connections) == connections_before + 1
    assert len(fake_udf.history_requests()) == history_before + 1
    resubscribed = ticks.actions("subscribe")[subscribes_before:]
    assert [(m["symbol"], m["resolution"]) for m in resubscribed] == [("NSE:NIFTY 50", "1")]
    assert status_text(page) == ""
    ticks.bar("NSE:NIFTY 50", "1", fake_bar_times("1")[-1], 26001.0)
    wait_live(page, "window.tradevizLive.updates === 1")
    assert browser_errors == []


def test_a_refused_subscription_shows_in_the_status_line(
    refusing_ticks: None, logged_in_page: Any, fake_udf: Any, chart_url: str, browser_errors: list[str]
) -> None:
    page = logged_in_page
    page.goto(chart_url)
    wait_for_chart(page, symbol="NSE:NIFTY 50", resolution="1")
    page.wait_for_function("() => document.getElementById('chart-status').textContent.includes('Live')")
    assert status_text(page) == "Live updates unavailable: unknown symbol NSE:NIFTY 50"
    assert browser_errors == []
