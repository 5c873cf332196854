"""The tick stream and its consumer group: read, reclaim, acknowledge, and measure the lag.

Entries are read with XREADGROUP and stay pending (in the group's PEL) until XACK, which the
consumer sends only after their ticks are in the database. Pending entries of a consumer that died
are taken over with XAUTOCLAIM once idle for `claim_min_idle_ms`; a restarted consumer first re-reads
its own pending entries (XREADGROUP from id 0).
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import redis

logger = logging.getLogger(__name__)

Entry = tuple[bytes, Mapping[bytes, bytes] | None]


def entry_ms(entry_id: bytes | str) -> int:
    """The milliseconds part of a stream id (the time Redis added the entry, for `*` ids)."""
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    return int(text.split("-", 1)[0])


@dataclass(frozen=True)
class StreamLag:
    pending: int  # delivered to a consumer, not yet acknowledged
    undelivered: int | None  # not yet read by the group (None when Redis cannot tell, after trimming)
    oldest_pending_seconds: float
    lag_seconds: float  # age of the oldest entry not yet acknowledged or not yet read

    def as_dict(self) -> dict[str, Any]:
        return {
            "pending": self.pending,
            "undelivered": self.undelivered,
            "oldest_pending_seconds": round(self.oldest_pending_seconds, 3),
            "lag_seconds": round(self.lag_seconds, 3),
        }


class TickStream:
    def __init__(self, client: redis.Redis, *, key: str, group: str, consumer: str) -> None:
        self.client = client
        self.key = key
        self.group = group
        self.consumer = consumer
        self._claim_cursor: bytes | str = "0-0"

    def ensure_group(self) -> None:
        """Create the group (and the stream) if missing. A new group starts at the stream's
        beginning: whatever is retained is ingested (merging is idempotent)."""
        try:
            self.client.xgroup_create(self.key, self.group, id="0", mkstream=True)
            logger.info("tick consumer: consumer group created", extra={"stream": self.key, "group": self.group})
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def _entries(self, response: Any) -> list[Entry]:
        if not response:
            return []
        # RESP2: [[stream, [(id, fields), …]]]; RESP3: {stream: [[(id, fields), …]]}
        if isinstance(response, dict):
            return [entry for batch in response.values() for entry in batch[0]]
        return list(response[0][1])

    def read_new(self, *, count: int, block_ms: int) -> list[Entry]:
        response = self.client.xreadgroup(
            self.group, self.consumer, {self.key: ">"}, count=count, block=max(block_ms, 1)
        )
        return self._entries(response)

    def read_own_pending(self, *, count: int, after: bytes | str = "0-0") -> list[Entry]:
        """This consumer's delivered-but-unacknowledged entries after `after` (no blocking)."""
        return self._entries(self.client.xreadgroup(self.group, self.consumer, {self.key: after}, count=count))

    def claim_idle(self, *, min_idle_ms: int, count: int) -> list[Entry]:
        """Take over up to `count` entries idle for at least `min_idle_ms` (any consumer's, ours too).

        One XAUTOCLAIM step; the cursor carries on from where the last call stopped and wraps around.
        Entries deleted from the stream meanwhile are dropped from the PEL by Redis itself.
        """
        result = self.client.xautoclaim(
            self.key, self.group, self.consumer, min_idle_time=min_idle_ms, start_id=self._claim_cursor, count=count
        )
        self._claim_cursor = result[0] or "0-0"
        return [entry for entry in result[1] if entry is not None]

    def claim_cursor_wrapped(self) -> bool:
        return self._claim_cursor in (b"0-0", "0-0")

    def ack(self, ids: Sequence[bytes]) -> int:
        if not ids:
            return 0
        return int(self.client.xack(self.key, self.group, *ids))

    def remove_idle_consumers(self, *, idle_ms: int) -> list[str]:
        """Forget consumers (dead processes: names are host-pid) idle that long with nothing pending."""
        removed = []
        for info in self.client.xinfo_consumers(self.key, self.group):
            name = info["name"].decode() if isinstance(info["name"], bytes) else info["name"]
            if name != self.consumer and info["pending"] == 0 and info["idle"] >= idle_ms:
                self.client.xgroup_delconsumer(self.key, self.group, name)
                removed.append(name)
        return removed


def stream_lag(client: redis.Redis, *, key: str, group: str) -> StreamLag | None:
    """The group's lag, or None when the stream or the group does not exist (yet)."""
    try:
        groups = client.xinfo_groups(key)
    except redis.ResponseError as exc:
        if "no such key" in str(exc).lower():
            return None
        raise
    info = next((g for g in groups if (g["name"].decode() if isinstance(g["name"], bytes) else g["name"]) == group), None)
    if info is None:
        return None
    seconds, micros = client.time()
    now_ms = seconds * 1000 + micros // 1000
    pending = int(info["pending"])
    oldest_pending = 0.0
    if pending:
        summary = client.xpending(key, group)
        if summary.get("min"):
            oldest_pending = max(now_ms - entry_ms(summary["min"]), 0) / 1000
    last_delivered = info["last-delivered-id"]
    last_text = last_delivered.decode() if isinstance(last_delivered, bytes) else str(last_delivered)
    oldest_undelivered = 0.0
    following = client.xrange(key, min=f"({last_text}", max="+", count=1)
    if following and following[0][0] is not None:
        oldest_undelivered = max(now_ms - entry_ms(following[0][0]), 0) / 1000
    undelivered = info.get("lag")
    return StreamLag(
        pending=pending,
        undelivered=None if undelivered is None else int(undelivered),
        oldest_pending_seconds=oldest_pending,
        lag_seconds=max(oldest_pending, oldest_undelivered),
    )


def consumer_name() -> str:
    """hostname-pid: unique per process, and recognisable in XINFO CONSUMERS."""
    return f"{socket.gethostname()}-{os.getpid()}"
