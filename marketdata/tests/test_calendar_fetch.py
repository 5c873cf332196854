"""Calendar fetch jobs against a real local HTTP server; corporate actions; beat schedules."""

from __future__ import annotations

import json
import logging
import threading
import time as clock
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import pytest
from django_celery_beat.models import PeriodicTask

from marketdata import calendar, tasks
from marketdata.corporate_actions import (
    adjustment_factors,
    apply_corporate_action,
    apply_due_corporate_actions,
    compute_price_factor,
    corporate_action_marks,
    factor_multipliers,
    holiday_marks,
)
from marketdata.models import CalendarFetchRun, CorporateAction, Instrument, SpecialSession, TradingHoliday
from marketdata.services import calendar_fetch
from marketdata.services.calendar_fetch import fetch_corporate_actions, fetch_holidays
from tradeviz.errors import Conflict, DataUnavailable, UpstreamUnavailable

pytestmark = pytest.mark.django_db

FETCHED_YEAR = 2029


# --- a real HTTP server -----------------------------------------------------------------------------


@dataclass
class Reply:
    status: int = 200
    body: bytes = b"{}"
    delay: float = 0.0


@dataclass
class SourceServer:
    base_url: str
    replies: dict[str, list[Reply]] = field(default_factory=dict)
    hits: dict[str, int] = field(default_factory=dict)

    def serve(self, path: str, *replies: Reply) -> str:
        """Answer `path` with these replies in turn (the last one repeats)."""
        self.replies[path] = list(replies)
        return f"{self.base_url}{path}"

    def serve_json(self, path: str, document: Any) -> str:
        return self.serve(path, Reply(body=json.dumps(document).encode()))


@pytest.fixture
def source() -> Iterator[SourceServer]:
    state = SourceServer(base_url="")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?")[0]
            state.hits[path] = state.hits.get(path, 0) + 1
            queue = state.replies.get(path) or [Reply(status=404, body=b"no such path")]
            reply = queue.pop(0) if len(queue) > 1 else queue[0]
            if reply.delay:
                clock.sleep(reply.delay)
            try:
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client timed out and went away: that is the point of the test

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(calendar_fetch, "BACKOFF_INITIAL_SECONDS", 0.01)
    monkeypatch.setattr(calendar_fetch, "BACKOFF_MAX_SECONDS", 0.02)
    calendar.reset_calendar_cache()
    yield
    calendar.reset_calendar_cache()


HOLIDAYS_DOC = {
    "holidays": [
        {"exchange": "NSE", "date": "2029-01-26", "description": "Republic Day"},
        {"exchange": "NFO", "date": "2029-03-01", "description": "Holi"},
        {"exchange": "NSE", "date": "2029-01-27", "description": "A Saturday: skipped"},
    ],
    "special_sessions": [
        {"exchange": "NSE", "date": "2029-11-05", "open": "18:00", "close": "19:00", "description": "Muhurat"}
    ],
}


def holiday_rows(year: int = FETCHED_YEAR) -> list[tuple[str, date, str]]:
    return list(
        TradingHoliday.objects.filter(date__year=year)
        .order_by("date")
        .values_list("exchange", "date", "description")
    )


def snapshot() -> tuple[list[Any], list[Any], list[Any]]:
    return (
        list(
            TradingHoliday.objects.order_by("exchange", "date").values_list(
                "exchange", "date", "description", "source"
            )
        ),
        list(
            SpecialSession.objects.order_by("date").values_list("date", "open_time", "close_time", "source")
        ),
        list(
            CorporateAction.objects.order_by("pk").values_list(
                "underlying", "action_type", "ex_date", "adjustment_factor"
            )
        ),
    )


# --- holidays fetch ---------------------------------------------------------------------------------


def test_fetch_upserts_and_records_the_run(
    source: SourceServer, django_capture_on_commit_callbacks: Any
) -> None:
    url = source.serve_json("/holidays.json", HOLIDAYS_DOC)
    with pytest.raises(DataUnavailable, match="2029"):
        calendar.is_trading_day(date(2029, 1, 26))

    with django_capture_on_commit_callbacks(execute=True):
        run = fetch_holidays(url=f"{url}?token=secret")

    assert holiday_rows() == [("NSE", date(2029, 1, 26), "Republic Day"), ("NSE", date(2029, 3, 1), "Holi")]
    assert TradingHoliday.objects.get(date=date(2029, 1, 26)).source == f"fetch {url}"
    session = SpecialSession.objects.get(date=date(2029, 11, 5))
    assert (session.open_time, session.close_time) == (time(18, 0), time(19, 0))
    run.refresh_from_db()
    assert (run.job, run.status, run.source_url) == ("holidays", "succeeded", url)  # query string redacted
    # Received: 3 holidays + 1 session; the Saturday is skipped.
    assert (run.rows_received, run.rows_inserted, run.rows_updated, run.rows_unchanged, run.rows_skipped) == (
        4,
        3,
        0,
        0,
        1,
    )
    assert run.details["changes"] == [
        "+NSE 2029-01-26 Republic Day",
        "+NSE 2029-03-01 Holi",
        "+session NSE 2029-11-05 18:00-19:00",
    ]
    assert run.finished_at is not None
    assert run.error == ""
    # The calendar sees the new year at once.
    assert calendar.is_trading_day(date(2029, 1, 26)) is False
    assert calendar.is_trading_day(date(2029, 1, 25)) is True
    assert calendar.session_bounds(date(2029, 11, 5)) == (
        datetime(2029, 11, 5, 12, 30, tzinfo=UTC),
        datetime(2029, 11, 5, 13, 30, tzinfo=UTC),
    )


def test_fetch_is_idempotent_and_updates_descriptions(source: SourceServer) -> None:
    url = source.serve_json("/holidays.json", HOLIDAYS_DOC)
    fetch_holidays(url=url)
    again = fetch_holidays(url=url)
    assert (again.rows_inserted, again.rows_updated, again.rows_unchanged) == (0, 0, 3)
    assert again.details["changes"] == []

    changed = json.loads(json.dumps(HOLIDAYS_DOC))
    changed["holidays"][1]["description"] = "Holi (Dhuleti)"
    url = source.serve_json("/holidays-v2.json", changed)
    third = fetch_holidays(url=url)
    assert (third.rows_inserted, third.rows_updated, third.rows_unchanged) == (0, 3, 0)  # new source string
    assert holiday_rows()[1] == ("NSE", date(2029, 3, 1), "Holi (Dhuleti)")


def test_a_partial_list_deletes_nothing(source: SourceServer) -> None:
    fetch_holidays(url=source.serve_json("/holidays.json", HOLIDAYS_DOC))
    before = snapshot()
    partial = {"holidays": [HOLIDAYS_DOC["holidays"][0]]}
    run = fetch_holidays(url=source.serve_json("/holidays.json", partial))
    assert (run.status, run.rows_inserted, run.rows_updated, run.rows_unchanged) == ("succeeded", 0, 0, 1)
    assert snapshot() == before


def test_admin_corrections_survive_a_fetch(source: SourceServer) -> None:
    TradingHoliday.objects.create(
        exchange="NSE", date=date(2029, 1, 26), description="Fixed by ops", source="admin:ops"
    )
    run = fetch_holidays(url=source.serve_json("/holidays.json", HOLIDAYS_DOC))
    assert (run.rows_inserted, run.rows_skipped, run.details["kept_admin"]) == (2, 2, 1)
    assert TradingHoliday.objects.get(date=date(2029, 1, 26)).description == "Fixed by ops"


@pytest.mark.parametrize(
    ("body", "error_part"),
    [
        (b"<html>maintenance</html>", "response is not JSON"),
        (b"[]", "document must be a JSON object"),
        (b'{"items": []}', "missing key 'holidays'"),
        (b'{"holidays": {"date": "2029-01-26"}}', "'holidays' must be a list"),
        (
            json.dumps(
                {
                    "holidays": [
                        {"exchange": "NSE", "date": "2029-02-30", "description": "bad"},
                        HOLIDAYS_DOC["holidays"][0],
                    ]
                }
            ).encode(),
            "holidays[0].date",
        ),
        (b'{"holidays": [{"exchange": "MOON", "date": "2029-02-01"}]}', "holidays[0].exchange"),
        (b'{"holidays": [{"date": "2029-02-01"}]}', "holidays[0].exchange: required"),
        (
            b'{"holidays": [], "special_sessions": [{"exchange": "NSE", "date": "2029-11-05", "open": "19:00", "close": "18:00"}]}',
            "special_sessions[0]: open must be before close",
        ),
    ],
)
def test_malformed_documents_write_nothing(source: SourceServer, body: bytes, error_part: str) -> None:
    fetch_holidays(url=source.serve_json("/holidays.json", HOLIDAYS_DOC))
    before = snapshot()
    run = fetch_holidays(url=source.serve("/bad.json", Reply(body=body)))
    assert run.status == "failed"
    assert error_part in run.error
    assert (run.rows_inserted, run.rows_updated) == (0, 0)
    assert snapshot() == before
    assert source.hits["/bad.json"] == 1  # not retried: asking again will not fix it


def test_a_4xx_is_a_failed_run_without_retries(source: SourceServer) -> None:
    run = fetch_holidays(url=source.serve("/gone.json", Reply(status=404, body=b"{}")))
    assert (run.status, run.error) == ("failed", f"HTTP 404 from {source.base_url}/gone.json")
    assert source.hits["/gone.json"] == 1


def test_server_errors_are_retried_then_succeed(source: SourceServer) -> None:
    url = source.serve(
        "/flaky.json", Reply(status=503), Reply(status=500), Reply(body=json.dumps(HOLIDAYS_DOC).encode())
    )
    run = fetch_holidays(url=url)
    assert (run.status, run.rows_inserted) == ("succeeded", 3)
    assert source.hits["/flaky.json"] == 3


def test_a_source_that_stays_down_fails_the_run_and_raises_for_celery(source: SourceServer) -> None:
    fetch_holidays(url=source.serve_json("/holidays.json", HOLIDAYS_DOC))
    before = snapshot()
    with pytest.raises(UpstreamUnavailable):
        fetch_holidays(url=source.serve("/down.json", Reply(status=502)))
    assert source.hits["/down.json"] == calendar_fetch.HTTP_ATTEMPTS
    run = CalendarFetchRun.objects.filter(job="holidays").order_by("-pk").first()
    assert run is not None
    assert (run.status, run.error) == ("failed", "source unavailable: _RetryableStatus('HTTP 502')")
    assert snapshot() == before


def test_a_slow_source_times_out_and_deletes_nothing(
    source: SourceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    fetch_holidays(url=source.serve_json("/holidays.json", HOLIDAYS_DOC))
    before = snapshot()
    monkeypatch.setattr(calendar_fetch, "HTTP_TIMEOUT_SECONDS", 0.2)
    monkeypatch.setattr(calendar_fetch, "HTTP_ATTEMPTS", 2)
    url = source.serve("/slow.json", Reply(body=json.dumps({"holidays": []}).encode(), delay=1.0))
    started = clock.monotonic()
    with pytest.raises(UpstreamUnavailable):
        fetch_holidays(url=url)
    assert clock.monotonic() - started < 1.5
    assert source.hits["/slow.json"] == 2
    run = CalendarFetchRun.objects.filter(job="holidays").order_by("-pk").first()
    assert run is not None
    assert (run.status, "ReadTimeout" in run.error) == ("failed", True)
    assert snapshot() == before


def test_a_connection_refused_source_fails_cleanly() -> None:
    with pytest.raises(UpstreamUnavailable):
        fetch_holidays(url="http://127.0.0.1:1/holidays.json")
    assert CalendarFetchRun.objects.get(job="holidays").status == "failed"


def test_no_url_configured_is_disabled(settings: Any, caplog: pytest.LogCaptureFixture) -> None:
    settings.HOLIDAYS_SOURCE_URL = ""
    settings.CORPORATE_ACTIONS_SOURCE_URL = ""
    with caplog.at_level(logging.INFO, logger="marketdata.services.calendar_fetch"):
        holidays_run = fetch_holidays()
        actions_run = fetch_corporate_actions()
    assert (holidays_run.status, holidays_run.error) == ("disabled", "HOLIDAYS_SOURCE_URL is not set")
    assert (actions_run.status, actions_run.error) == ("disabled", "CORPORATE_ACTIONS_SOURCE_URL is not set")
    assert [r.getMessage() for r in caplog.records] == [
        "calendar fetch holidays disabled: HOLIDAYS_SOURCE_URL is not set",
        "calendar fetch corporate_actions disabled: CORPORATE_ACTIONS_SOURCE_URL is not set",
    ]


def test_celery_tasks_use_the_settings(source: SourceServer, settings: Any) -> None:
    settings.HOLIDAYS_SOURCE_URL = source.serve_json("/holidays.json", HOLIDAYS_DOC)
    settings.CORPORATE_ACTIONS_SOURCE_URL = ""
    holidays_run_id = tasks.fetch_holidays.apply().get()
    actions_run_id = tasks.fetch_corporate_actions.apply().get()
    assert CalendarFetchRun.objects.get(pk=holidays_run_id).rows_inserted == 3
    assert CalendarFetchRun.objects.get(pk=actions_run_id).status == "disabled"
    assert tasks.fetch_holidays.soft_time_limit == tasks.CALENDAR_FETCH_SOFT_TIME_LIMIT
    assert tasks.fetch_holidays.autoretry_for == (UpstreamUnavailable,)


def test_beat_schedules_are_seeded() -> None:
    schedules = {
        t.task: (t.crontab.hour, t.crontab.minute, str(t.crontab.timezone), t.enabled)
        for t in PeriodicTask.objects.filter(task__startswith="marketdata.").select_related("crontab")
        if "corporate_actions" in t.task or "holidays" in t.task
    }
    assert schedules == {
        "marketdata.fetch_holidays": ("12", "30", "UTC", True),
        "marketdata.fetch_corporate_actions": ("12", "40", "UTC", True),
        "marketdata.apply_corporate_actions": ("21", "30", "UTC", True),
    }


# --- corporate actions fetch ------------------------------------------------------------------------

ACTIONS_DOC = {
    "actions": [
        {
            "symbol": "acme",
            "type": "split",
            "ex_date": "2026-02-10",
            "ratio_numerator": 5,
            "ratio_denominator": 1,
        },
        {
            "symbol": "ACME",
            "type": "bonus",
            "ex_date": "2026-06-15",
            "ratio_numerator": 1,
            "ratio_denominator": 1,
        },
        {
            "symbol": "ACME",
            "type": "dividend",
            "ex_date": "2026-08-01",
            "amount": "12.5",
            "description": "Final",
        },
    ]
}


def test_corporate_actions_fetch_upserts_with_factors(source: SourceServer) -> None:
    url = source.serve_json("/actions.json", ACTIONS_DOC)
    run = fetch_corporate_actions(url=url)
    assert (run.job, run.status, run.rows_received, run.rows_inserted) == (
        "corporate_actions",
        "succeeded",
        3,
        3,
    )
    rows = list(
        CorporateAction.objects.order_by("ex_date").values_list(
            "underlying", "action_type", "ex_date", "adjustment_factor", "amount", "source"
        )
    )
    assert rows == [
        ("ACME", "split", date(2026, 2, 10), Decimal("0.2"), None, f"fetch {url}"),
        ("ACME", "bonus", date(2026, 6, 15), Decimal("0.5"), None, f"fetch {url}"),
        ("ACME", "dividend", date(2026, 8, 1), None, Decimal("12.5"), f"fetch {url}"),
    ]
    again = fetch_corporate_actions(url=url)
    assert (again.rows_inserted, again.rows_updated, again.rows_unchanged) == (0, 0, 3)


def test_a_bad_corporate_action_rejects_the_whole_document(source: SourceServer) -> None:
    document = {
        "actions": [*ACTIONS_DOC["actions"], {"symbol": "ACME", "type": "split", "ex_date": "2026-09-01"}]
    }
    run = fetch_corporate_actions(url=source.serve_json("/actions.json", document))
    assert run.status == "failed"
    assert run.details["errors"] == [
        "actions[3]: A split of ACME needs ratio_numerator and ratio_denominator."
    ]
    assert CorporateAction.objects.count() == 0


# --- corporate actions: factors, application, marks -------------------------------------------------


def test_price_factor_conventions() -> None:
    assert compute_price_factor(action_type="split", ratio_numerator=5, ratio_denominator=1) == Decimal("0.2")
    assert compute_price_factor(action_type="bonus", ratio_numerator=1, ratio_denominator=2) == Decimal(
        "0.666666666667"
    )
    assert compute_price_factor(
        action_type="consolidation", ratio_numerator=1, ratio_denominator=10
    ) == Decimal("10")
    assert compute_price_factor(action_type="dividend", ratio_numerator=None, ratio_denominator=None) is None


def _acme(**extra: Any) -> Instrument:
    defaults: dict[str, Any] = {
        "instrument_token": 5_000_001,
        "tradingsymbol": "ACME",
        "exchange": "NSE",
        "instrument_type": "EQ",
    }
    return Instrument.objects.create(**{**defaults, **extra})


def test_adjustment_factors_are_cumulative_and_cover_the_range(source: SourceServer) -> None:
    fetch_corporate_actions(url=source.serve_json("/actions.json", ACTIONS_DOC))
    acme = _acme()
    everything = adjustment_factors(instrument=acme, start=date(2025, 1, 1), end=date(2026, 12, 31))
    assert everything == [(date(2026, 2, 10), Decimal("0.1")), (date(2026, 6, 15), Decimal("0.5"))]
    # A range before both ex-dates still needs the first (cumulative) factor, and nothing later.
    assert adjustment_factors(instrument=acme, start=date(2025, 1, 1), end=date(2025, 12, 31)) == [
        (date(2026, 2, 10), Decimal("0.1"))
    ]
    assert adjustment_factors(instrument=acme, start=date(2026, 3, 1), end=date(2026, 3, 31)) == [
        (date(2026, 6, 15), Decimal("0.5"))
    ]
    assert adjustment_factors(instrument=acme, start=date(2026, 7, 1), end=date(2026, 12, 31)) == []

    # Bar open times: before the split, between, at the bonus ex-date (00:00 UTC = 05:30 IST), after.
    times = np.array(
        [
            datetime(2026, 2, 9, 9, 0, tzinfo=UTC).timestamp(),
            datetime(2026, 2, 10, 0, 0, tzinfo=UTC).timestamp(),
            datetime(2026, 6, 15, 0, 0, tzinfo=UTC).timestamp(),
            datetime(2026, 7, 1, 4, 0, tzinfo=UTC).timestamp(),
        ]
    )
    assert factor_multipliers(times=times, factors=everything).tolist() == [0.1, 0.5, 1.0, 1.0]
    assert factor_multipliers(times=times, factors=[]).tolist() == [1.0, 1.0, 1.0, 1.0]


def test_apply_corporate_action_adjusts_strikes_and_lots_once(source: SourceServer) -> None:
    fetch_corporate_actions(url=source.serve_json("/actions.json", ACTIONS_DOC))
    bonus = CorporateAction.objects.get(action_type="bonus")
    loaded_before = datetime(2026, 6, 1, tzinfo=UTC)

    def contract(token: int, instrument_type: str, expiry: date, strike: str | None) -> Instrument:
        return Instrument.objects.create(
            instrument_token=token,
            tradingsymbol=f"ACME{token}",
            exchange="NFO",
            instrument_type=instrument_type,
            underlying="ACME",
            expiry=expiry,
            strike=Decimal(strike) if strike else None,
            lot_size=250,
        )

    call = contract(1, "CE", date(2026, 6, 30), "1500")
    future = contract(2, "FUT", date(2026, 6, 30), None)
    expired = contract(3, "PE", date(2026, 6, 11), "1400")
    Instrument.objects.filter(pk__in=[call.pk, future.pk, expired.pk]).update(updated_at=loaded_before)
    reloaded = contract(4, "CE", date(2026, 7, 28), "750")  # loaded after the ex-date: already adjusted
    Instrument.objects.filter(pk=reloaded.pk).update(updated_at=datetime(2026, 6, 15, 3, 0, tzinfo=UTC))

    with pytest.raises(Conflict):
        apply_corporate_action(action_id=bonus.pk, as_of=date(2026, 6, 14))

    applied = apply_corporate_action(action_id=bonus.pk, as_of=date(2026, 6, 15))
    assert applied.applied_instruments == 2
    terms = {
        i.instrument_token: (i.strike, i.lot_size)
        for i in Instrument.objects.filter(pk__in=[call.pk, future.pk, expired.pk, reloaded.pk])
    }
    assert terms == {
        1: (Decimal("750.0000"), 500),
        2: (None, 500),
        3: (Decimal("1400.0000"), 250),
        4: (Decimal("750.0000"), 250),
    }
    apply_corporate_action(action_id=bonus.pk, as_of=date(2026, 6, 20))  # idempotent
    assert Instrument.objects.get(pk=call.pk).strike == Decimal("750.0000")


def test_apply_due_corporate_actions_and_its_task(source: SourceServer) -> None:
    fetch_corporate_actions(url=source.serve_json("/actions.json", ACTIONS_DOC))
    assert tasks.apply_corporate_actions.apply(args=["2026-07-01"]).get() == list(
        CorporateAction.objects.filter(ex_date__lte=date(2026, 7, 1))
        .order_by("ex_date")
        .values_list("pk", flat=True)
    )
    assert apply_due_corporate_actions(as_of=date(2026, 7, 1)) == []
    assert CalendarFetchRun.objects.get(job="apply_corporate_actions").rows_updated == 2


def test_corporate_action_marks(source: SourceServer) -> None:
    fetch_corporate_actions(url=source.serve_json("/actions.json", ACTIONS_DOC))
    _acme()
    split, bonus, dividend = (
        CorporateAction.objects.get(action_type=t) for t in ("split", "bonus", "dividend")
    )
    marks = corporate_action_marks(symbol="NSE:ACME", start=date(2026, 1, 1), end=date(2026, 12, 31))
    assert [(m["id"], m["label"]) for m in marks] == [
        (f"ca-{split.pk}", "S"),
        (f"ca-{bonus.pk}", "B"),
        (f"ca-{dividend.pk}", "D"),
    ]
    assert marks[0] == {
        "id": f"ca-{split.pk}",
        "time": int(datetime(2026, 2, 10, tzinfo=UTC).timestamp()),
        "color": "#8E24AA",
        "label": "S",
        "tooltip": ["ACME: Split 5:1", "Ex-date 2026-02-10", "Price factor 0.2"],
    }
    assert marks[2]["tooltip"] == ["ACME: Dividend ₹12.5", "Ex-date 2026-08-01", "Final"]
    assert corporate_action_marks(symbol="ACME", start=date(2026, 3, 1), end=date(2026, 3, 31)) == []


def test_holiday_marks() -> None:
    marks = holiday_marks(exchange="NFO", start=date(2025, 10, 1), end=date(2025, 10, 31))
    assert [(m["id"], m["label"], m["tooltip"]) for m in marks] == [
        ("holiday-NSE-20251002", "H", ["NSE holiday: Dussehra; Gandhi Jayanti", "2025-10-02"]),
        ("holiday-NSE-20251021", "H", ["NSE holiday: Diwali Lakshmi Puja", "2025-10-21"]),
        ("session-NSE-20251021", "T", ["NSE special session: Muhurat trading (Diwali)", "13:45-14:45 IST"]),
        ("holiday-NSE-20251022", "H", ["NSE holiday: Diwali Balipratipada", "2025-10-22"]),
    ]
    assert marks[0]["time"] == int(datetime(2025, 10, 2, tzinfo=UTC).timestamp())
    assert holiday_marks(exchange="SIM", start=date(2025, 10, 1), end=date(2025, 10, 31)) == []
    assert holiday_marks(exchange="NSE", start=date(2031, 1, 1), end=date(2031, 12, 31)) == []


def test_run_timestamps_are_aware() -> None:
    run = fetch_holidays(url="")
    assert run.started_at.tzinfo is not None
    assert run.finished_at is not None
    assert run.finished_at - run.started_at < timedelta(seconds=1)


def test_corporate_actions_in_admin(client: Any, django_user_model: Any) -> None:
    admin = django_user_model.objects.create_superuser(
        username="ops", password="ops-pass-1", email="ops@example.com"
    )
    client.force_login(admin)
    url = "/admin/marketdata/corporateaction/add/"
    form = {"underlying": "acme", "action_type": "split", "ex_date": "2026-02-10", "description": ""}

    refused = client.post(url, form)
    assert refused.status_code == 200
    assert "needs ratio_numerator and ratio_denominator" in refused.content.decode()
    assert CorporateAction.objects.count() == 0

    created = client.post(url, {**form, "ratio_numerator": "5", "ratio_denominator": "1"})
    assert created.status_code == 302
    action = CorporateAction.objects.get()
    assert (action.underlying, action.adjustment_factor, action.source) == (
        "ACME",
        Decimal("0.2"),
        "admin:ops",
    )

    apply_corporate_action(action_id=action.pk, as_of=date(2026, 2, 10))
    frozen = client.post(
        f"/admin/marketdata/corporateaction/{action.pk}/change/",
        {**form, "underlying": "ACME", "ratio_numerator": "10", "ratio_denominator": "1"},
    )
    assert frozen.status_code == 200
    assert "can no longer change" in frozen.content.decode()
    action.refresh_from_db()
    assert action.ratio_numerator == 5
