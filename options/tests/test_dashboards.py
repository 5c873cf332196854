"""The option chain and index monitor pages: login required, and in headless Chromium they show the
chain from the API and then live updates from their WebSocket.

The live server of the browser tests speaks HTTP only, so the pages' WebSockets are answered by
Playwright (`route_web_socket`) with messages in the streams' protocol, built from the real API
payload; the streams themselves are tested end to end in test_fo_websockets.py.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from options.pricing import time_to_expiry
from options.selectors.chain import option_chain
from options.selectors.monitor import monitor_snapshot
from options.services.analytics import compute_range
from options.tests.factories import ChainFixture, ist, make_chain, model_premium

EXPIRY = date(2026, 12, 1)
OPEN = ist(2026, 11, 27, 9, 15)
MINUTES = 30
STRIKES = tuple(23_500.0 + 50 * i for i in range(21))
SCREENSHOTS = Path("/tmp")  # noqa: S108 - looked at by the developer, not read back
LIVE_LTP = 4321.5


def test_pages_require_login(client: Any) -> None:
    for path in ("/options/chain/", "/options/monitor/"):
        response = client.get(path)
        assert response.status_code == 302
        assert response["Location"].startswith("/login/")


def test_pages_render_for_a_signed_in_user(client: Any, user: Any) -> None:
    client.force_login(user)

    chain = client.get("/options/chain/?underlying=banknifty&expiry=2026-12-01")
    monitor = client.get("/options/monitor/")

    assert chain.status_code == 200
    assert b'data-underlying="BANKNIFTY"' in chain.content
    assert b'data-ws-path="/ws/fo/stream"' in chain.content
    assert monitor.status_code == 200
    assert b'data-ws-path="/ws/nifty-monitor"' in monitor.content


def seed_market(underlying: str, token_base: int) -> ChainFixture:
    chain = make_chain(underlying=underlying, strikes=STRIKES, token_base=token_base)
    second = make_chain(
        underlying=underlying,
        expiry=date(2026, 12, 8),
        with_futures=False,
        strikes=STRIKES,
        token_base=token_base + 500,
        spot=chain.spot,
    )
    chain.bar(chain.spot, ist(2026, 11, 26, 15, 29), 23_950.0)
    for m in range(MINUTES):
        minute = OPEN + timedelta(minutes=m)
        forward = 24_000.0 + 3 * m
        chain.bar(chain.spot, minute, forward - 25)
        assert chain.futures is not None
        chain.bar(chain.futures, minute, forward, oi=5_000_000 + m, volume=100)
        for c, expiry in ((chain, EXPIRY), (second, date(2026, 12, 8))):
            t = time_to_expiry(minute + timedelta(minutes=1), expiry)
            for i, k in enumerate(STRIKES):
                distance = abs(k - 24_000.0) / 50
                c.bar(
                    c.calls[k],
                    minute,
                    model_premium(forward, k, t, 0.12 + 0.002 * distance, 0.065, "CE"),
                    oi=int(400_000 / (1 + distance)) + 50 * m + 1_000 * (i % 3),
                    volume=75 * (m + 1),
                )
                c.bar(
                    c.puts[k],
                    minute,
                    model_premium(forward, k, t, 0.13 + 0.002 * distance, 0.065, "PE"),
                    oi=int(380_000 / (1 + distance)) + 30 * m,
                    volume=60 * (m + 1),
                )
    compute_range(start=OPEN, end=OPEN + timedelta(minutes=MINUTES), underlyings=[underlying])
    return chain


@pytest.mark.browser
def test_option_chain_page_shows_the_chain_charts_and_live_updates(
    logged_in_page: Any, live_server: Any, browser_errors: list[str], settings: Any
) -> None:
    settings.FO_RISK_FREE_RATE = 0.065
    seed_market("BRWIDX", 5_600_000)
    body = option_chain(underlying="BRWIDX", expiry=EXPIRY, at=None, strikes=10)
    atm = body["atm_strike"]
    live = json.loads(json.dumps(body))
    for row in live["rows"]:
        if row["strike"] == atm:
            row["ce"]["ltp"] = LIVE_LTP
    subscriptions: list[dict[str, Any]] = []

    def stream(ws: Any) -> None:
        def on_message(raw: str) -> None:
            message = json.loads(raw)
            if message.get("action") != "subscribe":
                return
            subscriptions.append(message)
            header = {
                "underlying": message["underlying"],
                "expiry": message["expiry"],
                "strikes": message["strikes"],
            }
            ws.send(json.dumps({"type": "subscribed", **header}))
            ws.send(json.dumps({"type": "chain", **header, "closed": False, "chain": live}))

        ws.on_message(on_message)

    page = logged_in_page
    page.route_web_socket("**/ws/fo/stream", stream)
    page.goto(f"{live_server.url}/options/chain/?underlying=BRWIDX")

    atm_row = page.locator(f'#fo-rows tr[data-strike="{atm:g}"]')
    atm_row.locator("td.ce-ltp").filter(has_text="4,321.50").wait_for()
    assert subscriptions == [
        {"action": "subscribe", "underlying": "BRWIDX", "expiry": "2026-12-01", "strikes": 10}
    ]
    assert page.locator("#fo-rows tr").count() == len(body["rows"])
    assert page.locator("#fo-expiry option").first.inner_text().startswith("2026-12-01 · monthly")
    assert page.locator("#fo-expiry option").nth(1).inner_text().startswith("2026-12-08 · weekly")
    assert page.locator("#sum-pcr").inner_text() == f"{body['pcr_oi']:.2f}"
    assert page.locator("#sum-max-pain").inner_text() == f"{body['max_pain']:,.0f}"
    assert page.locator("#sum-lot").inner_text() == "75"
    assert "● live" in page.locator("#fo-live").inner_text()
    # Calls below the spot and puts above it are in the money.
    first_row = page.locator("#fo-rows tr").first
    assert float(first_row.get_attribute("data-strike")) < body["spot"]
    assert "itm" in first_row.locator("td.ce-ltp").get_attribute("class")
    assert "itm" not in first_row.locator("td.pe-ltp").get_attribute("class")
    # OI bars are drawn in proportion to the largest OI.
    assert "bar" in atm_row.locator("td.ce-oi").get_attribute("class")
    # Greeks appear on demand.
    assert not atm_row.locator("td.ce-delta").is_visible()
    page.locator("#fo-greeks").check()
    assert atm_row.locator("td.ce-delta").is_visible()
    # Lot-aware: OI in lots divides by the lot size.
    ce_oi = next(r for r in body["rows"] if r["strike"] == atm)["ce"]["oi"]
    page.locator("#fo-lots").check()
    assert atm_row.locator("td.ce-oi").inner_text() == f"{ce_oi / 75:,.1f}"
    # The charts read the stored analytics.
    page.locator("#chart-pcr-note").filter(has_text=f"{MINUTES} minutes").wait_for()
    page.locator("#chart-oi-note").filter(has_text="Solid: calls").wait_for()
    page.locator("#chart-straddle-note").filter(has_text="ATM strike").wait_for()
    assert page.locator("#chart-pcr canvas").count() > 0
    page.screenshot(path=str(SCREENSHOTS / "fo_chain.png"), full_page=True)
    assert browser_errors == []


@pytest.mark.browser
def test_monitor_page_shows_spot_futures_and_expiries_and_live_updates(
    logged_in_page: Any, live_server: Any, browser_errors: list[str]
) -> None:
    seed_market("MONBRW", 5_700_000)
    snapshot = monitor_snapshot(underlying="MONBRW", expiries=2, otm_levels=10, now=timezone.now())
    live = json.loads(json.dumps(snapshot))
    live["spot"]["ltp"] = 24_111.25

    def stream(ws: Any) -> None:
        def on_message(raw: str) -> None:
            message = json.loads(raw)
            if message.get("action") == "subscribe":
                header = {k: message[k] for k in ("underlying", "expiries", "otm_levels")}
                ws.send(json.dumps({"type": "subscribed", **header}))
                ws.send(json.dumps({"type": "monitor", **header, "monitor": live}))

        ws.on_message(on_message)

    page = logged_in_page
    page.route_web_socket("**/ws/nifty-monitor", stream)
    page.goto(f"{live_server.url}/options/monitor/?underlying=MONBRW")

    page.locator("#mon-spot-ltp").filter(has_text="24,111.25").wait_for()
    assert page.locator("#mon-futures tbody tr").count() == 1
    assert (
        page.locator("#mon-futures tbody tr td").nth(2).inner_text()
        == f"{snapshot['futures'][0]['ltp']:,.2f}"
    )
    panels = page.locator(".mon-panel")
    assert panels.count() == 2
    assert panels.first.locator("h2").inner_text().startswith("2026-12-01 · monthly")
    assert panels.first.locator("tbody tr").count() == len(snapshot["expiries"][0]["rows"])
    atm = snapshot["expiries"][0]["atm_strike"]
    assert panels.first.locator(f'tr[data-strike="{atm:g}"]').get_attribute("class") == "atm"
    page.screenshot(path=str(SCREENSHOTS / "fo_monitor.png"), full_page=True)
    assert browser_errors == []
