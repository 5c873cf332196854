"""Test and benchmark helpers for tick ingestion: a plain-Python reference aggregation, stream
producers, and reading bars back. Not used by production code."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
import redis
from django.db import connection

from marketdata.ticks.sessions import IST_OFFSET_MS, MS_PER_DAY

MS_PER_MINUTE = 60_000

Tick = dict[str, Any]
BarKey = tuple[int, int]  # (instrument_id, minute_ms)


def reference_bars(ticks: Iterable[Tick], *, instrument_of: Mapping[int, int]) -> dict[BarKey, dict[str, Any]]:
    """The bars the consumer must build from `ticks` (valid, in-session ticks of known tokens), the
    simplest way: per (instrument, minute) over the *set* of ticks (a repeat is the same tick).

    open/close by tick time (ties: lower / higher price), oi of the latest tick carrying one (ties:
    larger), volume = day_volume - the previous bar's day_volume of the same IST day (0 before the
    first), day_volume = the largest cumulative volume in the minute.
    """
    groups: dict[BarKey, set[tuple[int, float, int | None, int | None]]] = defaultdict(set)
    for tick in ticks:
        iid = instrument_of[tick["token"]]
        minute = tick["ts"] - tick["ts"] % MS_PER_MINUTE
        groups[(iid, minute)].add((tick["ts"], float(tick["ltp"]), tick.get("volume"), tick.get("oi")))
    bars: dict[BarKey, dict[str, Any]] = {}
    for key, members in groups.items():
        ordered = sorted(members, key=lambda m: (m[0], m[1]))
        volumes = [m[2] for m in members if m[2] is not None]
        with_oi = sorted((m[0], m[3]) for m in members if m[3] is not None)
        bars[key] = {
            "open": ordered[0][1],
            "high": max(m[1] for m in members),
            "low": min(m[1] for m in members),
            "close": ordered[-1][1],
            "day_volume": max(volumes) if volumes else None,
            "oi": with_oi[-1][1] if with_oi else None,
        }
    previous: dict[tuple[int, int], int] = {}
    for key in sorted(bars):
        iid, minute = key
        day = (minute + IST_OFFSET_MS) // MS_PER_DAY
        bar = bars[key]
        if bar["day_volume"] is None:
            bar["volume"] = 0
            continue
        bar["volume"] = max(bar["day_volume"] - previous.get((iid, day), 0), 0)
        previous[(iid, day)] = bar["day_volume"]
    for bar in bars.values():
        del bar["day_volume"]
    return bars


def stored_bars(instrument_ids: Sequence[int]) -> dict[BarKey, dict[str, Any]]:
    """Bars of these instruments as stored, in the shape of `reference_bars` (prices as floats)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT instrument_id, (extract(epoch FROM time) * 1000)::bigint, open::float8, high::float8, "
            "low::float8, close::float8, volume, oi FROM marketdata_bar WHERE instrument_id = ANY(%s)",
            [list(instrument_ids)],
        )
        return {
            (row[0], row[1]): {"open": row[2], "high": row[3], "low": row[4], "close": row[5], "volume": row[6],
                               "oi": row[7]}
            for row in cursor.fetchall()
        }


def entries_of(ticks: Sequence[Tick], *, per_entry: int) -> list[bytes]:
    return [orjson.dumps(list(ticks[i : i + per_entry])) for i in range(0, len(ticks), per_entry)]


def xadd_ticks(client: redis.Redis, key: str, ticks: Sequence[Tick], *, per_entry: int = 100) -> list[bytes]:
    """Append `ticks` to the stream, `per_entry` per entry; returns the entry ids."""
    pipe = client.pipeline(transaction=False)
    for payload in entries_of(ticks, per_entry=per_entry):
        pipe.xadd(key, {"d": payload})
    return list(pipe.execute())


def ms(moment: datetime) -> int:
    return int(moment.astimezone(UTC).timestamp() * 1000)


class FakeClock:
    """A wall clock tests move by hand (`advance`, `set`), standing in for time.time."""

    def __init__(self, start: float | None = None) -> None:
        self.now = time.time() if start is None else start

    def __call__(self) -> float:
        return self.now

    def set(self, seconds: float) -> None:
        self.now = seconds

    def advance(self, seconds: float) -> None:
        self.now += seconds
