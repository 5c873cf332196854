"""oi-buildup, market-depth, instruments/search, monitor; authentication of every F&O endpoint."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from django.utils import timezone

from marketdata.last_prices import LAST_PRICE_HASH
from options.tests.factories import ChainFixture, ist, make_chain
from tradeviz.redis_client import get_redis

pytestmark = pytest.mark.django_db

EXPIRY = date(2026, 12, 1)
END = ist(2026, 11, 25, 10, 30)
START = END - timedelta(minutes=15)
STRIKES = (23_900.0, 24_000.0, 24_100.0)


@pytest.fixture
def chain() -> ChainFixture:
    return make_chain(strikes=STRIKES, token_base=5_200_000)


@pytest.fixture
def quotes() -> Iterator[dict[int, dict[str, Any]]]:
    """Entries put into the last-price hash by a test, removed afterwards."""
    written: dict[int, dict[str, Any]] = {}
    yield written
    if written:
        get_redis().hdel(LAST_PRICE_HASH, *[str(t) for t in written])


def put_quotes(store: dict[int, dict[str, Any]], entries: dict[int, dict[str, Any]]) -> None:
    store.update(entries)
    get_redis().hset(LAST_PRICE_HASH, mapping={str(t): json.dumps(q) for t, q in entries.items()})


# --- oi-buildup -----------------------------------------------------------------------------------


def test_oi_buildup_classifies_each_contract(auth_client: Any, chain: ChainFixture) -> None:
    assert chain.futures is not None
    moves = {
        chain.futures: ((24_000.0, 1_000), (24_200.0, 1_100)),  # price ↑ OI ↑
        chain.calls[23_900.0]: ((100.0, 1_000), (90.0, 1_200)),  # price ↓ OI ↑
        chain.calls[24_000.0]: ((100.0, 1_000), (110.0, 800)),  # price ↑ OI ↓
        chain.calls[24_100.0]: ((100.0, 1_000), (95.0, 900)),  # price ↓ OI ↓
        chain.puts[23_900.0]: ((100.0, 1_000), (100.4, 1_009)),  # inside both neutral bands
    }
    for instrument, ((p0, o0), (p1, o1)) in moves.items():
        chain.bar(instrument, START - timedelta(minutes=3), p0, oi=o0)  # last bar at or before the start
        chain.bar(instrument, END, p1, oi=o1)

    response = auth_client.get(
        "/api/v1/fo/oi-buildup",
        {"underlying": "TESTIDX", "window": 15, "at": (END + timedelta(seconds=30)).isoformat()},
    )

    assert response.status_code == 200
    body = response.json()
    assert body["window_minutes"] == 15
    assert body["from"] == START.isoformat()
    assert body["to"] == END.isoformat()
    assert body["expiry"] == EXPIRY.isoformat()
    labels = {c["tradingsymbol"]: c["label"] for c in body["contracts"]}
    assert labels[chain.futures.tradingsymbol] == "long_buildup"
    assert labels[chain.calls[23_900.0].tradingsymbol] == "short_buildup"
    assert labels[chain.calls[24_000.0].tradingsymbol] == "short_covering"
    assert labels[chain.calls[24_100.0].tradingsymbol] == "long_unwinding"
    assert labels[chain.puts[23_900.0].tradingsymbol] == "neutral"
    assert labels[chain.puts[24_000.0].tradingsymbol] == "no_data"
    assert body["summary"] == {
        "long_buildup": 1,
        "short_buildup": 1,
        "short_covering": 1,
        "long_unwinding": 1,
        "neutral": 1,
        "no_data": 2,
    }
    futures = body["contracts"][0]
    assert futures["instrument_type"] == "FUT"
    assert futures["price_change_pct"] == pytest.approx(200 / 24_000 * 100, rel=1e-12)
    assert (futures["oi_start"], futures["oi_end"], futures["oi_change"]) == (1_000, 1_100, 100)
    assert futures["oi_change_pct"] == 10.0


def test_oi_buildup_bands_are_configurable(auth_client: Any, chain: ChainFixture) -> None:
    instrument = chain.puts[23_900.0]
    chain.bar(instrument, START, 100.0, oi=1_000)
    chain.bar(instrument, END, 100.4, oi=1_009)

    body = auth_client.get(
        "/api/v1/fo/oi-buildup",
        {"underlying": "TESTIDX", "window": 15, "at": END.isoformat(), "price_band": 0.1, "oi_band": 0.1},
    ).json()

    label = next(c["label"] for c in body["contracts"] if c["tradingsymbol"] == instrument.tradingsymbol)
    assert label == "long_buildup"
    assert (body["price_band_pct"], body["oi_band_pct"]) == (0.1, 0.1)


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"underlying": "NOSUCH"}, 404),
        ({"underlying": "TESTIDX", "window": "0"}, 400),
        ({"underlying": "TESTIDX", "window": "abc"}, 400),
        ({"underlying": "TESTIDX", "price_band": "-1"}, 400),
        ({"underlying": "TESTIDX", "expiry": "2030-01-01"}, 404),
        ({}, 400),
    ],
)
def test_oi_buildup_bad_requests(
    auth_client: Any, chain: ChainFixture, params: dict[str, str], status: int
) -> None:
    assert auth_client.get("/api/v1/fo/oi-buildup", params).status_code == status


# --- market-depth ---------------------------------------------------------------------------------


def test_market_depth_metrics_from_the_latest_tick(
    auth_client: Any, chain: ChainFixture, quotes: Any
) -> None:
    token = chain.calls[24_000.0].instrument_token
    depth = {
        "buy": [[100.0, 150, 2], [99.95, 300, 3], [99.9, 75, 1]],
        "sell": [[100.1, 75, 1], [100.15, 150, 2]],
    }
    put_quotes(quotes, {token: {"ltp": 100.05, "ts": 1_764_000_000_000, "depth": depth}})

    response = auth_client.get(f"/api/v1/fo/market-depth/{token}", {"quantity": 150})

    assert response.status_code == 200
    body = response.json()
    assert (body["best_bid"], body["best_ask"]) == (100.0, 100.1)
    assert body["mid"] == pytest.approx(100.05, rel=1e-15)
    assert body["spread"] == pytest.approx(0.1, rel=1e-9)
    assert body["spread_bps"] == pytest.approx(0.1 / 100.05 * 10_000, rel=1e-9)
    assert body["imbalance_l1"] == (150 - 75) / (150 + 75)
    assert body["imbalance_n"] == (525 - 225) / (525 + 225)
    assert body["levels"] == 5
    assert body["microprice"] == pytest.approx((100.0 * 75 + 100.1 * 150) / 225, rel=1e-15)
    buy = body["impact"]["buy"]
    assert buy["average_price"] == pytest.approx((75 * 100.1 + 75 * 100.15) / 150, rel=1e-15)
    assert buy["impact_pct"] == pytest.approx((buy["average_price"] - 100.05) / 100.05 * 100, rel=1e-12)
    sell = body["impact"]["sell"]
    assert sell["average_price"] == 100.0
    assert body["impact"]["average_pct"] == pytest.approx(
        (buy["impact_pct"] + sell["impact_pct"]) / 2, rel=1e-12
    )
    assert body["lot_size"] == 75
    assert body["reason"] is None


def test_market_depth_defaults_to_one_lot_and_reports_insufficient_depth(
    auth_client: Any, chain: ChainFixture, quotes: Any
) -> None:
    token = chain.calls[24_000.0].instrument_token
    put_quotes(
        quotes, {token: {"ltp": 100.0, "ts": 1, "depth": {"buy": [[100.0, 10, 1]], "sell": [[100.5, 10, 1]]}}}
    )

    body = auth_client.get(f"/api/v1/fo/market-depth/{token}").json()

    assert body["impact"]["quantity"] == 75.0
    assert body["impact"]["buy"]["reason"] == "insufficient_depth"
    assert body["impact"]["buy"]["average_price"] is None
    assert body["impact"]["average_pct"] is None


def test_market_depth_crossed_book_is_defined_not_an_error(
    auth_client: Any, chain: ChainFixture, quotes: Any
) -> None:
    token = chain.calls[24_000.0].instrument_token
    put_quotes(
        quotes, {token: {"ltp": 100.0, "ts": 1, "depth": {"buy": [[101.0, 10, 1]], "sell": [[100.0, 10, 1]]}}}
    )

    body = auth_client.get(f"/api/v1/fo/market-depth/{token}").json()

    assert body["reason"] == "crossed_book"
    assert body["mid"] is None
    assert body["spread"] is None


def test_market_depth_without_depth_is_404_no_depth_yet(
    auth_client: Any, chain: ChainFixture, quotes: Any
) -> None:
    token = chain.calls[24_000.0].instrument_token
    put_quotes(quotes, {token: {"ltp": 100.0, "ts": 1, "bid": 99.0, "ask": 101.0}})

    response = auth_client.get(f"/api/v1/fo/market-depth/{token}")

    assert response.status_code == 404
    assert response.json()["error"]["message"] == "no depth yet"
    other = chain.calls[23_900.0].instrument_token  # no tick at all
    assert auth_client.get(f"/api/v1/fo/market-depth/{other}").json()["error"]["message"] == "no depth yet"


def test_market_depth_unknown_token_and_bad_quantity(auth_client: Any, chain: ChainFixture) -> None:
    assert auth_client.get("/api/v1/fo/market-depth/987654321").status_code == 404
    token = chain.calls[24_000.0].instrument_token
    assert auth_client.get(f"/api/v1/fo/market-depth/{token}", {"quantity": "-5"}).status_code == 400
    assert auth_client.get(f"/api/v1/fo/market-depth/{token}", {"quantity": "nan"}).status_code == 400


# --- instruments/search ---------------------------------------------------------------------------


def test_instrument_search_is_paginated_with_a_total(auth_client: Any, chain: ChainFixture) -> None:
    first = auth_client.get(
        "/api/v1/fo/instruments/search", {"q": "TESTIDX", "type": "option", "limit": 4}
    ).json()

    assert first["count"] == 6
    assert (first["limit"], first["offset"], first["next_offset"]) == (4, 0, 4)
    assert len(first["results"]) == 4
    second = auth_client.get(
        "/api/v1/fo/instruments/search", {"q": "TESTIDX", "type": "option", "limit": 4, "offset": 4}
    ).json()
    assert second["next_offset"] is None
    symbols = {r["tradingsymbol"] for r in first["results"] + second["results"]}
    assert symbols == {i.tradingsymbol for i in [*chain.calls.values(), *chain.puts.values()]}
    sample = first["results"][0]
    assert set(sample) == {
        "token",
        "symbol",
        "tradingsymbol",
        "name",
        "exchange",
        "instrument_type",
        "underlying",
        "expiry",
        "strike",
        "lot_size",
        "tick_size",
    }
    assert sample["expiry"] == EXPIRY.isoformat()


@pytest.mark.parametrize("params", [{"limit": "0"}, {"limit": "101"}, {"offset": "-1"}, {"type": "bond"}])
def test_instrument_search_bad_requests(auth_client: Any, params: dict[str, str]) -> None:
    assert auth_client.get("/api/v1/fo/instruments/search", params).status_code == 400


# --- monitor --------------------------------------------------------------------------------------


def test_monitor_snapshot(auth_client: Any, monkeypatch: Any) -> None:
    chain = make_chain(
        underlying="MONIDX", strikes=(23_800.0, 23_900.0, 24_000.0, 24_100.0, 24_200.0), token_base=5_300_000
    )
    second = make_chain(
        underlying="MONIDX",
        expiry=date(2026, 12, 8),
        with_futures=False,
        token_base=5_400_000,
        strikes=(23_900.0, 24_000.0, 24_100.0),
        spot=chain.spot,
    )
    now = ist(2026, 11, 25, 10, 0) + timedelta(seconds=20)
    minute = ist(2026, 11, 25, 10, 0)
    chain.bar(chain.spot, ist(2026, 11, 23, 15, 29), 23_900.0)
    chain.bar(chain.spot, minute, 24_000.0)
    assert chain.futures is not None
    chain.bar(chain.futures, minute, 24_050.0, oi=5_000)
    for c in (chain, second):
        for k in c.strikes:
            c.bar(c.calls[k], minute, max(24_050.0 - k, 0) + 80, oi=1_000, volume=3)
            c.bar(c.puts[k], minute, max(k - 24_050.0, 0) + 80, oi=2_000, volume=4)
    monkeypatch.setattr(timezone, "now", lambda: now)

    response = auth_client.get("/api/v1/fo/monitor", {"underlying": "MONIDX", "expiries": 2, "otm_levels": 1})

    assert response.status_code == 200
    body = response.json()
    assert body["underlying"] == "MONIDX"
    assert body["spot"]["ltp"] == 24_000.0
    assert body["spot"]["change"] == 100.0
    assert body["spot"]["change_pct"] == pytest.approx(100 / 23_900 * 100, rel=1e-12)
    assert len(body["futures"]) == 1
    assert body["futures"][0]["ltp"] == 24_050.0
    assert body["futures"][0]["basis"] == 50.0
    assert [e["expiry"] for e in body["expiries"]] == ["2026-12-01", "2026-12-08"]
    first = body["expiries"][0]
    assert first["forward_source"] == "futures"
    assert first["atm_strike"] == 24_000.0
    assert [r["strike"] for r in first["rows"]] == [23_900.0, 24_000.0, 24_100.0]
    assert first["rows"][1]["ce"]["oi"] == 1_000
    assert first["label"] == "monthly"
    assert body["expiries"][1]["forward_source"] == "synthetic"
    assert body["expiries"][1]["label"] == "weekly"


def test_monitor_unknown_underlying(auth_client: Any) -> None:
    response = auth_client.get("/api/v1/fo/monitor", {"underlying": "NOSUCH"})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


# --- authentication -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/fo/option-chain?underlying=TESTIDX&expiry=2026-12-01",
        "/api/v1/fo/expiry-metrics?underlying=TESTIDX&expiry=2026-12-01",
        "/api/v1/fo/strike-series?underlying=TESTIDX&expiry=2026-12-01&strikes=24000",
        "/api/v1/fo/straddle?underlying=TESTIDX&expiry=2026-12-01",
        "/api/v1/fo/oi-buildup?underlying=TESTIDX",
        "/api/v1/fo/market-depth/5200001",
        "/api/v1/fo/instruments/search?q=TEST",
        "/api/v1/fo/monitor?underlying=TESTIDX",
    ],
)
def test_every_endpoint_requires_authentication(api_client: Any, chain: ChainFixture, path: str) -> None:
    response = api_client.get(path)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
