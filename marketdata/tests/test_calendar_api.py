"""/api/v1/calendar/holidays, /api/v1/calendar/sessions and /api/v1/fo/expiries."""

from __future__ import annotations

import importlib.metadata
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from marketdata import calendar, expiries
from marketdata.apis import calendar as calendar_apis
from marketdata.models import Instrument

pytestmark = pytest.mark.django_db

HOLIDAYS_URL = "/api/v1/calendar/holidays"
SESSIONS_URL = "/api/v1/calendar/sessions"
EXPIRIES_URL = "/api/v1/fo/expiries"


@pytest.fixture(autouse=True)
def fresh_calendar_cache() -> Iterator[None]:
    calendar.reset_calendar_cache()
    yield
    calendar.reset_calendar_cache()


@pytest.fixture
def today(monkeypatch: pytest.MonkeyPatch) -> date:
    day = date(2026, 3, 2)
    monkeypatch.setattr(calendar_apis, "_today", lambda: day)
    monkeypatch.setattr(expiries, "today_market_date", lambda: day)
    return day


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert error["code"] == code
    assert set(error) == {"code", "message", "details", "correlation_id"}
    return error


# --- authentication ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        f"{HOLIDAYS_URL}?year=2025",
        f"{SESSIONS_URL}?from=2025-10-20&to=2025-10-24",
        f"{EXPIRIES_URL}?underlying=NIFTY",
    ],
)
def test_anonymous_gets_401(api_client: Any, url: str) -> None:
    assert_error(api_client.get(url), 401, "not_authenticated")


def test_reference_data_is_the_same_for_every_user(auth_client: Any, other_client: Any) -> None:
    # Calendar data belongs to nobody: a second user sees exactly what the first sees.
    url = f"{HOLIDAYS_URL}?exchange=NSE&year=2025"
    assert auth_client.get(url).json() == other_client.get(url).json()


# --- holidays ---------------------------------------------------------------------------------------


def test_holidays_of_a_year(auth_client: Any) -> None:
    response = auth_client.get(f"{HOLIDAYS_URL}?exchange=NSE&year=2025")
    assert response.status_code == 200
    body = response.json()
    assert (body["exchange"], body["year"]) == ("NSE", 2025)
    assert [h["date"] for h in body["holidays"]] == [
        "2025-02-26",
        "2025-03-14",
        "2025-03-31",
        "2025-04-10",
        "2025-04-14",
        "2025-04-18",
        "2025-05-01",
        "2025-08-15",
        "2025-08-27",
        "2025-10-02",
        "2025-10-21",
        "2025-10-22",
        "2025-11-05",
        "2025-12-25",
    ]
    assert body["holidays"][0] == {
        "date": "2025-02-26",
        "weekday": "Wednesday",
        "description": "Maha Shivaratri",
        "source": f"holidays {importlib.metadata.version('holidays')} financial_holidays(XNSE)",
    }
    assert body["special_sessions"] == [
        {
            "date": "2025-10-21",
            "open": "13:45",
            "close": "14:45",
            "timezone": "Asia/Kolkata",
            "description": "Muhurat trading (Diwali)",
        }
    ]


def test_holidays_default_to_nse_and_the_current_year(auth_client: Any, today: date) -> None:
    body = auth_client.get(HOLIDAYS_URL).json()
    assert (body["exchange"], body["year"], len(body["holidays"])) == ("NSE", 2026, 16)


def test_nfo_reads_the_nse_calendar_and_sim_has_no_holidays(auth_client: Any) -> None:
    assert auth_client.get(f"{HOLIDAYS_URL}?exchange=NFO&year=2026").json()["exchange"] == "NSE"
    assert auth_client.get(f"{HOLIDAYS_URL}?exchange=SIM&year=2031").json() == {
        "exchange": "SIM",
        "year": 2031,
        "holidays": [],
        "special_sessions": [],
    }


def test_a_year_without_data_is_422(auth_client: Any) -> None:
    error = assert_error(auth_client.get(f"{HOLIDAYS_URL}?exchange=NSE&year=2031"), 422, "data_unavailable")
    assert error["details"] == {"exchange": "NSE", "year": 2031}
    assert "2031" in error["message"]


@pytest.mark.parametrize("query", ["year=abc", "year=1500", "exchange=XYZ&year=2025"])
def test_bad_holiday_parameters_are_400(auth_client: Any, query: str) -> None:
    assert_error(auth_client.get(f"{HOLIDAYS_URL}?{query}"), 400, "invalid")


# --- sessions ---------------------------------------------------------------------------------------


def test_sessions_in_range(auth_client: Any) -> None:
    response = auth_client.get(f"{SESSIONS_URL}?from=2025-10-17&to=2025-10-24&exchange=NFO")
    assert response.status_code == 200
    assert response.json() == {
        "exchange": "NSE",
        "from": "2025-10-17",
        "to": "2025-10-24",
        "sessions": [
            {
                "date": "2025-10-17",
                "open": "2025-10-17T03:45:00Z",
                "close": "2025-10-17T10:00:00Z",
                "minutes": 375,
                "kind": "regular",
                "description": "",
            },
            {
                "date": "2025-10-20",
                "open": "2025-10-20T03:45:00Z",
                "close": "2025-10-20T10:00:00Z",
                "minutes": 375,
                "kind": "regular",
                "description": "",
            },
            {
                "date": "2025-10-21",
                "open": "2025-10-21T08:15:00Z",
                "close": "2025-10-21T09:15:00Z",
                "minutes": 60,
                "kind": "special",
                "description": "Muhurat trading (Diwali)",
            },
            {
                "date": "2025-10-23",
                "open": "2025-10-23T03:45:00Z",
                "close": "2025-10-23T10:00:00Z",
                "minutes": 375,
                "kind": "regular",
                "description": "",
            },
            {
                "date": "2025-10-24",
                "open": "2025-10-24T03:45:00Z",
                "close": "2025-10-24T10:00:00Z",
                "minutes": 375,
                "kind": "regular",
                "description": "",
            },
        ],
    }


def test_sessions_default_to_a_week_from_today(auth_client: Any, today: date) -> None:
    body = auth_client.get(SESSIONS_URL).json()
    assert (body["from"], body["to"]) == ("2026-03-02", "2026-03-08")
    assert [s["date"] for s in body["sessions"]] == ["2026-03-02", "2026-03-04", "2026-03-05", "2026-03-06"]


def test_sim_sessions_are_whole_days(auth_client: Any) -> None:
    body = auth_client.get(f"{SESSIONS_URL}?from=2031-01-04&to=2031-01-05&exchange=SIM").json()
    assert [(s["open"], s["close"], s["minutes"]) for s in body["sessions"]] == [
        ("2031-01-03T18:30:00Z", "2031-01-04T18:30:00Z", 1440),
        ("2031-01-04T18:30:00Z", "2031-01-05T18:30:00Z", 1440),
    ]


def test_session_range_errors(auth_client: Any) -> None:
    error = assert_error(auth_client.get(f"{SESSIONS_URL}?from=2025-10-24&to=2025-10-17"), 400, "invalid")
    assert error["details"] == {"to": ["must not be before from"]}
    error = assert_error(auth_client.get(f"{SESSIONS_URL}?from=2025-01-01&to=2026-01-02"), 400, "invalid")
    assert error["details"] == {"to": ["the range may span at most 366 days"]}
    error = assert_error(auth_client.get(f"{SESSIONS_URL}?from=yesterday"), 400, "invalid")
    assert list(error["details"]) == ["from"]
    # 366 days exactly is fine.
    assert auth_client.get(f"{SESSIONS_URL}?from=2025-01-01&to=2026-01-01").status_code == 200


def test_sessions_in_a_year_without_data_are_422(auth_client: Any) -> None:
    error = assert_error(
        auth_client.get(f"{SESSIONS_URL}?from=2027-12-30&to=2028-01-03"), 422, "data_unavailable"
    )
    assert error["details"] == {"exchange": "NSE", "year": 2028}


# --- expiries ---------------------------------------------------------------------------------------


def _contract(token: int, expiry: date, instrument_type: str) -> None:
    Instrument.objects.create(
        instrument_token=token,
        tradingsymbol=f"NIFTY{expiry:%y%m%d}{instrument_type}{token}",
        exchange="NFO",
        instrument_type=instrument_type,
        underlying="NIFTY",
        expiry=expiry,
        strike=None if instrument_type == "FUT" else Decimal("22500"),
        lot_size=65,
    )


@pytest.fixture
def nifty_listed() -> None:
    token = 7_000_000
    for expiry in (date(2026, 3, 2), date(2026, 3, 10), date(2026, 3, 30)):
        for instrument_type in ("CE", "PE"):
            token += 1
            _contract(token, expiry, instrument_type)
    _contract(token + 1, date(2026, 3, 30), "FUT")


def test_expiries_listed(auth_client: Any, today: date, nifty_listed: None) -> None:
    response = auth_client.get(f"{EXPIRIES_URL}?underlying=NIFTY")
    assert response.status_code == 200
    assert response.json() == [
        {
            "expiry": "2026-03-02",
            "label": "weekly",
            "days_to_expiry": 0,
            "source": "listed",
            "has_futures": False,
            "contract_expiry": "2026-03-02",
        },
        {
            "expiry": "2026-03-10",
            "label": "weekly",
            "days_to_expiry": 8,
            "source": "listed",
            "has_futures": False,
            "contract_expiry": "2026-03-10",
        },
        {
            "expiry": "2026-03-30",
            "label": "monthly",
            "days_to_expiry": 28,
            "source": "listed",
            "has_futures": True,
            "contract_expiry": "2026-03-30",
        },
    ]


def test_expiries_limit_and_rule_source(auth_client: Any, today: date, nifty_listed: None) -> None:
    body = auth_client.get(f"{EXPIRIES_URL}?underlying=nifty&limit=3&source=rule").json()
    assert [(e["expiry"], e["label"], e["source"], e["has_futures"], e["contract_expiry"]) for e in body] == [
        ("2026-03-02", "weekly", "rule", False, None),
        ("2026-03-10", "weekly", "rule", False, None),
        ("2026-03-17", "weekly", "rule", False, None),
    ]
    assert len(auth_client.get(f"{EXPIRIES_URL}?underlying=NIFTY&limit=1").json()) == 1


def test_expiries_rule_fallback_for_a_known_index(auth_client: Any, today: date) -> None:
    body = auth_client.get(f"{EXPIRIES_URL}?underlying=BANKNIFTY&limit=2").json()
    assert [(e["expiry"], e["label"], e["days_to_expiry"], e["source"]) for e in body] == [
        ("2026-03-30", "monthly", 28, "rule"),
        ("2026-04-28", "monthly", 57, "rule"),
    ]


def test_unknown_underlying_is_404(auth_client: Any, today: date) -> None:
    error = assert_error(auth_client.get(f"{EXPIRIES_URL}?underlying=NOSUCH"), 404, "not_found")
    assert "NOSUCH" in error["message"]


@pytest.mark.parametrize(
    "query", ["", "underlying=NIFTY&limit=0", "underlying=NIFTY&limit=101", "underlying=NIFTY&source=x"]
)
def test_bad_expiry_parameters_are_400(auth_client: Any, today: date, query: str) -> None:
    assert_error(auth_client.get(f"{EXPIRIES_URL}?{query}"), 400, "invalid")


def test_rule_expiries_in_a_year_without_data_are_422(
    auth_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(expiries, "today_market_date", lambda: date(2027, 12, 1))
    error = assert_error(
        auth_client.get(f"{EXPIRIES_URL}?underlying=NIFTY&limit=10"), 422, "data_unavailable"
    )
    assert error["details"] == {"exchange": "NSE", "year": 2028}
