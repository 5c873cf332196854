"""UDF history and bar import on one year of 1-minute bars for one symbol (issue: Market data and UDF).

Requests go through the whole Django stack in-process (middleware, JWT auth, view, SQL, JSON), so
the figures are server time without network. "cold" disables the history cache; "warm" repeats
the same request so it is answered from the in-process cache after a Redis version check.
"""

from __future__ import annotations

import csv
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.db import connection
from django.test import Client
from django.test.utils import override_settings
from rest_framework_simplejwt.tokens import AccessToken

from bench.harness import Figure, latency_figures, time_calls
from marketdata.calendar import sessions_in_range
from marketdata.history_cache import clear_local
from marketdata.models import Instrument
from marketdata.services.bar_import import import_bars, read_table
from marketdata.services.bars import BarBatch, bars_upsert, bars_written

BENCH_TOKEN = 990_000_001
IMPORT_TOKEN = 990_000_002
SYMBOL = "NSE:BENCHUDF"
REPEAT = 60
IMPORT_ROWS_TARGET = 100_000


def _instrument(token: int, tradingsymbol: str) -> Instrument:
    Instrument.objects.filter(instrument_token=token).delete()
    instrument = Instrument(instrument_token=token, tradingsymbol=tradingsymbol, exchange="NSE", instrument_type="EQ",
                            name=f"{tradingsymbol} BENCH", underlying=tradingsymbol)
    instrument.save()
    return instrument


def _year_of_minutes(end: date) -> np.ndarray:
    sessions = sessions_in_range(end - timedelta(days=365), end, "NSE")
    opens = np.array([int(s.open.timestamp()) for s in sessions], dtype=np.int64)
    return ((opens[:, None] + np.arange(375, dtype=np.int64)[None, :] * 60).ravel()) * 1_000_000


def _batch(instrument_id: int, times_us: np.ndarray, seed: int) -> BarBatch:
    rng = np.random.default_rng(seed)
    close = 1000 * np.exp(np.cumsum(rng.normal(0, 0.0007, times_us.shape[0])))
    open_ = np.concatenate(([close[0]], close[:-1]))
    high = np.maximum(open_, close) * 1.0005
    low = np.minimum(open_, close) * 0.9995
    n = times_us.shape[0]
    return BarBatch(instrument_id=np.full(n, instrument_id, dtype=np.int64), time_us=times_us,
                    open=np.round(open_, 2), high=np.round(high, 2), low=np.round(low, 2), close=np.round(close, 2),
                    volume=np.asarray(rng.integers(100, 10_000, n), dtype=np.int64), oi=np.full(n, np.nan))


def _remove(instrument: Instrument, start: datetime, end: datetime) -> None:
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM marketdata_bar WHERE instrument_id = %s", [instrument.pk])
    bars_written(instrument_ids=[instrument.pk], start=start, end=end)
    instrument.delete()


def _history_figures(client: Client, end: datetime) -> list[Figure]:
    to = int(end.timestamp())
    day, month, year = 86_400, 30 * 86_400, 365 * 86_400
    cases = [
        ("history 1 day @1m", {"resolution": "1", "from": to - day}, 8.0),
        ("history 1 month @5m", {"resolution": "5", "from": to - month}, 15.0),
        ("history 1 month @1m", {"resolution": "1", "from": to - month}, 60.0),
        ("history 1 year @D", {"resolution": "D", "from": to - year}, 15.0),
    ] + [
        (f"history countback=300 @{r}", {"resolution": r, "from": to - day, "countback": 300}, 10.0)
        for r in ("1", "5", "15", "60", "240", "D", "W")
    ]
    figures: list[Figure] = []
    for name, params, target in cases:
        query: dict[str, Any] = {"symbol": SYMBOL, "to": to, **params}

        def call(query: dict[str, Any] = query) -> None:
            response = client.get("/api/v1/udf/history", query)
            assert response.status_code == 200, response.content[:100]
            assert response.content.startswith(b'{"s" : "ok"'), response.content[:100]

        with override_settings(HISTORY_CACHE_ENABLED=False):
            figures += latency_figures(f"{name} cold", time_calls(call, repeat=REPEAT), p50_target=target)
        clear_local()
        figures += latency_figures(f"{name} warm", time_calls(call, repeat=REPEAT), p50_target=target)
    return figures


def _import_figures(end: date) -> list[Figure]:
    instrument = _instrument(IMPORT_TOKEN, "BENCHIMPORT")
    times = _year_of_minutes(end)[-IMPORT_ROWS_TARGET:]
    batch = _batch(instrument.pk, times, seed=2)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bars.csv"
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["token", "time", "open", "high", "low", "close", "volume"])
            for i in range(times.shape[0]):
                writer.writerow([IMPORT_TOKEN, int(times[i] // 1_000_000), batch.open[i], batch.high[i],
                                 batch.low[i], batch.close[i], batch.volume[i]])
        started = time.perf_counter()
        table = read_table(path)
        report = import_bars(table=table)
        elapsed = time.perf_counter() - started
        assert report.written == times.shape[0], report
        reimport_started = time.perf_counter()
        again = import_bars(table=read_table(path))
        reimport = time.perf_counter() - reimport_started
        assert again.written == 0
    first, last = datetime.fromtimestamp(times[0] / 1e6, tz=UTC), datetime.fromtimestamp(times[-1] / 1e6, tz=UTC)
    _remove(instrument, first, last)
    rows = times.shape[0]
    stored = elapsed - report.refresh_seconds
    return [
        Figure(f"import_bars {rows:,} new rows into the bars table (read+validate+COPY+upsert)", rows / stored,
               "rows/s", 100_000, direction="min"),
        Figure("import_bars then rollup refresh (5m/15m/1h/1D over the year)", report.refresh_seconds * 1000, "ms"),
        Figure("import_bars end to end incl. rollups", rows / elapsed, "rows/s", direction="min"),
        Figure("import_bars re-import (no changes)", rows / reimport, "rows/s", direction="min"),
    ]


def run() -> list[Figure]:
    from accounts.models import User

    end = datetime.now(tz=UTC).date()
    instrument = _instrument(BENCH_TOKEN, "BENCHUDF")
    times = _year_of_minutes(end)
    bars_upsert(batch=_batch(instrument.pk, times, seed=1))
    user, _ = User.objects.get_or_create(username="bench-udf")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(user)}", SERVER_NAME="localhost")
    last = datetime.fromtimestamp(times[-1] / 1e6, tz=UTC)
    try:
        figures = [Figure("bars for the benchmark symbol", float(times.shape[0]), "bars")]
        figures += _history_figures(client, last + timedelta(minutes=1))
        figures += _import_figures(end)
    finally:
        _remove(instrument, datetime.fromtimestamp(times[0] / 1e6, tz=UTC), last)
        user.delete()
    assert settings.UDF_MAX_BARS >= 0
    return figures
