"""The ticker HTTP contract against a real server on a free port: exact shapes, 400s, 404s."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import date
from typing import Any

import httpx
import pytest

from marketdata.demo import INDEX, SIM_INDEX
from marketdata.services.instruments import REQUIRED_COLUMNS, parse_row
from marketdata.simulator import store
from marketdata.simulator.engine import TickEngine
from marketdata.simulator.minutes import MinuteBook
from marketdata.simulator.server import MAX_QUOTE_TOKENS, TickerHttpServer, TickerState
from marketdata.tests.factories import make_instrument, write_bars
from marketdata.tests.test_simulator_engine import BATCH_MS, MONDAY_10, ist_ms, make_universe

STORED_MINUTE = MONDAY_10 - 120_000
FUTURE = "NFO:NIFTY26DECFUT"


class Served:
    def __init__(self, server: TickerHttpServer, state: TickerState, engine: TickEngine,
                 ticks: list[dict[str, Any]], calls: list[tuple[int, int, int]]) -> None:
        self.server, self.state, self.engine, self.ticks, self.calls = server, state, engine, ticks, calls
        self.client = httpx.Client(base_url=server.url, timeout=5)

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.client.get(path, params=params)


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    universe = make_universe()
    engine = TickEngine(universe, seed=2, start_ms=MONDAY_10, ticks_per_second=300, batch_ms=BATCH_MS)
    book = MinuteBook(retention_minutes=60)
    state = TickerState(universe, engine.last_prices(), book)
    ticks = []
    for k in range(600):  # two minutes of ticks from 10:00 IST
        batch = engine.step(MONDAY_10 + k * BATCH_MS, frozenset({"NSE", "SIM"}))
        state.record(batch, frozenset({"NSE", "SIM"}))
        ticks.extend(batch)
    calls: list[tuple[int, int, int]] = []
    future = next(i.token for i in universe.instruments if i.symbol == FUTURE)

    def stored(token: int, start: int, end: int) -> list[list[Any]]:
        calls.append((token, start, end))
        rows = [[STORED_MINUTE, 24100.0, 24110.5, 24095.0, 24101.0, 1300, 12000000],
                [STORED_MINUTE + 60_000, 24101.0, 24102.0, 24090.0, 24092.5, 650, 12000065],
                # The simulator played this minute: its own bar replaces the stored one.
                [MONDAY_10, 1.0, 1.0, 1.0, 1.0, 1, 1]]
        return [r for r in rows if token == future and start <= r[0] <= end]

    server = TickerHttpServer(host="127.0.0.1", port=0, state=state, stored_history=stored)
    server.start()
    yield Served(server, state, engine, ticks, calls)
    server.stop()


def test_instruments_is_the_broker_csv_master(served: Served) -> None:
    response = served.get("/instruments")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert tuple(csv.reader(io.StringIO(response.text)).__next__()) == REQUIRED_COLUMNS
    assert len(rows) == len(served.state._universe.listings)
    by_symbol = {}
    for row in rows:
        instrument = parse_row(row)  # what load_instruments accepts
        by_symbol[instrument.symbol] = instrument
    sim = by_symbol["SIM:SIMNIFTY"]
    assert (sim.instrument_token, sim.instrument_type, sim.segment) == (SIM_INDEX.token, "INDEX", "INDICES")
    future = by_symbol[FUTURE]
    assert (future.instrument_type, future.expiry, future.lot_size) == ("FUT", date(2026, 12, 29), 65)
    assert float(future.last_price) == served.engine.last_prices()[future.instrument_token][0]  # type: ignore[arg-type]
    assert by_symbol["NFO:NIFTY26120124000PE"].strike == 24000


def test_quotes_gives_last_price_and_time_per_known_token(served: Served) -> None:
    last = served.engine.last_prices()
    response = served.get("/quotes", tokens=f"{INDEX.token},{SIM_INDEX.token},999999999")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"data": {
        str(INDEX.token): {"ltp": last[INDEX.token][0], "ts": last[INDEX.token][1]},
        str(SIM_INDEX.token): {"ltp": last[SIM_INDEX.token][0], "ts": last[SIM_INDEX.token][1]},
    }}
    assert served.get("/quotes", tokens="999999999").json() == {"data": {}}
    assert set(served.get("/quotes", tokens=f" {INDEX.token} ,").json()["data"]) == {str(INDEX.token)}


@pytest.mark.parametrize("query", [
    {}, {"tokens": ""}, {"tokens": ","}, {"tokens": "abc"}, {"tokens": "1,x"}, {"tokens": "-5"}, {"tokens": "0"},
    {"tokens": "1.5"}, {"tokens": ",".join(str(n) for n in range(1, MAX_QUOTE_TOKENS + 2))},
])
def test_quotes_rejects_bad_tokens(served: Served, query: dict[str, str]) -> None:
    response = served.get("/quotes", **query)
    assert response.status_code == 400
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == "invalid"
    assert body["error"]["message"]


def future_token(served: Served) -> int:
    return next(i.token for i in served.state._universe.instruments if i.symbol == FUTURE)


def test_history_merges_stored_bars_with_the_simulators_own(served: Served) -> None:
    token = future_token(served)
    response = served.get("/history", token=token, interval="minute", **{"from": "2026-11-30T09:50:00+05:30",
                                                                          "to": "2026-11-30T10:05:00+05:30"})
    assert response.status_code == 200
    data = response.json()["data"]
    assert [row[0] for row in data] == [STORED_MINUTE, STORED_MINUTE + 60_000, MONDAY_10, MONDAY_10 + 60_000]
    assert data[0] == [STORED_MINUTE, 24100.0, 24110.5, 24095.0, 24101.0, 1300, 12000000]
    # Minutes the simulator played are its ticks aggregated: open first, close last, high/low, OI last.
    for row, minute in zip(data[2:], (MONDAY_10, MONDAY_10 + 60_000), strict=True):
        ticks = [t for t in served.ticks if t["token"] == token and minute <= t["ts"] < minute + 60_000]
        prices = [t["ltp"] for t in ticks]
        assert len(row) == 7
        assert row[1:5] == [prices[0], max(prices), min(prices), prices[-1]]
        assert row[6] == ticks[-1]["oi"]
    assert served.calls[-1] == (token, ist_ms(2026, 11, 30, 9, 50), ist_ms(2026, 11, 30, 10, 5))


def test_history_reads_times_without_an_offset_as_ist_and_both_ends_inclusive(served: Served) -> None:
    token = future_token(served)
    data = served.get("/history", token=token, interval="minute", **{"from": "2026-11-30 09:58:00",
                                                                      "to": "2026-11-30T09:59:00"}).json()["data"]
    assert [row[0] for row in data] == [STORED_MINUTE, STORED_MINUTE + 60_000]
    day = served.get("/history", token=token, **{"from": "2026-11-30", "to": "2026-11-30T09:58:30+05:30"})
    assert [row[0] for row in day.json()["data"]] == [STORED_MINUTE]  # interval defaults to minute
    index = served.get("/history", token=INDEX.token, **{"from": "2026-11-30T04:30:00Z", "to": "2026-11-30T04:31:00Z"})
    assert [len(row) for row in index.json()["data"]] == [7, 7]
    assert {row[6] for row in index.json()["data"]} == {None}  # no open interest for an index


@pytest.mark.parametrize("query", [
    {"interval": "minute", "from": "2026-11-30", "to": "2026-12-01"},  # no token
    {"token": "abc", "from": "2026-11-30", "to": "2026-12-01"},
    {"token": "-1", "from": "2026-11-30", "to": "2026-12-01"},
    {"token": "256265", "interval": "day", "from": "2026-11-30", "to": "2026-12-01"},
    {"token": "256265", "interval": "5minute", "from": "2026-11-30", "to": "2026-12-01"},
    {"token": "256265", "to": "2026-12-01"},
    {"token": "256265", "from": "2026-11-30"},
    {"token": "256265", "from": "yesterday", "to": "2026-12-01"},
    {"token": "256265", "from": "2026-13-01", "to": "2026-12-01"},
    {"token": "256265", "from": "2026-12-01", "to": "2026-11-30"},
    {"token": "256265", "from": "2026-01-01", "to": "2026-12-01"},  # more than 60 days
    {"token": ["256265", "256265"], "from": "2026-11-30", "to": "2026-12-01"},
])
def test_history_rejects_bad_parameters(served: Served, query: dict[str, Any]) -> None:
    response = served.get("/history", **query)
    assert response.status_code == 400, query
    assert response.json()["error"]["code"] == "invalid"


def test_history_of_an_unknown_token_is_404(served: Served) -> None:
    response = served.get("/history", token=999999999, interval="minute", **{"from": "2026-11-30",
                                                                              "to": "2026-12-01"})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_unknown_paths_and_methods(served: Served) -> None:
    assert served.get("/nope").status_code == 404
    assert served.get("/nope").json()["error"]["code"] == "not_found"
    response = served.client.post("/quotes", params={"tokens": "1"})
    assert response.status_code == 405
    assert response.headers["allow"] == "GET"
    health = served.get("/health").json()
    assert health == {"status": "ok", "instruments": len(served.state._universe.instruments),
                      "open_calendars": ["NSE", "SIM"]}


@pytest.mark.django_db
def test_stored_history_reads_minute_bars_by_token() -> None:
    instrument = make_instrument(token=4242, tradingsymbol="HISTCO")
    minute = ist_ms(2026, 11, 27, 10, 0)
    from datetime import UTC, datetime

    times = [datetime.fromtimestamp((minute + k * 60_000) / 1000, tz=UTC) for k in range(3)]
    write_bars(instrument, [(t, 10.0 + k, 11.0 + k, 9.5 + k, 10.5 + k, 100 * (k + 1)) for k, t in enumerate(times)],
               oi=[5.0, 6.0, float("nan")])
    assert store.stored_history(4242, minute, minute + 60_000) == [
        [minute, 10.0, 11.0, 9.5, 10.5, 100, 5],
        [minute + 60_000, 11.0, 12.0, 10.5, 11.5, 200, 6],
    ]
    assert store.stored_history(4243, minute, minute + 60_000) == []
