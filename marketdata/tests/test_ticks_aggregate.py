"""Tick decoding, validation, session filtering and in-batch aggregation (no Redis)."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import numpy as np
import orjson
import pytest

from marketdata.ticks.aggregate import aggregate
from marketdata.ticks.decode import NO_VALUE, Reject, decode_entries
from marketdata.ticks.sessions import in_session
from marketdata.ticks.testing import ms, reference_bars
from marketdata.ticks.tokens import TickInstrument

NOW = datetime(2025, 12, 1, 5, 0, tzinfo=UTC)  # 10:30 IST, a Monday
NOW_MS = ms(NOW)
TOKENS = {256265: 1, 260105: 2, 738561: 3}
MAX_FUTURE_MS = 10_000


def _entry(payload: object, entry_id: bytes = b"1-0") -> tuple[bytes, dict[bytes, bytes]]:
    raw = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    return entry_id, {b"d": raw}


def _decode(*entries: tuple[bytes, dict[bytes, bytes] | None]):  # type: ignore[no-untyped-def]
    return decode_entries(entries, token_ids=TOKENS, now_ms=NOW_MS, max_future_ms=MAX_FUTURE_MS)


def test_decode_accepts_the_contract_example() -> None:
    tick = {"token": 256265, "ts": NOW_MS, "ltp": 26012.35, "volume": 1234567, "oi": 9876500,
            "bid": 26012.3, "bid_qty": 75, "ask": 26012.4, "ask_qty": 150,
            "depth": {"buy": [[26012.3, 75, 3]], "sell": [[26012.4, 150, 2]]}}
    decoded = _decode(_entry([tick]))
    assert len(decoded) == 1
    assert decoded.rejected == {}
    assert decoded.instrument_id.tolist() == [1]
    assert decoded.ts.tolist() == [NOW_MS]
    assert decoded.ltp.tolist() == [26012.35]
    assert decoded.volume.tolist() == [1234567]
    assert decoded.oi.tolist() == [9876500]
    assert decoded.latest == {1: (NOW_MS, tick)}


def test_optional_fields_may_be_absent_or_null() -> None:
    decoded = _decode(_entry([{"token": 256265, "ts": NOW_MS, "ltp": 100},
                              {"token": 260105, "ts": NOW_MS, "ltp": 5.5, "volume": None, "oi": None}]))
    assert decoded.volume.tolist() == [NO_VALUE, NO_VALUE]
    assert decoded.oi.tolist() == [NO_VALUE, NO_VALUE]
    assert decoded.ltp.tolist() == [100.0, 5.5]


@pytest.mark.parametrize(
    ("tick", "reason"),
    [
        ({"ts": NOW_MS, "ltp": 1.0}, Reject.MISSING_FIELD),
        ({"token": 256265, "ltp": 1.0}, Reject.MISSING_FIELD),
        ({"token": 256265, "ts": NOW_MS}, Reject.MISSING_FIELD),
        ({"token": 256265, "ts": NOW_MS, "ltp": None}, Reject.MISSING_FIELD),
        ({"token": "256265", "ts": NOW_MS, "ltp": 1.0}, Reject.BAD_VALUE),
        ({"token": True, "ts": NOW_MS, "ltp": 1.0}, Reject.BAD_VALUE),
        ({"token": -5, "ts": NOW_MS, "ltp": 1.0}, Reject.BAD_VALUE),
        ({"token": 256265, "ts": "2025-12-01", "ltp": 1.0}, Reject.BAD_VALUE),
        ({"token": 256265, "ts": NOW_MS, "ltp": "1.0"}, Reject.BAD_VALUE),
        ({"token": 256265, "ts": NOW_MS, "ltp": -1.0}, Reject.BAD_PRICE),
        ({"token": 256265, "ts": NOW_MS, "ltp": 0}, Reject.BAD_PRICE),
        ({"token": 256265, "ts": NOW_MS, "ltp": 1e15}, Reject.BAD_PRICE),
        ({"token": 256265, "ts": NOW_MS + MAX_FUTURE_MS + 1, "ltp": 1.0}, Reject.FUTURE_TS),
        ({"token": 256265, "ts": 1764560700, "ltp": 1.0}, Reject.BAD_VALUE),  # seconds, not ms
        ({"token": 256265, "ts": NOW_MS, "ltp": 1.0, "volume": -1}, Reject.BAD_VALUE),
        ({"token": 256265, "ts": NOW_MS, "ltp": 1.0, "volume": 1.5}, Reject.BAD_VALUE),
        ({"token": 256265, "ts": NOW_MS, "ltp": 1.0, "oi": "9"}, Reject.BAD_VALUE),
        ({"token": 999, "ts": NOW_MS, "ltp": 1.0}, Reject.UNKNOWN_TOKEN),
        ([256265, NOW_MS, 1.0], Reject.BAD_TICK),
    ],
)
def test_bad_ticks_are_rejected_by_reason_and_the_rest_kept(tick: object, reason: Reject, caplog) -> None:  # type: ignore[no-untyped-def]
    good = {"token": 260105, "ts": NOW_MS, "ltp": 10.0}
    decoded = _decode(_entry([good, tick, good], entry_id=b"1700000000000-7"))
    assert dict(decoded.rejected) == {reason: 1}
    assert decoded.instrument_id.tolist() == [2, 2]
    if reason is not Reject.UNKNOWN_TOKEN:
        record = next(r for r in caplog.records if r.getMessage() == "tick consumer: malformed ticks rejected")
        assert record.entry_id == "1700000000000-7"
        assert record.rejected == {str(reason): 1}


def test_nan_and_bad_json_reject_the_entry_and_not_the_batch(caplog) -> None:  # type: ignore[no-untyped-def]
    good = _entry([{"token": 256265, "ts": NOW_MS, "ltp": 1.5}], entry_id=b"3-0")
    decoded = _decode(
        _entry(b'[{"token": 256265, "ts": 1, "ltp": NaN}]', entry_id=b"1-0"),
        _entry(b"not json", entry_id=b"2-0"),
        good,
        (b"4-0", {b"x": b"[]"}),
        _entry({"token": 256265}, entry_id=b"5-0"),
        (b"6-0", None),  # an entry deleted from the stream while pending
    )
    assert dict(decoded.rejected) == {Reject.BAD_JSON: 2, Reject.BAD_ENTRY: 3}
    assert decoded.ltp.tolist() == [1.5]
    ids = [r.entry_id for r in caplog.records if r.getMessage() == "tick consumer: stream entry rejected"]
    assert ids == ["1-0", "2-0", "4-0", "5-0", "6-0"]


def test_integral_float_ts_and_counts_are_accepted() -> None:
    decoded = _decode(_entry([{"token": 256265, "ts": float(NOW_MS), "ltp": 7, "volume": 10.0, "oi": 3.0}]))
    assert decoded.ts.tolist() == [NOW_MS]
    assert decoded.volume.tolist() == [10]
    assert decoded.oi.tolist() == [3]


def _random_ticks(rng: random.Random, *, n: int, minutes: int, start_ms: int) -> list[dict[str, object]]:
    """Random ticks over `minutes` minutes for every token, cumulative volume rising with time;
    some without volume or oi, all shuffled, some repeated."""
    ticks = []
    for token in TOKENS:
        times = sorted(rng.randrange(start_ms, start_ms + minutes * 60_000) for _ in range(n))
        volume = rng.randrange(0, 1000)
        for ts in times:
            volume += rng.randrange(0, 50)
            tick: dict[str, object] = {"token": token, "ts": ts, "ltp": round(rng.uniform(90, 110), 2)}
            if rng.random() < 0.9:
                tick["volume"] = volume
            if rng.random() < 0.7:
                tick["oi"] = rng.randrange(1000, 2000)
            ticks.append(tick)
    ticks += rng.sample(ticks, len(ticks) // 5)  # duplicate deliveries
    rng.shuffle(ticks)
    return ticks


@pytest.mark.parametrize("seed", range(5))
def test_aggregate_matches_the_reference_for_shuffled_and_repeated_ticks(seed: int) -> None:
    rng = random.Random(seed)
    ticks = _random_ticks(rng, n=400, minutes=7, start_ms=NOW_MS - 10 * 60_000)
    # Ties in tick time with different prices: the tie-break must be by price, not by arrival.
    ticks.append({**ticks[0], "ltp": float(ticks[0]["ltp"]) + 0.05})  # type: ignore[arg-type]
    bars = aggregate(_decode(_entry(ticks)))
    expected = reference_bars(ticks, instrument_of=TOKENS)
    got = {
        (int(bars.instrument_id[i]), int(bars.minute_ms[i])): {
            "open": bars.open[i], "high": bars.high[i], "low": bars.low[i], "close": bars.close[i],
            "oi": None if bars.oi[i] == NO_VALUE else int(bars.oi[i]),
        }
        for i in range(len(bars))
    }
    assert got == {key: {k: v for k, v in bar.items() if k != "volume"} for key, bar in expected.items()}
    # Sorted by (instrument, minute), first/last tick times bracket each minute.
    keys = list(zip(bars.instrument_id.tolist(), bars.minute_ms.tolist(), strict=True))
    assert keys == sorted(keys)
    assert np.all(bars.first_ms >= bars.minute_ms)
    assert np.all(bars.last_ms < bars.minute_ms + 60_000)


def test_aggregate_day_volume_is_the_largest_cumulative_volume_and_volume_guess_uses_the_batch() -> None:
    minute = NOW_MS - NOW_MS % 60_000 - 5 * 60_000
    ticks = [
        {"token": 256265, "ts": minute + 5_000, "ltp": 10, "volume": 100},
        {"token": 256265, "ts": minute + 1_000, "ltp": 11, "volume": 90},
        {"token": 256265, "ts": minute + 9_000, "ltp": 12},  # no volume: adds nothing
        {"token": 256265, "ts": minute + 60_500, "ltp": 13, "volume": 160},
    ]
    bars = aggregate(_decode(_entry(ticks)))
    assert bars.day_volume.tolist() == [100, 160]
    assert bars.volume.tolist() == [100, 60]
    assert bars.open.tolist() == [11.0, 13.0]
    assert bars.close.tolist() == [12.0, 13.0]
    assert bars.first_ms.tolist() == [minute + 1_000, minute + 60_500]
    assert bars.last_ms.tolist() == [minute + 9_000, minute + 60_500]


def test_open_and_close_ties_are_broken_by_price_whatever_the_order() -> None:
    minute = NOW_MS - NOW_MS % 60_000
    a = {"token": 256265, "ts": minute + 10, "ltp": 10.0}
    b = {"token": 256265, "ts": minute + 10, "ltp": 9.0}
    for ticks in ([a, b], [b, a]):
        bars = aggregate(_decode(_entry(ticks)))
        assert (bars.open.tolist(), bars.close.tolist()) == ([9.0], [10.0])


INSTRUMENTS = {
    1: TickInstrument(id=1, token=256265, symbol="NSE:NIFTY 50", calendar="NSE"),
    2: TickInstrument(id=2, token=260105, symbol="SIM:SIMIDX", calendar="SIM"),
}


@pytest.mark.django_db
def test_session_filter_uses_each_exchange_calendar() -> None:
    ist = lambda h, m, s=0: ms(datetime(2025, 12, 1, h, m, s, tzinfo=UTC)) - 19_800_000  # noqa: E731
    saturday = ms(datetime(2025, 12, 6, 6, 0, tzinfo=UTC))
    ts = np.array([ist(9, 14, 59), ist(9, 15), ist(15, 29, 59), ist(15, 30), saturday, ist(3, 0), ist(23, 0)], dtype=np.int64)
    nse = in_session(np.full(ts.shape[0], 1, dtype=np.int64), ts, instruments=INSTRUMENTS)
    sim = in_session(np.full(ts.shape[0], 2, dtype=np.int64), ts, instruments=INSTRUMENTS)
    assert nse.tolist() == [False, True, True, False, False, False, False]
    assert sim.tolist() == [True] * 7
    mixed = in_session(np.array([1, 2], dtype=np.int64), np.array([saturday, saturday], dtype=np.int64),
                       instruments=INSTRUMENTS)
    assert mixed.tolist() == [False, True]


@pytest.mark.django_db
def test_session_filter_falls_back_to_the_regular_session_without_holiday_data() -> None:
    monday_2040 = ms(datetime(2040, 1, 2, 4, 0, tzinfo=UTC))  # 09:30 IST; no holidays seeded for 2040
    sunday_2040 = ms(datetime(2040, 1, 1, 4, 0, tzinfo=UTC))
    mask = in_session(np.array([1, 1], dtype=np.int64), np.array([monday_2040, sunday_2040], dtype=np.int64),
                      instruments=INSTRUMENTS)
    assert mask.tolist() == [True, False]
