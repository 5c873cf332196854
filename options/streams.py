"""Channel-layer groups of the F&O streams and what the per-minute job publishes to them.

The per-minute job (`options.services.analytics`, in the tick consumer's process) sends each
computed chain to `chain_group(underlying, expiry)` as a `fo.minute` event carrying the whole chain
payload (every strike; subscribers window it), and a `fo.minute` event without payload to
`monitor_group(underlying)`. WebSocket consumers (`options.consumers`) join those groups.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING, Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

if TYPE_CHECKING:
    from options.analytics import ChainSnapshot

logger = logging.getLogger(__name__)

MINUTE_EVENT = "fo.minute"
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def _safe(name: str) -> str:
    # Group names allow [A-Za-z0-9._-]; anything else (M&M, spaces) is spelled out as _XX hex, and
    # dots too, so that the parts cannot run into each other.
    return _UNSAFE.sub(lambda m: f"_{ord(m.group()):02x}", name)


def chain_group(underlying: str, expiry: date) -> str:
    return f"fo.chain.{_safe(underlying.upper())}.{expiry.isoformat()}"


def monitor_group(underlying: str) -> str:
    return f"fo.monitor.{_safe(underlying.upper())}"


def publish_minute(snapshots: Sequence[ChainSnapshot]) -> None:
    """Send each snapshot to its chain group, and tell monitor groups that a minute closed.

    One event-loop hop for all of them (async_to_sync per send costs ~3 ms each). Failures are
    logged, never raised: the minute is stored already, and subscribers still get the next
    forming-minute update.
    """
    from options.selectors.chain import chain_payload

    layer = get_channel_layer()
    if layer is None or not snapshots:
        return
    messages: list[tuple[str, dict[str, Any]]] = []
    minutes: dict[str, str] = {}
    for snap in snapshots:
        chain = snap.chain
        event = {
            "type": MINUTE_EVENT,
            "underlying": chain.underlying,
            "expiry": chain.expiry.isoformat(),
            "minute": snap.minute.isoformat(),
            "chain": chain_payload(snap),
        }
        messages.append((chain_group(chain.underlying, chain.expiry), event))
        minutes[chain.underlying] = snap.minute.isoformat()
    for underlying, minute in minutes.items():
        messages.append(
            (monitor_group(underlying), {"type": MINUTE_EVENT, "underlying": underlying, "minute": minute})
        )

    async def send_all() -> None:
        for group, message in messages:
            try:
                await layer.group_send(group, message)
            except Exception:
                logger.exception("publishing a minute failed", extra={"group": group})

    async_to_sync(send_all)()
