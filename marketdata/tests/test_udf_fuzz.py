"""Whatever the parameters, the UDF answers in its protocol: never a 500, never a traceback."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from marketdata.models import Instrument
from marketdata.tests.factories import bars_from_closes, ist, make_instrument, session_minutes

pytestmark = pytest.mark.django_db

NASTY = ["", " ", "-1", "0", "1e9", "1.5", "NaN", "inf", "0x10", "9" * 30, "'; DROP TABLE marketdata_bar; --",
         "<script>", "1 OR 1=1", "%00", "\u202e", "🙂", "-0", "+5"]
RESOLUTIONS = ["1", "5", "60", "D", "1D", "W", "M", "12M", "0", "7S", "1S", "2D", "5M", "9999", "-5", "D1", ""]


@pytest.fixture
def instrument() -> Instrument:
    instrument = make_instrument()
    bars_from_closes(instrument, session_minutes(ist(2026, 11, 23, 9, 15), count=30), [100.0 + k for k in range(30)])
    return instrument


def _assert_protocol(response: Any) -> dict[str, Any] | list[Any]:
    assert response.status_code == 200, response.content[:200]
    body = response.json()
    if isinstance(body, dict) and "s" in body:
        assert body["s"] in ("ok", "no_data", "error")
        if body["s"] == "error":
            assert isinstance(body["errmsg"], str)
            assert "Traceback" not in body["errmsg"]
    return body


@pytest.mark.parametrize("value", NASTY)
@pytest.mark.parametrize("field", ["from", "to", "countback"])
def test_history_numbers(auth_client: Any, instrument: Instrument, field: str, value: str) -> None:
    params = {"symbol": "NSE:TESTCO", "resolution": "1", "from": "1795405500", "to": "1795500000", field: value}
    body = _assert_protocol(auth_client.get("/api/v1/udf/history", params))
    assert isinstance(body, dict)


@pytest.mark.parametrize("resolution", RESOLUTIONS)
def test_history_resolutions(auth_client: Any, instrument: Instrument, resolution: str) -> None:
    params = {"symbol": "NSE:TESTCO", "resolution": resolution, "from": "1795405500", "to": "1795500000"}
    body = _assert_protocol(auth_client.get("/api/v1/udf/history", params))
    assert isinstance(body, dict)
    if resolution in ("0", "7S", "1S", "2D", "5M", "9999", "-5", "D1", ""):
        assert body["s"] == "error"


def test_inverted_range_is_an_error(auth_client: Any, instrument: Instrument) -> None:
    body = _assert_protocol(auth_client.get("/api/v1/udf/history", {"symbol": "NSE:TESTCO", "resolution": "1",
                                                                     "from": "200", "to": "100"}))
    assert body == {"s": "error", "errmsg": "from must not be after to"}


@pytest.mark.parametrize("symbol", [*NASTY, "NSE:", ":", "NSE:TESTCO:X", "X" * 500])
def test_symbol_strings(auth_client: Any, instrument: Instrument, symbol: str) -> None:
    for endpoint in ("symbols", "history", "marks", "timescale_marks"):
        _assert_protocol(auth_client.get(f"/api/v1/udf/{endpoint}", {"symbol": symbol, "resolution": "D",
                                                                     "from": "0", "to": "100"}))
    _assert_protocol(auth_client.get("/api/v1/udf/quotes", {"symbols": symbol}))
    assert isinstance(_assert_protocol(auth_client.get("/api/v1/udf/search", {"query": symbol, "limit": "5"})), list)


def test_missing_parameters(auth_client: Any, instrument: Instrument) -> None:
    assert _assert_protocol(auth_client.get("/api/v1/udf/history")) == {"s": "error", "errmsg": "symbol is required and must be at most 80 characters"}
    assert _assert_protocol(auth_client.get("/api/v1/udf/history", {"symbol": "NSE:TESTCO"}))["errmsg"] == "missing parameter: resolution"
    assert _assert_protocol(auth_client.get("/api/v1/udf/quotes"))["errmsg"] == "missing parameter: symbols"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    params=st.dictionaries(
        st.sampled_from(["symbol", "resolution", "from", "to", "countback", "limit", "query", "type", "exchange"]),
        st.one_of(st.text(max_size=30), st.integers(min_value=-(10**15), max_value=10**15).map(str)),
        max_size=9,
    ),
    endpoint=st.sampled_from(["history", "symbols", "search", "quotes", "marks", "timescale_marks"]),
)
def test_random_parameters_never_break_the_protocol(
    auth_client: Any, instrument: Instrument, params: dict[str, str], endpoint: str
) -> None:
    clean = {k: v.replace("\x00", "") for k, v in params.items()}
    _assert_protocol(auth_client.get(f"/api/v1/udf/{endpoint}", clean))
