"""Backfill against a real HTTP ticker service (a local server speaking the /history contract)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import pybreaker
import pytest

from marketdata.models import Bar, Instrument
from marketdata.services.backfill import Gap, backfill_instrument, find_gaps
from marketdata.tests.factories import bars_from_closes, ist, make_instrument, session_minutes
from marketdata.ticker_client import TickerClient, TickerError

pytestmark = pytest.mark.django_db

DAY = date(2026, 11, 23)
OPEN = ist(2026, 11, 23, 9, 15)
AFTER_CLOSE = ist(2026, 11, 23, 16, 0)


class FakeTicker(BaseHTTPRequestHandler):
    calls: list[dict[str, list[str]]] = []
    fail_with: int | None = None

    def do_GET(self) -> None:
        url = urlparse(self.path)
        query = parse_qs(url.query)
        FakeTicker.calls.append(query)
        if FakeTicker.fail_with:
            self.send_response(FakeTicker.fail_with)
            self.end_headers()
            return
        start = datetime.fromisoformat(query["from"][0])
        end = datetime.fromisoformat(query["to"][0])
        rows, moment = [], start
        while moment < end:
            ms = int(moment.timestamp() * 1000)
            rows.append([ms, 100.0, 101.0, 99.0, 100.5, 10, None])
            moment += timedelta(minutes=1)
        rows.append(["garbage"])
        body = json.dumps({"data": rows}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def ticker() -> Iterator[str]:
    FakeTicker.calls, FakeTicker.fail_with = [], None
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeTicker)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def client(url: str) -> TickerClient:
    return TickerClient(url, timeout=2, retries=2, breaker=pybreaker.CircuitBreaker(fail_max=2, reset_timeout=60))


@pytest.fixture
def instrument() -> Instrument:
    return make_instrument()


def test_gaps_come_from_the_session_calendar(instrument: Instrument) -> None:
    present = session_minutes(OPEN, count=10) + session_minutes(OPEN, start_minute=20, count=355)
    bars_from_closes(instrument, present, [100.0] * len(present))
    gaps = find_gaps(instrument=instrument, start=DAY - timedelta(days=2), end=DAY, now=AFTER_CLOSE)
    # 21 and 22 November are a weekend: only the hole on Monday the 23rd is missing.
    assert gaps == [Gap(OPEN + timedelta(minutes=10), OPEN + timedelta(minutes=20))]


def test_backfill_fetches_only_the_gaps_and_is_idempotent(instrument: Instrument, ticker: str) -> None:
    present = session_minutes(OPEN, count=300)
    bars_from_closes(instrument, present, [100.0] * len(present))
    report = backfill_instrument(instrument=instrument, start=DAY, end=DAY, client=client(ticker), now=AFTER_CLOSE)
    assert (report.gaps, report.missing_minutes, report.written, report.rejected) == (1, 75, 75, 1)
    assert FakeTicker.calls[0]["interval"] == ["minute"]
    assert Bar.objects.filter(instrument=instrument).count() == 375
    again = backfill_instrument(instrument=instrument, start=DAY, end=DAY, client=client(ticker), now=AFTER_CLOSE)
    assert (again.gaps, again.written) == (0, 0)


def test_ticker_failures_retry_then_open_the_breaker(instrument: Instrument, ticker: str) -> None:
    FakeTicker.fail_with = 503
    failing = client(ticker)
    with pytest.raises(TickerError):
        backfill_instrument(instrument=instrument, start=DAY, end=DAY, client=failing, now=AFTER_CLOSE)
    assert len(FakeTicker.calls) == 2  # two attempts
    with pytest.raises(TickerError):
        failing.history(instrument.instrument_token, OPEN, AFTER_CLOSE)
    calls_before = len(FakeTicker.calls)
    with pytest.raises(TickerError, match="circuit open"):
        failing.history(instrument.instrument_token, OPEN, AFTER_CLOSE)
    assert len(FakeTicker.calls) == calls_before  # the breaker answered without calling
    assert Bar.objects.filter(instrument=instrument).count() == 0


def test_unconfigured_client_refuses() -> None:
    with pytest.raises(TickerError, match="not configured"):
        TickerClient("", timeout=1, retries=1, breaker=pybreaker.CircuitBreaker())




def test_nightly_backfill_is_scheduled_after_the_close() -> None:
    from django_celery_beat.models import PeriodicTask

    task = PeriodicTask.objects.select_related("crontab").get(task="marketdata.backfill_active")
    assert (task.crontab.hour, task.crontab.minute, task.crontab.day_of_week, task.enabled) == ("11", "0", "1-5", True)
