"""The chart dashboard (/chart/) in headless Chromium.

The routed tests answer `/api/v1/udf/*` from a small protocol-correct fake served by Playwright, so
the page's logic (paging, resolution switch, search, no_data and error replies) is tested on its own.
The end-to-end test drives the real UDF endpoints with seeded bars.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import Resolver404, resolve

pytestmark = pytest.mark.browser

UDF_ROUTE = "**/api/v1/udf/**"
PAGE_BARS = 300
UP_RGB = (0x26, 0xA6, 0x9A)  # --up in static/css/app.css
DOWN_RGB = (0xEF, 0x53, 0x50)  # --down
NARROW_VIEWPORT = {"width": 760, "height": 700}
# Candle pixels drawn before the chart counts as drawn: a handful of candles, not an axis label.
MIN_CANDLE_PIXELS = 200


def udf_history_routable() -> bool:
    try:
        resolve("/api/v1/udf/history")
    except Resolver404:
        return False
    return True


# --- a fake UDF datafeed -------------------------------------------------------------------------------

# The fake market's last session closes Mon 1 Dec 2025 15:30 IST; each series has FAKE_BARS bars.
FAKE_END = datetime(2025, 12, 1, 10, 0, tzinfo=UTC)
FAKE_BARS = 700
SESSION_OPEN_UTC = timedelta(hours=3, minutes=45)  # 09:15 IST
SESSION_CLOSE_UTC = timedelta(hours=10)  # 15:30 IST

FAKE_SYMBOLS = {
    "NSE:NIFTY 50": {"name": "NIFTY 50", "description": "Nifty 50 index", "type": "index", "start": 26000.0},
    "NSE:RELIANCE": {
        "name": "RELIANCE",
        "description": "Reliance Industries",
        "type": "stock",
        "start": 1500.0,
    },
    "NSE:EMPTY": {"name": "EMPTY", "description": "No bars at all", "type": "stock", "start": 0.0},
    "NSE:BROKEN": {"name": "BROKEN", "description": "History fails", "type": "stock", "start": 0.0},
}
BROKEN_ERRMSG = "database unavailable"


def _weekdays_back(day: date) -> Any:
    while True:
        if day.weekday() < 5:
            yield day
        day -= timedelta(days=1)


def fake_bar_times(resolution: str) -> list[int]:
    """FAKE_BARS bar open times (UTC seconds, ascending) ending with the session of FAKE_END."""
    times: list[datetime] = []
    if resolution.isdigit():
        step = timedelta(minutes=int(resolution))
        for day in _weekdays_back(FAKE_END.date()):
            midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
            session, opened = [], midnight + SESSION_OPEN_UTC
            while opened < midnight + SESSION_CLOSE_UTC:
                session.append(opened)
                opened += step
            times[:0] = session
            if len(times) >= FAKE_BARS:
                break
    else:
        for day in _weekdays_back(FAKE_END.date()):
            stamp = datetime(day.year, day.month, day.day, tzinfo=UTC)
            if resolution == "W" and day.weekday() != 0:
                continue
            if resolution == "M" and day.day > 3:
                continue
            if resolution == "M" and times and times[0].month == day.month:
                times[0] = stamp  # the first trading day of the month
                continue
            times.insert(0, stamp)
            if len(times) >= FAKE_BARS:
                break
    return [int(moment.timestamp()) for moment in times[-FAKE_BARS:]]


def fake_bars(symbol: str, resolution: str) -> dict[str, list[float]]:
    rng = random.Random(f"{symbol}/{resolution}")
    price = FAKE_SYMBOLS[symbol]["start"]
    columns: dict[str, list[float]] = {key: [] for key in "tohlcv"}
    for stamp in fake_bar_times(resolution):
        open_ = price
        close = round(open_ * (1 + rng.gauss(0, 0.0015)) / 0.05) * 0.05
        columns["t"].append(stamp)
        columns["o"].append(round(open_, 2))
        columns["h"].append(round(max(open_, close) * (1 + abs(rng.gauss(0, 0.0006))), 2))
        columns["l"].append(round(min(open_, close) * (1 - abs(rng.gauss(0, 0.0006))), 2))
        columns["c"].append(round(close, 2))
        columns["v"].append(rng.randint(50_000, 900_000))
        price = close
    return columns


@dataclass
class FakeUdf:
    """Answers the UDF endpoints like the protocol says, and records every request."""

    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def history_requests(self) -> list[dict[str, str]]:
        return [params for endpoint, params in self.requests if endpoint == "history"]

    def searches(self) -> list[dict[str, str]]:
        return [params for endpoint, params in self.requests if endpoint == "search"]

    def handle(self, route: Any, request: Any) -> None:
        url = urlsplit(request.url)
        endpoint = url.path.rstrip("/").rsplit("/", 1)[-1]
        params = {key: values[0] for key, values in parse_qs(url.query, keep_blank_values=True).items()}
        self.requests.append((endpoint, params))
        answer = getattr(self, f"answer_{endpoint}", None)
        body = answer(params) if answer else {"s": "error", "errmsg": f"unknown endpoint {endpoint}"}
        route.fulfill(status=200, content_type="application/json", body=json.dumps(body))

    def answer_symbols(self, params: dict[str, str]) -> dict[str, Any]:
        symbol = params["symbol"].upper()
        if symbol not in FAKE_SYMBOLS:
            return {"s": "error", "errmsg": "unknown_symbol"}
        meta = FAKE_SYMBOLS[symbol]
        return {
            "name": meta["name"],
            "ticker": symbol,
            "full_name": symbol,
            "description": meta["description"],
            "type": meta["type"],
            "session": "0915-1530",
            "timezone": "Asia/Kolkata",
            "exchange": "NSE",
            "listed_exchange": "NSE",
            "format": "price",
            "pricescale": 100,
            "minmov": 5,
            "has_intraday": True,
            "has_daily": True,
            "has_weekly_and_monthly": True,
            "intraday_multipliers": ["1", "3", "5", "15", "30", "60", "240"],
            "supported_resolutions": ["1", "3", "5", "15", "30", "60", "240", "1D", "1W", "1M"],
            "volume_precision": 0,
            "data_status": "streaming",
        }

    def answer_search(self, params: dict[str, str]) -> list[dict[str, str]]:
        query = params.get("query", "")
        limit = int(params.get("limit") or 30)
        return [
            {
                "symbol": meta["name"],
                "full_name": symbol,
                "description": meta["description"],
                "exchange": "NSE",
                "ticker": symbol,
                "type": meta["type"],
            }
            for symbol, meta in FAKE_SYMBOLS.items()
            if query in symbol
        ][:limit]

    def answer_history(self, params: dict[str, str]) -> dict[str, Any]:
        symbol = params["symbol"].upper()
        if symbol == "NSE:BROKEN":
            return {"s": "error", "errmsg": BROKEN_ERRMSG}
        if symbol == "NSE:EMPTY":
            return {"s": "no_data"}
        columns = fake_bars(symbol, params["resolution"])
        to = int(params["to"])
        # countback wins over `from`: the last `countback` bars strictly before `to`.
        end = sum(1 for stamp in columns["t"] if stamp < to)
        start = max(0, end - int(params["countback"]))
        if start == end:
            return {"s": "no_data"}
        return {"s": "ok", **{key: values[start:end] for key, values in columns.items()}}


# --- page helpers --------------------------------------------------------------------------------------

COUNT_CANDLE_PIXELS = """([up, down]) => {
  const near = (data, i, rgb) => Math.abs(data[i] - rgb[0]) <= 2 && Math.abs(data[i + 1] - rgb[1]) <= 2
    && Math.abs(data[i + 2] - rgb[2]) <= 2 && data[i + 3] === 255;
  let count = 0;
  for (const canvas of document.querySelectorAll('#chart canvas')) {
    if (!canvas.width || !canvas.height) continue;
    const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    for (let i = 0; i < data.length; i += 4) if (near(data, i, up) || near(data, i, down)) count += 1;
  }
  return count;
}"""


def candle_pixels(page: Any) -> int:
    return int(page.evaluate(COUNT_CANDLE_PIXELS, [list(UP_RGB), list(DOWN_RGB)]))


def wait_for_chart(
    page: Any, *, symbol: str, resolution: str, bars: Callable[[int], bool] = bool
) -> dict[str, Any]:
    """Waits until the chart published a load of `symbol` at `resolution`; returns the hook's state."""
    page.wait_for_function(
        "([s, r]) => window.tradevizChart && window.tradevizChart.symbol === s && window.tradevizChart.resolution === r",
        arg=[symbol, resolution],
    )
    hook = page.evaluate("() => ({...window.tradevizChart})")
    assert bars(hook["barsLoaded"]), (hook, status_text(page))
    return hook


def wait_for_candles(page: Any) -> None:
    page.wait_for_function(
        f"([up, down]) => ({COUNT_CANDLE_PIXELS})([up, down]) >= {MIN_CANDLE_PIXELS}",
        arg=[list(UP_RGB), list(DOWN_RGB)],
    )


def drag_chart_right(page: Any, pixels: int) -> None:
    """Pans the chart towards older bars, as a trader dragging it with the mouse."""
    box = page.locator("#chart").bounding_box()
    x, y = box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.5
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + pixels, y, steps=12)
    page.mouse.up()


def status_text(page: Any) -> str:
    return str(page.locator("#chart-status").inner_text()).strip()


@pytest.fixture
def fake_udf(logged_in_page: Any) -> FakeUdf:
    fake = FakeUdf()
    logged_in_page.route(UDF_ROUTE, fake.handle)
    return fake


@pytest.fixture
def chart_url(live_server: Any) -> str:
    return f"{live_server.url}/chart/"


# --- tests on the fake datafeed ------------------------------------------------------------------------


def test_chart_draws_candles_and_pages_back_through_history(
    logged_in_page: Any, fake_udf: FakeUdf, chart_url: str, browser_errors: list[str], tmp_path: Path
) -> None:
    page = logged_in_page
    page.goto(chart_url)

    hook = wait_for_chart(page, symbol="NSE:NIFTY 50", resolution="1")
    assert hook["barsLoaded"] == PAGE_BARS
    wait_for_candles(page)
    first = fake_udf.history_requests()[0]
    assert first["symbol"] == "NSE:NIFTY 50"
    assert first["resolution"] == "1"
    assert first["countback"] == str(PAGE_BARS)
    assert abs(int(first["to"]) - time.time()) < 60
    assert page.locator("#chart-symbol").inner_text() == "NSE:NIFTY 50"
    assert page.locator("#chart-description").inner_text() == "Nifty 50 index · index · NSE"
    assert page.locator("#resolution-1").is_checked()
    assert page.locator('#chart a[href*="tradingview.com"]').count() == 1  # the attribution logo
    assert status_text(page) == ""
    # pricescale 100 with minmov 5: prices show two decimals.
    assert page.locator("#chart-legend").inner_text().split()[1].count(".") == 1
    assert len(page.locator("#chart-legend").inner_text().split()[1].split(".")[1]) == 2
    page.screenshot(path=tmp_path / "chart.png")

    # Dragging towards older bars pages back: countback before the oldest loaded bar, until no_data.
    all_times = fake_bar_times("1")
    for _ in range(12):
        if (
            page.evaluate("() => window.tradevizChart.barsLoaded") == FAKE_BARS
            and len(fake_udf.history_requests()) == 4
        ):
            break
        drag_chart_right(page, 700)
        page.wait_for_timeout(150)
    page.wait_for_function(f"() => window.tradevizChart.barsLoaded === {FAKE_BARS}")
    page.wait_for_timeout(300)  # a further request would be a bug: let it show
    history = fake_udf.history_requests()
    assert [int(params["to"]) for params in history[1:]] == [
        all_times[-PAGE_BARS],  # oldest of the first page
        all_times[-2 * PAGE_BARS],  # oldest of the second
        all_times[0],  # the start of the data: answered no_data, and paging stops
    ]
    assert {params["countback"] for params in history} == {str(PAGE_BARS)}
    assert status_text(page) == ""
    assert browser_errors == []


def test_resolution_switch_and_symbol_search(
    logged_in_page: Any, fake_udf: FakeUdf, chart_url: str, browser_errors: list[str]
) -> None:
    page = logged_in_page
    page.goto(chart_url)
    wait_for_chart(page, symbol="NSE:NIFTY 50", resolution="1")
    wait_for_candles(page)

    with page.expect_response(
        lambda response: "/udf/history" in response.url and "resolution=15" in response.url
    ) as reply:
        page.get_by_text("15m", exact=True).click()
    body = reply.value.json()
    assert body["s"] == "ok"
    assert len(body["t"]) == PAGE_BARS
    wait_for_chart(page, symbol="NSE:NIFTY 50", resolution="15", bars=lambda n: n == PAGE_BARS)
    assert page.locator("#resolution-15").is_checked()
    assert "resolution=15" in page.url
    # The symbol is resolved once; a resolution change only reloads history.
    assert [endpoint for endpoint, _ in fake_udf.requests].count("symbols") == 1

    # Daily bars (00:00 UTC of the trading date) load too.
    page.get_by_text("D", exact=True).click()
    wait_for_chart(page, symbol="NSE:NIFTY 50", resolution="D", bars=lambda n: n == PAGE_BARS)

    # Search: debounced (one request for the typed word), upper-cased, keyboard-driven.
    search = page.get_by_role("combobox", name="Symbol")
    search.press_sequentially("rel", delay=40)
    option = page.get_by_role("option", name="NSE:RELIANCE")
    option.wait_for()
    assert [params["query"] for params in fake_udf.searches()] == ["REL"]
    assert fake_udf.searches()[0]["limit"] == "30"
    assert search.get_attribute("aria-expanded") == "true"
    search.press("ArrowDown")
    assert option.get_attribute("aria-selected") == "true"
    assert search.get_attribute("aria-activedescendant") == option.get_attribute("id")
    search.press("Enter")
    wait_for_chart(page, symbol="NSE:RELIANCE", resolution="D", bars=lambda n: n == PAGE_BARS)
    assert page.locator("#chart-symbol").inner_text() == "NSE:RELIANCE"
    assert page.locator("#chart-description").inner_text() == "Reliance Industries · stock · NSE"
    assert search.get_attribute("aria-expanded") == "false"
    assert "symbol=NSE%3ARELIANCE" in page.url

    # Escape closes the list without picking.
    search.press_sequentially("nifty", delay=40)
    page.get_by_role("option", name="NSE:NIFTY 50").wait_for()
    search.press("Escape")
    assert page.get_by_role("listbox").is_hidden()
    assert page.evaluate("() => window.tradevizChart.symbol") == "NSE:RELIANCE"
    assert browser_errors == []


def test_no_data_and_error_replies_show_in_the_status_line(
    logged_in_page: Any, fake_udf: FakeUdf, chart_url: str, browser_errors: list[str], tmp_path: Path
) -> None:
    page = logged_in_page
    page.set_viewport_size(NARROW_VIEWPORT)
    page.goto(f"{chart_url}?symbol=NSE:EMPTY&resolution=5")
    wait_for_chart(page, symbol="NSE:EMPTY", resolution="5", bars=lambda n: n == 0)
    assert status_text(page) == "No bars for NSE:EMPTY at 5m."
    assert page.locator("#chart-status").get_attribute("data-kind") == "info"

    search = page.get_by_role("combobox", name="Symbol")
    search.fill("BROKEN")
    page.get_by_role("option", name="NSE:BROKEN").click()
    wait_for_chart(page, symbol="NSE:BROKEN", resolution="5", bars=lambda n: n == 0)
    assert status_text(page) == f"Could not load NSE:BROKEN: history: {BROKEN_ERRMSG}"
    assert page.locator("#chart-status").get_attribute("data-kind") == "error"
    assert page.locator("#chart-status").is_visible()
    # Narrow windows wrap the toolbar; nothing scrolls sideways.
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    page.screenshot(path=tmp_path / "chart-narrow-error.png")

    # An unknown symbol typed in full (Enter without a list) is a symbols error, not a crash.
    search.fill("NSE:NOPE")
    search.press("Enter")
    page.wait_for_function(
        "() => document.getElementById('chart-status').textContent.includes('unknown_symbol')"
    )
    assert status_text(page) == "Could not load NSE:NOPE: symbols: unknown_symbol"
    assert browser_errors == []


# --- end to end, against the real UDF endpoints ---------------------------------------------------------

SEED_SESSION = date(2025, 12, 1)  # a Monday; 375 one-minute bars, 09:15-15:29 IST


def seed_nifty_minute_bars() -> int:
    """NSE:NIFTY 50 and NSE:RELIANCE with one session of minute bars each; returns bars per symbol."""
    import numpy as np

    from marketdata.models import Exchange, Instrument, InstrumentType
    from marketdata.services.bars import BarBatch, bars_upsert

    nifty = Instrument.objects.create(
        instrument_token=256265,
        tradingsymbol="NIFTY 50",
        name="NIFTY 50",
        exchange=Exchange.NSE,
        segment="INDICES",
        instrument_type=InstrumentType.INDEX,
        tick_size="0.05",
    )
    reliance = Instrument.objects.create(
        instrument_token=738561,
        tradingsymbol="RELIANCE",
        name="RELIANCE INDUSTRIES",
        exchange=Exchange.NSE,
        segment="NSE",
        instrument_type=InstrumentType.EQ,
        tick_size="0.10",
    )
    opened = datetime(SEED_SESSION.year, SEED_SESSION.month, SEED_SESSION.day, tzinfo=UTC) + SESSION_OPEN_UTC
    minutes = int((SESSION_CLOSE_UTC - SESSION_OPEN_UTC).total_seconds() // 60)
    first_us = int(opened.timestamp()) * 1_000_000
    times = first_us + np.arange(minutes, dtype=np.int64) * 60_000_000
    for instrument, start in ((nifty, 26000.0), (reliance, 1500.0)):
        rng = np.random.default_rng(instrument.instrument_token)
        close = np.round(start * np.cumprod(1 + rng.normal(0, 0.001, minutes)), 1)
        open_ = np.concatenate([[start], close[:-1]])
        bars_upsert(
            batch=BarBatch(
                instrument_id=np.full(minutes, instrument.pk, dtype=np.int64),
                time_us=times,
                open=open_,
                high=np.maximum(open_, close) + 1.0,
                low=np.minimum(open_, close) - 1.0,
                close=close,
                volume=rng.integers(1_000, 100_000, minutes, dtype=np.int64),
                oi=np.full(minutes, np.nan),
            )
        )
    return minutes


@pytest.mark.skipif(
    not udf_history_routable(), reason="the UDF endpoints (/api/v1/udf/history) are not routed yet"
)
def test_chart_against_the_real_udf_endpoints(
    logged_in_page: Any, chart_url: str, browser_errors: list[str], tmp_path: Path
) -> None:
    minutes = seed_nifty_minute_bars()
    page = logged_in_page
    page.goto(chart_url)

    wait_for_chart(page, symbol="NSE:NIFTY 50", resolution="1", bars=lambda n: n >= min(PAGE_BARS, minutes))
    wait_for_candles(page)
    assert page.locator("#chart-symbol").inner_text() == "NSE:NIFTY 50"
    assert status_text(page) == ""

    with page.expect_response(
        lambda response: "/udf/history" in response.url and "resolution=5" in response.url
    ) as reply:
        page.get_by_text("5m", exact=True).click()
    body = reply.value.json()
    assert body["s"] == "ok"
    assert len(body["t"]) == minutes // 5
    wait_for_chart(page, symbol="NSE:NIFTY 50", resolution="5", bars=lambda n: n == minutes // 5)
    wait_for_candles(page)
    page.screenshot(path=tmp_path / "chart-e2e.png")

    search = page.get_by_role("combobox", name="Symbol")
    search.press_sequentially("relia", delay=40)
    page.get_by_role("option", name="NSE:RELIANCE").click()
    wait_for_chart(page, symbol="NSE:RELIANCE", resolution="5", bars=lambda n: n == minutes // 5)
    assert status_text(page) == ""
    assert browser_errors == []
