"""F&O analytics on the database: the option-chain API for a 200-strike expiry, and the per-minute job
for 3 underlyings x 4 expiries (issue: F&O analytics).

The scenario is a live session at 14:00:30 IST of the last completed trading day: an hour of minute
bars for every contract (13:00-14:00), analytics stored up to 13:59 by the per-minute job, the 14:00
minute still forming, and a last-price hash entry (LTP, bid/ask, OI, volume) for every contract. The
clock is pinned there while timing. Requests go through the whole Django stack in-process
(middleware, JWT auth, view, SQL, numpy, orjson). Instruments use tokens >= 970 000 000 and
everything created is removed afterwards.

Run with `.venv/bin/python -m bench.run option_chain`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as wall_time
from decimal import Decimal
from typing import Any
from unittest import mock

import numpy as np
import orjson
from django.db import connection
from django.test import Client
from django.utils import timezone
from rest_framework_simplejwt.tokens import AccessToken

from bench.harness import Figure, latency_figures, time_calls
from marketdata.calendar import previous_trading_day
from marketdata.last_prices import LAST_PRICE_HASH
from marketdata.models import Instrument
from marketdata.services.bars import BarBatch, bars_upsert
from options.chains import clear_chain_cache
from options.pricing import IST, black76_price, time_to_expiry
from options.rollups import METRICS_TABLE
from options.services.analytics import compute_minute, compute_range
from tradeviz.redis_client import get_redis
from tradeviz.timeseries.rollups import refresh_registered_rollups

TOKEN_BASE = 970_000_000
UNDERLYINGS = ("BENCHFOA", "BENCHFOB", "BENCHFOC")
EXPIRIES_PER_UNDERLYING = 4
STRIKES_PER_CHAIN = 200
STRIKE_STEP = 50.0
SPOT = 24_000.0
RATE = 0.065
HISTORY_MINUTES = 60  # minutes of bars before the forming one
TIMED_MINUTES = 15  # the last closed minutes, each computed once like the live job does
CHAIN_P50_TARGET_MS = 20.0
MINUTE_P50_TARGET_MS = 100.0
CHAIN_REPEAT = 60
FORMING_SECONDS = 30
SEED = 20_261_128


def _session_day() -> date:
    return previous_trading_day(timezone.now().astimezone(IST).date(), "NSE", regular_only=True)


def _weekly_expiries(after: date, count: int) -> list[date]:
    first = after + timedelta(days=(1 - after.weekday()) % 7 or 7)  # the next Tuesday
    return [first + timedelta(weeks=i) for i in range(count)]


def _instrument(token: int, **fields: object) -> Instrument:
    instrument = Instrument(instrument_token=token, tick_size=Decimal("0.05"), **fields)  # type: ignore[misc]
    instrument.save()
    return instrument


@dataclass
class BenchUnderlying:
    spot: Instrument
    futures: Instrument  # of the first expiry
    chains: dict[date, list[tuple[float, Instrument, Instrument]]]  # expiry → [(strike, call, put)]


def _create_instruments(expiries: list[date]) -> dict[str, BenchUnderlying]:
    made: dict[str, BenchUnderlying] = {}
    strikes = SPOT + STRIKE_STEP * (np.arange(STRIKES_PER_CHAIN) - STRIKES_PER_CHAIN // 2)
    for u_index, name in enumerate(UNDERLYINGS):
        base = TOKEN_BASE + u_index * 10_000
        spot = _instrument(
            base,
            tradingsymbol=f"{name} INDEX",
            name=name,
            exchange="NSE",
            segment="INDICES",
            instrument_type="INDEX",
            underlying=name,
        )
        futures = _instrument(
            base + 1,
            tradingsymbol=f"{name}FUT",
            name=name,
            exchange="NFO",
            segment="NFO-FUT",
            instrument_type="FUT",
            underlying=name,
            expiry=expiries[0],
            lot_size=75,
        )
        token = base + 10
        chains: dict[date, list[tuple[float, Instrument, Instrument]]] = {}
        for expiry in expiries:
            rows = []
            for k in strikes:
                legs = []
                for kind in ("CE", "PE"):
                    legs.append(
                        _instrument(
                            token,
                            tradingsymbol=f"{name}{expiry:%y%m%d}{int(k)}{kind}",
                            name=name,
                            exchange="NFO",
                            segment="NFO-OPT",
                            instrument_type=kind,
                            underlying=name,
                            expiry=expiry,
                            strike=Decimal(str(k)),
                            lot_size=75,
                        )
                    )
                    token += 1
                rows.append((float(k), legs[0], legs[1]))
            chains[expiry] = rows
        made[name] = BenchUnderlying(spot=spot, futures=futures, chains=chains)
    return made


def _minutes(day: date) -> list[datetime]:
    start = datetime.combine(day, wall_time(13, 0), tzinfo=IST).astimezone(UTC)
    return [start + timedelta(minutes=m) for m in range(HISTORY_MINUTES + 1)]


def _write_bars(made: dict[str, BenchUnderlying], minutes: list[datetime]) -> None:
    rng = np.random.default_rng(SEED)
    times = np.array([int(m.timestamp()) * 1_000_000 for m in minutes], dtype=np.int64)
    n = len(minutes)
    ids, stamps, closes, volumes, ois = [], [], [], [], []

    def add(instrument: Instrument, close: np.ndarray, oi: np.ndarray | None) -> None:
        ids.append(np.full(n, instrument.pk, dtype=np.int64))
        stamps.append(times)
        closes.append(close)
        volumes.append(rng.integers(1, 5_000, n))
        ois.append(oi if oi is not None else np.full(n, np.nan))

    for _name, parts in made.items():
        path = SPOT * np.exp(np.cumsum(rng.normal(0, 0.0004, n)))
        add(parts.spot, np.round(path, 2), None)
        first_expiry = min(parts.chains)
        t_fut = np.array([time_to_expiry(m, first_expiry) for m in minutes])
        add(parts.futures, np.round(path * np.exp(RATE * t_fut), 2), np.full(n, 1e7))
        for expiry, rows in parts.chains.items():
            t = np.array([time_to_expiry(m + timedelta(minutes=1), expiry) for m in minutes])
            forward = path * np.exp(RATE * t)
            for k, ce, pe in rows:
                sigma = 0.12 + 0.5 * np.log(k / forward) ** 2
                for instrument, kind in ((ce, 1.0), (pe, -1.0)):
                    price = np.maximum(
                        np.round(black76_price(forward, k, t, sigma, RATE, kind) / 0.05) * 0.05, 0.05
                    )
                    oi = np.round(1e5 * np.exp(-abs(k - SPOT) / 2_000) + np.arange(n) * 10)
                    add(instrument, price, oi)
    all_ids = np.concatenate(ids)
    closes_all = np.concatenate(closes)
    bars_upsert(
        batch=BarBatch(
            instrument_id=all_ids,
            time_us=np.concatenate(stamps),
            open=closes_all,
            high=closes_all,
            low=closes_all,
            close=closes_all,
            volume=np.concatenate(volumes).astype(np.int64),
            oi=np.concatenate(ois),
        ),
        notify=False,
    )


def _quotes(made: dict[str, BenchUnderlying], now: datetime) -> dict[int, bytes]:
    """A last-price hash entry for every contract of the first underlying's first expiry."""
    parts = made[UNDERLYINGS[0]]
    chain = parts.chains[min(parts.chains)]
    ts = int(now.timestamp() * 1000)
    entries: dict[int, bytes] = {}
    for k, ce, pe in chain:
        for instrument in (ce, pe):
            intrinsic = max(SPOT - k, 0) if instrument is ce else max(k - SPOT, 0)
            ltp = round(intrinsic + 40.0 * math.exp(-abs(k - SPOT) / 800), 2) + 0.05
            entries[instrument.instrument_token] = orjson.dumps(
                {"ltp": ltp, "ts": ts, "bid": ltp - 0.05, "ask": ltp + 0.05, "volume": 12_345, "oi": 100_000}
            )
    return entries


@contextmanager
def _pinned_clock(now: datetime) -> Iterator[None]:
    with mock.patch.object(timezone, "now", return_value=now):
        yield


def _cleanup(tokens_from: int, start: datetime, end: datetime) -> None:
    ids = list(
        Instrument.objects.filter(
            instrument_token__gte=tokens_from, instrument_token__lt=tokens_from + 100_000
        ).values_list("pk", flat=True)
    )
    with connection.cursor() as cursor:
        if ids:
            cursor.execute("DELETE FROM marketdata_bar WHERE instrument_id = ANY(%s)", [ids])
        cursor.execute("DELETE FROM options_strikebar WHERE underlying = ANY(%s)", [list(UNDERLYINGS)])
        cursor.execute(f"DELETE FROM {METRICS_TABLE} WHERE underlying = ANY(%s)", [list(UNDERLYINGS)])
    # Buckets a beat refresh may have materialized meanwhile disappear with their source rows.
    refresh_registered_rollups(start=start, end=end + timedelta(minutes=15), source_table=METRICS_TABLE)
    # Plain SQL: nothing but the bars (gone) refers to bench instruments, and the ORM's cascade would
    # visit every app's tables, migrated in this database or not.
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM marketdata_instrument WHERE id = ANY(%s)", [ids])
    clear_chain_cache()


def run() -> list[Figure]:
    day = _session_day()
    expiries = _weekly_expiries(day, EXPIRIES_PER_UNDERLYING)
    minutes = _minutes(day)
    _cleanup(TOKEN_BASE, minutes[0], minutes[-1])  # leftovers of an interrupted run
    redis = get_redis()
    quotes: dict[int, bytes] = {}
    try:
        made = _create_instruments(expiries)
        _write_bars(made, minutes)
        clear_chain_cache()
        forming = minutes[-1]
        now = forming + timedelta(seconds=FORMING_SECONDS)
        timed = minutes[-1 - TIMED_MINUTES : -1]
        with _pinned_clock(now):
            compute_range(start=minutes[0], end=timed[0], underlyings=UNDERLYINGS, refresh_rollups=False)
            quotes = _quotes(made, now)
            redis.hset(LAST_PRICE_HASH, mapping={str(t): v for t, v in quotes.items()})
            # The per-minute job as the minute-close hook runs it: a fresh minute each time, carried from
            # the one before, bid/ask from the last-price hash, every chain published to its stream group.
            minute_samples = []
            for minute in timed:
                started = time.perf_counter()
                result = compute_minute(minute=minute, underlyings=UNDERLYINGS, quotes="bidask", publish=True)
                minute_samples.append((time.perf_counter() - started) * 1000)
            assert result.chains == len(UNDERLYINGS) * EXPIRIES_PER_UNDERLYING, result
            redis.hset(LAST_PRICE_HASH, mapping={str(t): v for t, v in quotes.items()})

            user = _bench_user()
            client = Client(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(user)}")
            url = "/api/v1/fo/option-chain"
            params: dict[str, str | int] = {
                "underlying": UNDERLYINGS[0],
                "expiry": expiries[0].isoformat(),
                "strikes": 0,
            }
            first = client.get(url, params)
            assert first.status_code == 200, first.content[:300]
            body = orjson.loads(first.content)
            assert len(body["rows"]) == STRIKES_PER_CHAIN, "unexpected chain"
            assert body["live"], "the chain should be live"
            chain_samples = time_calls(lambda: client.get(url, params), repeat=CHAIN_REPEAT)
        contracts = result.strike_rows * 2
        return [
            *latency_figures(
                f"option-chain API, {STRIKES_PER_CHAIN} strikes live",
                chain_samples,
                p50_target=CHAIN_P50_TARGET_MS,
            ),
            *latency_figures(
                f"per-minute analytics {len(UNDERLYINGS)}x{EXPIRIES_PER_UNDERLYING} chains ({contracts} contracts)",
                minute_samples,
                p50_target=MINUTE_P50_TARGET_MS,
            )[:2],
        ]
    finally:
        if quotes:
            redis.hdel(LAST_PRICE_HASH, *[str(t) for t in quotes])
        _cleanup(TOKEN_BASE, minutes[0], minutes[-1])
        _delete_bench_user()


BENCH_USER = "bench-option-chain"


def _bench_user() -> Any:
    from django.contrib.auth import get_user_model

    user, _ = get_user_model().objects.get_or_create(username=BENCH_USER)
    return user


def _delete_bench_user() -> None:
    # Plain SQL for the same reason as the instruments: the bench user owns nothing.
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM accounts_user WHERE username = %s", [BENCH_USER])
