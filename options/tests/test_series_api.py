"""expiry-metrics, strike-series and straddle: the stored analytics as chart series."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from options.models import ExpiryMetrics, OptionStrikeBar
from options.pricing import time_to_expiry
from options.services.analytics import compute_range
from options.tests.factories import ChainFixture, ist, make_chain, model_premium

pytestmark = pytest.mark.django_db

EXPIRY = date(2026, 12, 1)
OPEN = ist(2026, 11, 25, 9, 15)
STRIKES = (23_900.0, 24_000.0, 24_100.0)
MINUTES = 12


@pytest.fixture(autouse=True)
def _settings(settings: Any) -> None:
    settings.FO_RISK_FREE_RATE = 0.065
    settings.FO_DAY_COUNT_BASIS = 365


@pytest.fixture
def computed() -> ChainFixture:
    chain = make_chain(strikes=STRIKES)
    for m in range(MINUTES):
        minute = OPEN + timedelta(minutes=m)
        t = time_to_expiry(minute + timedelta(minutes=1), EXPIRY)
        forward = 24_000.0 + 10 * m  # the ATM strike moves from 24 000 to 24 100 at m = 6
        chain.bar(chain.spot, minute, forward - 20)
        assert chain.futures is not None
        chain.bar(chain.futures, minute, forward, oi=1, volume=1)
        for k in STRIKES:
            chain.bar(
                chain.calls[k],
                minute,
                model_premium(forward, k, t, 0.13, 0.065, "CE"),
                oi=100 * (m + 1),
                volume=5,
            )
            chain.bar(
                chain.puts[k], minute, model_premium(forward, k, t, 0.13, 0.065, "PE"), oi=300, volume=5
            )
    compute_range(start=OPEN, end=OPEN + timedelta(minutes=MINUTES), underlyings=["TESTIDX"])
    return chain


def params(**extra: Any) -> dict[str, Any]:
    return {"underlying": "TESTIDX", "expiry": EXPIRY.isoformat(), **extra}


def test_expiry_metrics_per_minute(auth_client: Any, computed: ChainFixture) -> None:
    body = auth_client.get("/api/v1/fo/expiry-metrics", params()).json()

    rows = list(ExpiryMetrics.objects.filter(underlying="TESTIDX").order_by("time"))
    assert body["resolution"] == "1"
    assert body["t"] == [int(r.time.timestamp()) for r in rows]
    assert body["pcr_oi"] == [r.pcr_oi for r in rows]
    assert body["pcr_oi"][0] == 900 / 300
    assert body["max_pain"] == [float(r.max_pain) for r in rows]  # type: ignore[arg-type]
    assert body["atm_iv"] == [r.atm_iv for r in rows]
    assert body["atm_strike"][0] == 24_000.0
    assert body["atm_strike"][-1] == 24_100.0
    assert body["forward_source"] == ["futures"] * MINUTES


def test_expiry_metrics_in_5_minute_buckets(auth_client: Any, computed: ChainFixture) -> None:
    body = auth_client.get("/api/v1/fo/expiry-metrics", params(resolution="5")).json()

    rows = list(ExpiryMetrics.objects.filter(underlying="TESTIDX").order_by("time"))
    assert body["t"] == [int((OPEN + timedelta(minutes=m)).timestamp()) for m in (0, 5, 10)]
    assert body["pcr_oi"] == [rows[4].pcr_oi, rows[9].pcr_oi, rows[11].pcr_oi]
    assert body["ce_volume_minute"] == [5 * 3 * 5, 5 * 3 * 5, 2 * 3 * 5]


def test_window_from_to(auth_client: Any, computed: ChainFixture) -> None:
    start, end = OPEN + timedelta(minutes=2), OPEN + timedelta(minutes=4)

    body = auth_client.get(
        "/api/v1/fo/expiry-metrics", params(**{"from": int(start.timestamp()), "to": int(end.timestamp())})
    ).json()

    assert body["t"] == [int(start.timestamp()), int(start.timestamp()) + 60]


def test_strike_series_of_oi_for_several_strikes(auth_client: Any, computed: ChainFixture) -> None:
    body = auth_client.get("/api/v1/fo/strike-series", params(strikes="24000,23900", field="oi")).json()

    assert body["field"] == "oi"
    assert len(body["t"]) == MINUTES
    assert [(s["strike"], s["side"]) for s in body["series"]] == [
        (23_900.0, "ce"),
        (23_900.0, "pe"),
        (24_000.0, "ce"),
        (24_000.0, "pe"),
    ]
    assert body["series"][2]["values"] == [100.0 * (m + 1) for m in range(MINUTES)]
    assert body["series"][3]["values"] == [300.0] * MINUTES


def test_strike_series_of_iv_in_5_minute_buckets_takes_the_last_value(
    auth_client: Any, computed: ChainFixture
) -> None:
    body = auth_client.get(
        "/api/v1/fo/strike-series", params(strikes="24000", field="iv", side="ce", resolution="5")
    ).json()

    stored = list(OptionStrikeBar.objects.filter(underlying="TESTIDX", strike=24_000).order_by("time"))
    assert body["series"][0]["values"] == [stored[4].ce_iv, stored[9].ce_iv, stored[11].ce_iv]


def test_straddle_is_the_rolling_atm_pair(auth_client: Any, computed: ChainFixture) -> None:
    body = auth_client.get("/api/v1/fo/straddle", params()).json()

    rows = list(ExpiryMetrics.objects.filter(underlying="TESTIDX").order_by("time"))
    assert body["straddle"] == [r.straddle for r in rows]
    for r, straddle in zip(rows, body["straddle"], strict=True):
        atm = OptionStrikeBar.objects.get(underlying="TESTIDX", time=r.time, strike=r.atm_strike)
        assert straddle == atm.ce_price + atm.pe_price  # type: ignore[operator]
    candles = auth_client.get("/api/v1/fo/straddle", params(resolution="5")).json()
    first = [r.straddle for r in rows[:5]]
    assert candles["straddle_open"][0] == first[0]
    assert candles["straddle_high"][0] == max(first)  # type: ignore[type-var]
    assert candles["straddle_low"][0] == min(first)  # type: ignore[type-var]
    assert candles["straddle"][0] == first[-1]


def test_nothing_stored_yet_is_an_empty_series(auth_client: Any) -> None:
    make_chain(strikes=STRIKES)

    body = auth_client.get("/api/v1/fo/expiry-metrics", params()).json()

    assert body["t"] == []
    assert body["pcr_oi"] == []


@pytest.mark.parametrize(
    ("path", "extra", "status"),
    [
        ("expiry-metrics", {"resolution": "7"}, 400),
        ("expiry-metrics", {"from": "garbage"}, 400),
        ("expiry-metrics", {"from": "1764000000", "to": "1763000000"}, 400),
        ("strike-series", {}, 400),
        ("strike-series", {"strikes": "24000", "field": "nope"}, 400),
        ("strike-series", {"strikes": "12345"}, 400),
        ("strike-series", {"strikes": "abc"}, 400),
        ("strike-series", {"strikes": "24000", "resolution": "D"}, 400),
        ("straddle", {"resolution": "60"}, 400),
        ("straddle", {"underlying": "NOSUCH"}, 404),
        ("expiry-metrics", {"expiry": "2027-01-01"}, 404),
    ],
)
def test_bad_requests(auth_client: Any, path: str, extra: dict[str, str], status: int) -> None:
    make_chain(strikes=STRIKES)

    response = auth_client.get(f"/api/v1/fo/{path}", params(**extra))

    assert response.status_code == status
    assert "error" in response.json()
