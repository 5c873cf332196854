"""`/ws/ticks` end to end: the real ASGI application, the real Redis channel layer, events shaped like
the tick consumer's (marketdata/live.py), bars in the database like history has them.

Monday 23 November 2026 is a regular NSE session (09:15-15:30 IST).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from marketdata.bar_folding import clear_close_cache
from marketdata.calendar import reset_calendar_cache
from marketdata.consumers import TicksConsumer
from marketdata.live import bar_event, bar_group
from marketdata.models import Instrument
from marketdata.services.calendar import seed_exchange_holidays
from marketdata.tests.factories import ist, make_instrument, write_bars
from tradeviz.asgi import application
from tradeviz.tests.ws_support import channel_layer, communicator, jwt_for, receive_all, receive_type

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.redis]
__all__ = ["channel_layer"]

SYMBOL = "NSE:TESTCO"
MONDAY = (2026, 11, 23)
TUESDAY = (2026, 11, 24)


write = sync_to_async(write_bars)


def at(day: tuple[int, int, int], hour: int, minute: int) -> datetime:
    return ist(*day, hour, minute)


def ts(moment: datetime) -> int:
    return int(moment.timestamp())


def day_stamp(day: tuple[int, int, int]) -> int:
    return ts(datetime(*day, tzinfo=UTC))


@pytest.fixture(autouse=True)
def nse_calendar() -> Iterator[None]:
    """Transactional tests empty every table after each test, the migrations' holidays included."""
    seed_exchange_holidays(exchange="NSE", years=[2026], source="merged")
    reset_calendar_cache()
    clear_close_cache()
    yield
    reset_calendar_cache()
    clear_close_cache()


@pytest.fixture
def instrument() -> Instrument:
    return make_instrument(token=1001, tradingsymbol="TESTCO")


@pytest.fixture
def clock(monkeypatch: Any) -> Callable[[datetime], None]:
    """Sets the moment the consumer reads its snapshot at (a past session replayed)."""

    def set_now(moment: datetime) -> None:
        monkeypatch.setattr(TicksConsumer, "now", lambda self: moment)

    return set_now


@pytest.fixture
async def ws(channel_layer: Any, user: Any) -> AsyncIterator[Any]:
    client = communicator(application, "/ws/ticks", token=jwt_for(user))
    assert (await client.connect())[0]
    yield client
    await client.disconnect()


class Publisher:
    """Plays the tick consumer: 1-minute bar events to the instrument's group."""

    def __init__(self, layer: Any, instrument: Instrument) -> None:
        self.layer = layer
        self.instrument = instrument

    async def __call__(
        self, minute: datetime, o: float, h: float, low: float, c: float, v: int, *, closed: bool = False
    ) -> dict[str, Any]:
        event = bar_event(
            instrument_id=self.instrument.pk,
            token=self.instrument.instrument_token,
            symbol=SYMBOL,
            t=ts(minute),
            o=o,
            h=h,
            l=low,
            c=c,
            v=v,
            oi=None,
            closed=closed,
            ltp=c,
            ts=ts(minute) * 1000 + 59_000,
        )
        await self.layer.group_send(bar_group(self.instrument.pk), dict(event))
        return dict(event)


@pytest.fixture
def publish(channel_layer: Any, instrument: Instrument) -> Publisher:
    return Publisher(channel_layer, instrument)


def bar(moment: datetime | int, o: float, h: float, low: float, c: float, v: int) -> dict[str, Any]:
    time = moment if isinstance(moment, int) else ts(moment)
    return {"time": time, "open": o, "high": h, "low": low, "close": c, "volume": v}


def bar_message(resolution: str, body: dict[str, Any], *, closed: bool = False) -> dict[str, Any]:
    return {"type": "bar", "symbol": SYMBOL, "resolution": resolution, "bar": body, "closed": closed}


async def subscribe(ws: Any, resolution: str, *, symbol: str = "nse:testco") -> dict[str, Any]:
    await ws.send_json_to({"action": "subscribe", "symbol": symbol, "resolution": resolution})
    return await ws.receive_json_from()


# --- 1-minute bars and last prices -------------------------------------------------------------------


async def test_one_minute_snapshot_live_bars_and_last_prices(
    ws: Any, instrument: Instrument, clock: Any, publish: Publisher
) -> None:
    await write(
        instrument,
        [
            (at(MONDAY, 9, 15), 100.0, 101.0, 99.0, 100.5, 10),
            (at(MONDAY, 9, 16), 100.5, 102.0, 100.0, 101.0, 20),
        ],
    )
    clock(at(MONDAY, 9, 16) + timedelta(seconds=30))
    await ws.send_json_to({"action": "subscribe", "symbol": "nse:testco", "resolution": "1", "id": "s1"})
    assert await ws.receive_json_from() == {
        "type": "subscribed",
        "symbol": SYMBOL,
        "resolution": "1",
        "id": "s1",
    }
    assert await ws.receive_json_from() == bar_message(
        "1", bar(at(MONDAY, 9, 16), 100.5, 102.0, 100.0, 101.0, 20)
    )

    event = await publish(at(MONDAY, 9, 16), 100.5, 102.5, 100.0, 102.25, 26)
    assert await ws.receive_json_from() == bar_message(
        "1", bar(at(MONDAY, 9, 16), 100.5, 102.5, 100.0, 102.25, 26)
    )
    assert await ws.receive_json_from() == {"type": "ltp", "symbol": SYMBOL, "ltp": 102.25, "ts": event["ts"]}

    # The next minute starts forming before the previous one is closed (the tick consumer's grace
    # period): the closed bar still arrives, as an update of the bar before the newest.
    await publish(at(MONDAY, 9, 17), 102.25, 102.3, 102.0, 102.1, 3)
    assert await receive_type(ws, "bar") == bar_message(
        "1", bar(at(MONDAY, 9, 17), 102.25, 102.3, 102.0, 102.1, 3)
    )
    await publish(at(MONDAY, 9, 16), 100.5, 102.5, 100.0, 102.2, 27, closed=True)
    assert await receive_type(ws, "bar") == bar_message(
        "1", bar(at(MONDAY, 9, 16), 100.5, 102.5, 100.0, 102.2, 27), closed=True
    )


async def test_subscribe_without_history_waits_for_the_first_live_bar(
    ws: Any, instrument: Instrument, publish: Publisher
) -> None:
    assert await subscribe(ws, "1") == {"type": "subscribed", "symbol": SYMBOL, "resolution": "1"}
    assert await ws.receive_nothing(timeout=0.3)
    await publish(at(MONDAY, 10, 0), 50.0, 51.0, 49.5, 50.5, 7)
    assert await ws.receive_json_from() == bar_message("1", bar(at(MONDAY, 10, 0), 50.0, 51.0, 49.5, 50.5, 7))


async def test_events_of_other_instruments_are_not_delivered(
    ws: Any, instrument: Instrument, channel_layer: Any
) -> None:
    other = await sync_to_async(make_instrument)(token=1002, tradingsymbol="OTHERCO")
    await subscribe(ws, "1")
    await Publisher(channel_layer, other)(at(MONDAY, 10, 0), 1.0, 1.0, 1.0, 1.0, 1)
    assert await ws.receive_nothing(timeout=0.3)


# --- folding into longer resolutions -----------------------------------------------------------------


async def test_five_minute_bar_folds_minutes_exactly(
    ws: Any, instrument: Instrument, clock: Any, publish: Publisher
) -> None:
    await write(
        instrument,
        [
            (at(MONDAY, 9, 15), 100.0, 101.0, 99.0, 100.5, 10),
            (at(MONDAY, 9, 16), 100.5, 102.0, 100.0, 101.0, 20),
        ],
    )
    clock(at(MONDAY, 9, 17) + timedelta(seconds=10))
    assert await subscribe(ws, "5") == {"type": "subscribed", "symbol": SYMBOL, "resolution": "5"}
    open_0915 = at(MONDAY, 9, 15)
    # History's forming 5-minute bar.
    assert await ws.receive_json_from() == bar_message("5", bar(open_0915, 100.0, 102.0, 99.0, 101.0, 30))

    async def next_bar() -> dict[str, Any]:
        return await receive_type(ws, "bar")

    # 09:16 re-published when it closes, with more ticks: it replaces the stored minute.
    await publish(at(MONDAY, 9, 16), 100.5, 102.5, 100.0, 101.0, 25, closed=True)
    assert await next_bar() == bar_message("5", bar(open_0915, 100.0, 102.5, 99.0, 101.0, 35))
    # 09:17 forms, twice.
    await publish(at(MONDAY, 9, 17), 101.0, 101.5, 100.8, 101.2, 5)
    assert await next_bar() == bar_message("5", bar(open_0915, 100.0, 102.5, 99.0, 101.2, 40))
    await publish(at(MONDAY, 9, 17), 101.0, 101.6, 98.5, 101.4, 8)
    assert await next_bar() == bar_message("5", bar(open_0915, 100.0, 102.5, 98.5, 101.4, 43))
    # No trade in 09:18; 09:19, the bucket's last minute, closes: so does the 5-minute bar.
    await publish(at(MONDAY, 9, 19), 101.4, 103.0, 101.0, 102.9, 7)
    assert await next_bar() == bar_message("5", bar(open_0915, 100.0, 103.0, 98.5, 102.9, 50))
    await publish(at(MONDAY, 9, 19), 101.4, 103.0, 101.0, 102.8, 9, closed=True)
    assert await next_bar() == bar_message("5", bar(open_0915, 100.0, 103.0, 98.5, 102.8, 52), closed=True)
    # 09:20 starts a new bucket from scratch.
    await publish(at(MONDAY, 9, 20), 102.8, 102.9, 102.7, 102.75, 4)
    assert await next_bar() == bar_message("5", bar(at(MONDAY, 9, 20), 102.8, 102.9, 102.7, 102.75, 4))
    # A late tick for 09:17 still corrects the 09:15 bar (the one before the newest).
    await publish(at(MONDAY, 9, 17), 101.0, 101.6, 98.5, 101.4, 11, closed=True)
    assert await next_bar() == bar_message("5", bar(open_0915, 100.0, 103.0, 98.5, 102.8, 55), closed=True)


async def test_daily_bar_folds_the_session_and_closes_with_it(
    ws: Any, instrument: Instrument, clock: Any, publish: Publisher
) -> None:
    minutes = [at(MONDAY, 9, 15) + timedelta(minutes=k) for k in range(5)]
    await write(
        instrument, [(m, 200.0 + k, 201.0 + k, 199.0 + k, 200.5 + k, 100 + k) for k, m in enumerate(minutes)]
    )
    clock(at(MONDAY, 9, 20) + timedelta(seconds=5))
    assert await subscribe(ws, "D") == {"type": "subscribed", "symbol": SYMBOL, "resolution": "D"}
    stamp = day_stamp(MONDAY)
    assert await ws.receive_json_from() == bar_message("D", bar(stamp, 200.0, 205.0, 199.0, 204.5, 510))

    await publish(at(MONDAY, 9, 20), 204.5, 206.0, 204.0, 205.5, 40)
    assert await receive_type(ws, "bar") == bar_message("D", bar(stamp, 200.0, 206.0, 199.0, 205.5, 550))
    await publish(at(MONDAY, 15, 29), 190.0, 191.0, 180.0, 185.0, 60, closed=True)
    assert await receive_type(ws, "bar") == bar_message(
        "D", bar(stamp, 200.0, 206.0, 180.0, 185.0, 610), closed=True
    )


async def test_weekly_bar_takes_earlier_days_from_history(
    ws: Any, instrument: Instrument, clock: Any, publish: Publisher
) -> None:
    await write(
        instrument,
        [
            (at(MONDAY, 9, 15), 300.0, 305.0, 298.0, 304.0, 10),
            (at(MONDAY, 15, 29), 304.0, 310.0, 303.0, 309.0, 20),
            (at(TUESDAY, 9, 15), 309.0, 309.5, 295.0, 296.0, 30),
            (at(TUESDAY, 9, 16), 296.0, 297.0, 294.0, 296.5, 40),
        ],
    )
    clock(at(TUESDAY, 9, 16) + timedelta(seconds=30))
    assert await subscribe(ws, "W") == {"type": "subscribed", "symbol": SYMBOL, "resolution": "W"}
    week = day_stamp(MONDAY)
    assert await ws.receive_json_from() == bar_message("W", bar(week, 300.0, 310.0, 294.0, 296.5, 100))
    await publish(at(TUESDAY, 9, 16), 296.0, 297.0, 290.0, 291.0, 45, closed=True)
    assert await receive_type(ws, "bar") == bar_message("W", bar(week, 300.0, 310.0, 290.0, 291.0, 105))
    await publish(at(TUESDAY, 9, 17), 291.0, 311.0, 291.0, 311.0, 5)
    assert await receive_type(ws, "bar") == bar_message("W", bar(week, 300.0, 311.0, 290.0, 311.0, 110))


async def test_hourly_bar_closes_with_the_session(
    ws: Any, instrument: Instrument, clock: Any, publish: Publisher
) -> None:
    await write(instrument, [(at(MONDAY, 15, 15), 10.0, 11.0, 9.0, 10.5, 1)])
    clock(at(MONDAY, 15, 20))
    await subscribe(ws, "60")
    # The 60-minute bucket opening 15:15 IST ends with the session at 15:30, not at 16:15.
    assert await ws.receive_json_from() == bar_message(
        "60", bar(at(MONDAY, 15, 15), 10.0, 11.0, 9.0, 10.5, 1)
    )
    await publish(at(MONDAY, 15, 29), 10.5, 12.0, 10.0, 11.5, 2, closed=True)
    assert await receive_type(ws, "bar") == bar_message(
        "60", bar(at(MONDAY, 15, 15), 10.0, 12.0, 9.0, 11.5, 3), closed=True
    )


async def test_history_snapshot_of_a_finished_bucket_is_closed(
    ws: Any, instrument: Instrument, clock: Any
) -> None:
    await write(instrument, [(at(MONDAY, 15, 29), 10.0, 11.0, 9.0, 10.5, 1)])
    clock(at(TUESDAY, 8, 0))
    await subscribe(ws, "15")
    assert await ws.receive_json_from() == bar_message(
        "15", bar(at(MONDAY, 15, 15), 10.0, 11.0, 9.0, 10.5, 1), closed=True
    )


# --- subscriptions -----------------------------------------------------------------------------------


async def test_unsubscribe_stops_delivery_of_that_resolution_only(
    ws: Any, instrument: Instrument, publish: Publisher, channel_layer: Any
) -> None:
    await subscribe(ws, "1")
    await subscribe(ws, "5")
    await ws.send_json_to({"action": "unsubscribe", "symbol": SYMBOL, "resolution": "1"})
    assert await ws.receive_json_from() == {"type": "unsubscribed", "symbol": SYMBOL, "resolution": "1"}
    await publish(at(MONDAY, 9, 15), 1.0, 2.0, 0.5, 1.5, 3)
    # The 5-minute bar waits for the calendar (its close time), so the last price may come first.
    received = sorted([await ws.receive_json_from(), await ws.receive_json_from()], key=lambda m: m["type"])
    assert received[0] == bar_message("5", bar(at(MONDAY, 9, 15), 1.0, 2.0, 0.5, 1.5, 3))
    assert received[1]["type"] == "ltp"
    assert await ws.receive_nothing(timeout=0.2)

    await ws.send_json_to({"action": "unsubscribe", "symbol": SYMBOL, "resolution": "5"})
    assert await ws.receive_json_from() == {"type": "unsubscribed", "symbol": SYMBOL, "resolution": "5"}
    await publish(at(MONDAY, 9, 16), 1.0, 2.0, 0.5, 1.5, 3)
    assert await ws.receive_nothing(timeout=0.3)
    group_key = channel_layer._group_key(bar_group(instrument.pk))
    assert await channel_layer.connection(0).zcard(group_key) == 0


@pytest.mark.parametrize(
    ("message", "detail"),
    [
        ({"symbol": "NSE:NOPE", "resolution": "1"}, "unknown symbol NSE:NOPE"),
        ({"resolution": "1"}, 'symbol is required, e.g. "NSE:NIFTY 50"'),
        ({"symbol": 5}, 'symbol is required, e.g. "NSE:NIFTY 50"'),
        ({"symbol": SYMBOL, "resolution": "7S"}, "Unsupported resolution '7S'."),
        (
            {"symbol": SYMBOL, "resolution": ["1"]},
            'resolution must be a UDF resolution such as "1", "5", "D", "W", "M"',
        ),
    ],
)
async def test_bad_subscriptions_get_an_error_and_the_connection_stays(
    ws: Any, instrument: Instrument, message: dict[str, Any], detail: str
) -> None:
    await ws.send_json_to({"action": "subscribe", **message})
    assert await ws.receive_json_from() == {"type": "error", "detail": detail}
    assert await subscribe(ws, "1") == {"type": "subscribed", "symbol": SYMBOL, "resolution": "1"}


async def test_resolution_defaults_to_one_minute(ws: Any, instrument: Instrument) -> None:
    await ws.send_json_to({"action": "subscribe", "symbol": SYMBOL})
    assert await ws.receive_json_from() == {"type": "subscribed", "symbol": SYMBOL, "resolution": "1"}


async def test_updates_published_while_the_snapshot_is_read_are_merged_after_it(
    ws: Any, instrument: Instrument, clock: Any, publish: Publisher, monkeypatch: Any
) -> None:
    import marketdata.consumers as consumers

    await write(instrument, [(at(MONDAY, 9, 15), 100.0, 101.0, 99.0, 100.5, 10)])
    clock(at(MONDAY, 9, 16) + timedelta(seconds=5))
    reading, release = asyncio.Event(), asyncio.Event()
    real_seed = consumers._seed

    async def slow_seed(*args: Any) -> Any:
        reading.set()
        await release.wait()
        return await real_seed(*args)

    monkeypatch.setattr(consumers, "_seed", slow_seed)
    await ws.send_json_to({"action": "subscribe", "symbol": SYMBOL, "resolution": "5"})
    assert await ws.receive_json_from() == {"type": "subscribed", "symbol": SYMBOL, "resolution": "5"}
    await reading.wait()
    # Both a newer version of the stored minute and a new minute arrive before the snapshot.
    await publish(at(MONDAY, 9, 15), 100.0, 101.5, 99.0, 101.0, 12, closed=True)
    await publish(at(MONDAY, 9, 16), 101.0, 101.2, 100.9, 101.1, 4)
    await asyncio.sleep(0.2)
    release.set()
    # The snapshot and the held updates are applied together, so the client sees the merged bar
    # (conflation leaves no reason to send the stale snapshot first): 09:15 counted once.
    bars = [m for m in await receive_all(ws) if m["type"] == "bar"]
    assert bars == [bar_message("5", bar(at(MONDAY, 9, 15), 100.0, 101.5, 99.0, 101.1, 16))]
