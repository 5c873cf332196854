from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest

from accounts.apikeys import api_key_create
from marketdata.last_prices import write_last_prices
from marketdata.models import Instrument
from marketdata.tests.factories import bars_from_closes, ist, make_instrument, session_minutes

pytestmark = pytest.mark.django_db

BASE = "/api/v1/udf/"


@pytest.fixture
def nifty() -> Instrument:
    return make_instrument(token=256265, tradingsymbol="NIFTY 50", name="NIFTY 50", segment="INDICES",
                           instrument_type="INDEX", underlying="NIFTY")


@pytest.fixture
def reliance() -> Instrument:
    return make_instrument(token=738561, tradingsymbol="RELIANCE", name="RELIANCE INDUSTRIES", tick_size="0.10")


def test_every_endpoint_requires_authentication(api_client: Any) -> None:
    for endpoint in ("config", "time", "symbols", "search", "history", "quotes", "marks", "timescale_marks"):
        response = api_client.get(BASE + endpoint)
        assert response.status_code == 401, endpoint
        assert response.json()["s"] == "error"


def test_api_key_works_for_chart_clients(api_client: Any, user: Any) -> None:
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {api_key_create(user=user, name='chart').raw_key}")
    assert api_client.get(BASE + "config").status_code == 200


def test_config(auth_client: Any) -> None:
    body = auth_client.get(BASE + "config").json()
    assert body["supports_search"] is True
    assert body["supports_group_request"] is False
    assert body["supports_marks"] is True
    assert body["supports_timescale_marks"] is True
    assert body["supports_time"] is True
    assert "1" in body["supported_resolutions"]
    assert "1D" in body["supported_resolutions"]
    assert {"value": "NSE", "name": "NSE", "desc": "National Stock Exchange of India"} in body["exchanges"]
    assert {"name": "Index", "value": "index"} in body["symbols_types"]


def test_time_is_a_bare_number(auth_client: Any) -> None:
    response = auth_client.get(BASE + "time")
    value = response.json()
    assert isinstance(value, int)
    assert abs(value - time.time()) < 5


def test_symbols(auth_client: Any, nifty: Instrument, reliance: Instrument) -> None:
    body = auth_client.get(BASE + "symbols", {"symbol": "nse:nifty 50"}).json()
    assert "s" not in body
    assert body["name"] == "NIFTY 50"
    assert body["ticker"] == "NSE:NIFTY 50"
    assert body["type"] == "index"
    assert body["session"] == "0915-1530"
    assert body["timezone"] == "Asia/Kolkata"
    assert (body["exchange"], body["listed_exchange"]) == ("NSE", "NSE")
    assert (body["pricescale"], body["minmov"]) == (100, 5)
    assert body["intraday_multipliers"] == sorted(body["intraday_multipliers"], key=int)
    assert all(m.isdigit() for m in body["intraday_multipliers"])
    assert "20260126" in body["session_holidays"].split(",")
    for field in ("description", "format", "has_intraday", "has_daily", "has_weekly_and_monthly",
                  "supported_resolutions", "volume_precision", "data_status"):
        assert field in body
    ten_paise = auth_client.get(BASE + "symbols", {"symbol": "NSE:RELIANCE"}).json()
    assert (ten_paise["pricescale"], ten_paise["minmov"]) == (10, 1)


def test_unknown_symbol_is_a_udf_error(auth_client: Any) -> None:
    response = auth_client.get(BASE + "symbols", {"symbol": "NSE:NOPE"})
    assert response.status_code == 200
    assert response.json() == {"s": "error", "errmsg": "unknown symbol NSE:NOPE"}


def test_search_is_a_bare_array_best_first(auth_client: Any, nifty: Instrument, reliance: Instrument) -> None:
    make_instrument(token=9100000, tradingsymbol="NIFTY26DECFUT", name="NIFTY", exchange="NFO",
                    instrument_type="FUT", underlying="NIFTY")
    results = auth_client.get(BASE + "search", {"query": "NIFTY", "type": "", "exchange": "", "limit": 10}).json()
    assert [r["ticker"] for r in results] == ["NSE:NIFTY 50", "NFO:NIFTY26DECFUT"]
    assert results[0] == {"symbol": "NIFTY 50", "full_name": "NSE:NIFTY 50", "description": "NIFTY 50",
                          "exchange": "NSE", "ticker": "NSE:NIFTY 50", "type": "index"}
    futures = auth_client.get(BASE + "search", {"query": "NIFTY", "type": "futures"}).json()
    assert [r["ticker"] for r in futures] == ["NFO:NIFTY26DECFUT"]
    assert auth_client.get(BASE + "search", {"query": "NIFTY", "exchange": "NFO", "limit": 1}).json()[0]["exchange"] == "NFO"
    assert auth_client.get(BASE + "search", {"query": "ZZZZ"}).json() == []


def test_quotes(auth_client: Any, nifty: Instrument, reliance: Instrument) -> None:
    day1, day2 = ist(2026, 11, 23, 9, 15), ist(2026, 11, 24, 9, 15)
    bars_from_closes(reliance, session_minutes(day1, count=3) + session_minutes(day2, count=3),
                     [100.0, 101.0, 102.0, 103.0, 104.0, 106.0])
    write_last_prices({738561: {"ltp": 107.5, "ts": 0, "bid": 107.4, "ask": 107.6}})
    body = auth_client.get(BASE + "quotes", {"symbols": "NSE:RELIANCE,NSE:NOPE,NSE:NIFTY 50"}).json()
    assert body["s"] == "ok"
    assert [item["n"] for item in body["d"]] == ["NSE:RELIANCE", "NSE:NOPE", "NSE:NIFTY 50"]
    reliance_v = body["d"][0]["v"]
    assert body["d"][0]["s"] == "ok"
    assert reliance_v["lp"] == 107.5
    assert reliance_v["prev_close_price"] == 102.0
    assert reliance_v["ch"] == 5.5
    assert reliance_v["chp"] == 5.39
    assert reliance_v["open_price"] == 102.0
    assert reliance_v["high_price"] == 107.5
    assert reliance_v["low_price"] == 101.0
    assert reliance_v["volume"] == 300
    assert (reliance_v["bid"], reliance_v["ask"], reliance_v["spread"]) == (107.4, 107.6, 0.2)
    assert body["d"][1] == {"s": "error", "n": "NSE:NOPE", "v": {}, "errmsg": "unknown symbol NSE:NOPE"}
    assert body["d"][2]["s"] == "ok"
    assert body["d"][2]["v"]["lp"] is None


def test_marks_table_shape(auth_client: Any, nifty: Instrument) -> None:
    body = auth_client.get(BASE + "marks", {"symbol": "NSE:NIFTY 50", "from": 0, "to": 10, "resolution": "D"}).json()
    assert body == {"id": [], "time": [], "color": [], "text": [], "label": [], "labelFontColor": [], "minSize": []}


def test_timescale_marks_show_holidays_and_expiries(auth_client: Any, nifty: Instrument) -> None:
    start = ist(2026, 1, 20, 0, 0)
    body = auth_client.get(BASE + "timescale_marks", {"symbol": "NSE:NIFTY 50", "from": int(start.timestamp()),
                                                        "to": int((start + timedelta(days=10)).timestamp()),
                                                        "resolution": "D"}).json()
    assert isinstance(body, list)
    labels = {(m["label"], m["time"]) for m in body}
    republic_day = 1769385600  # 2026-01-26 00:00 UTC
    assert ("H", republic_day) in labels
    assert all({"id", "time", "color", "label", "tooltip"} <= m.keys() for m in body)
    assert all(isinstance(m["tooltip"], list) for m in body)
