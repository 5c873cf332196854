"""The live-bar publisher against the real Redis channel layer: only joined groups are sent to, a
newly joined group gets the instrument's latest closed and forming bars, closed bars go first."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from channels.layers import get_channel_layer

from marketdata.live import bar_event, bar_group
from marketdata.ticks import publish
from marketdata.ticks.publish import BarPublisher

INSTRUMENT = 970_400_001
OTHER = 970_400_002
T = 1_764_563_400  # a minute open, UTC seconds


def _event(instrument_id: int, t: int, close: float, *, closed: bool) -> Any:
    return bar_event(instrument_id=instrument_id, token=instrument_id, symbol=f"SIM:P{instrument_id}", t=t, o=1.0,
                     h=close, l=1.0, c=close, v=1, oi=None, closed=closed, ltp=close, ts=t * 1000 + 1)


async def _receive_all(channel: str, *, wait: float) -> list[dict[str, Any]]:
    layer = get_channel_layer()
    received = []
    deadline = time.monotonic() + wait
    while (left := deadline - time.monotonic()) > 0:
        try:
            received.append(await asyncio.wait_for(layer.receive(channel), left))
        except TimeoutError:
            break
    return received


@pytest.fixture
def fast_lookup(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(publish, "SUBSCRIBERS_REFRESH_SECONDS", 0.2)


async def test_joined_groups_get_the_latest_bars_and_then_every_update(fast_lookup: None) -> None:
    layer = get_channel_layer()
    channel = await layer.new_channel()
    publisher = BarPublisher(interval_ms=0)
    publisher.start()
    try:
        # Nobody has joined yet: these are not sent, but remembered.
        publisher.offer([_event(INSTRUMENT, T, 5.0, closed=True), _event(INSTRUMENT, T + 60, 6.0, closed=False),
                         _event(OTHER, T, 7.0, closed=True)])
        await asyncio.sleep(0.3)
        sent_before_join = publisher.sent
        await layer.group_add(bar_group(INSTRUMENT), channel)
        # The next lookup finds the group joined and replays its latest closed and forming bars.
        assert await _receive_all(channel, wait=1.0) == [
            _event(INSTRUMENT, T, 5.0, closed=True), _event(INSTRUMENT, T + 60, 6.0, closed=False)
        ]
        assert sent_before_join == 0
        # A closed bar supersedes a pending forming one of the same minute.
        publisher.offer([_event(INSTRUMENT, T + 60, 6.5, closed=False), _event(INSTRUMENT, T + 60, 6.75, closed=True)])
        assert await _receive_all(channel, wait=0.5) == [_event(INSTRUMENT, T + 60, 6.75, closed=True)]
    finally:
        await asyncio.to_thread(publisher.stop)
        await layer.group_discard(bar_group(INSTRUMENT), channel)
    assert publisher.sent == 3  # OTHER's group has no members: never sent
