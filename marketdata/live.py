"""Live bar updates on the channel layer: the contract between the tick consumer and WebSockets.

The tick consumer publishes every forming and closed 1-minute bar of an instrument to the group
`bar_group(instrument_id)`; WebSocket consumers join the groups of the symbols their clients
subscribe to. One message shape (a channel-layer event, so `type` names the handler):

    {"type": "md.bar", "instrument_id": 12, "token": 256265, "symbol": "NSE:NIFTY 50",
     "t": 1764560700, "o": 1.0, "h": 1.0, "l": 1.0, "c": 1.0, "v": 10, "oi": null,
     "closed": false, "ltp": 1.0, "ts": 1764560712345}

`t` is the minute's open (UTC seconds, like UDF history), `ts` the last tick's time (ms).
"""

from __future__ import annotations

from typing import Any, TypedDict

BAR_EVENT = "md.bar"


class BarEvent(TypedDict):
    type: str
    instrument_id: int
    token: int
    symbol: str
    t: int
    o: float
    h: float
    l: float  # noqa: E741 - the UDF field name
    c: float
    v: int
    oi: int | None
    closed: bool
    ltp: float
    ts: int


def bar_group(instrument_id: int) -> str:
    """Channel-layer group of one instrument's live bars (group names allow [a-z0-9._-])."""
    return f"md.bar.{instrument_id}"


def bar_event(**fields: Any) -> BarEvent:
    return BarEvent(type=BAR_EVENT, **fields)  # type: ignore[typeddict-item]
