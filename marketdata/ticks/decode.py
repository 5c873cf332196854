"""Stream entries → validated, columnar ticks.

An entry carries one field `d`: a JSON array of ticks (docs/architecture.md, "Tick stream"). Bad
input never stops a batch: a malformed entry or tick is rejected, counted by reason and logged
with its stream entry id, and everything else in the batch goes on. This loop runs for every tick
(100k+/s), so it checks types with `type(x) is …` and appends to plain lists; numpy takes over
right after.
"""

from __future__ import annotations

import enum
import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

logger = logging.getLogger(__name__)

TICK_FIELD = b"d"
# Earliest believable tick time (2000-01-01 UTC): smaller values are seconds or garbage, not ms.
MIN_TS_MS = 946_684_800_000
# Prices are numeric(18,4) in the database: anything at or above 10^14 cannot be stored.
MAX_PRICE = 1e14
MAX_BIGINT = 2**63 - 1
NO_VALUE = -1  # volume / oi absent
# Unknown tokens are logged once each; the set is bounded so a flood of garbage cannot grow it.
MAX_LOGGED_UNKNOWN_TOKENS = 10_000
EXAMPLE_CHARS = 200

_NUMBER = (int, float)


class Reject(enum.StrEnum):
    BAD_JSON = "bad_json"  # `d` is not valid JSON (NaN and Infinity are not JSON either)
    BAD_ENTRY = "bad_entry"  # no `d` field, or `d` is not a JSON array
    BAD_TICK = "bad_tick"  # an array item that is not a JSON object
    MISSING_FIELD = "missing_field"  # token, ts or ltp absent or null
    BAD_VALUE = "bad_value"  # token / ts / volume / oi not a number of the right kind or range
    BAD_PRICE = "bad_price"  # ltp not a positive finite number that fits numeric(18,4)
    FUTURE_TS = "future_ts"  # ts further ahead of the consumer's clock than TICK_MAX_FUTURE_SECONDS
    UNKNOWN_TOKEN = "unknown_token"  # noqa: S105 - a reason, not a secret; no instrument with this token (after the latest reload)


@dataclass
class DecodedTicks:
    """Accepted ticks as columns, in stream order, and each instrument's latest tick as sent (for the
    last-price hash). Only those latest objects are kept: holding every decoded tick of a batch alive
    makes Python's cyclic GC rescan them over and over, which costs more than decoding them."""

    instrument_id: npt.NDArray[np.int64]
    ts: npt.NDArray[np.int64]
    ltp: npt.NDArray[np.float64]
    volume: npt.NDArray[np.int64]  # cumulative day volume, NO_VALUE when absent
    oi: npt.NDArray[np.int64]  # NO_VALUE when absent
    latest: dict[int, tuple[int, dict[str, Any]]]  # instrument id → (ts, tick object)
    rejected: Counter[str] = field(default_factory=Counter)

    def __len__(self) -> int:
        return int(self.ts.shape[0])

    def take(self, mask: npt.NDArray[np.bool_]) -> DecodedTicks:
        """The ticks where `mask` is true (rejection counts are kept)."""
        index = np.flatnonzero(mask)
        return DecodedTicks(
            instrument_id=self.instrument_id[index],
            ts=self.ts[index],
            ltp=self.ltp[index],
            volume=self.volume[index],
            oi=self.oi[index],
            latest=self.latest,
            rejected=self.rejected,
        )


_logged_unknown: set[int] = set()


def _count(value: Any) -> int | None:
    """A non-negative integer count (volume, oi) or None when invalid; floats must be whole."""
    kind = type(value)
    if kind is int:
        return value if 0 <= value <= MAX_BIGINT else None
    if kind is float and value.is_integer() and 0 <= value <= MAX_BIGINT:
        return int(value)
    return None


def decode_entries(
    entries: Sequence[tuple[bytes, Mapping[bytes, bytes] | None]],
    *,
    token_ids: Mapping[int, int],
    now_ms: int,
    max_future_ms: int,
) -> DecodedTicks:
    """Decode and validate every tick of `entries` ((entry id, fields) as redis-py returns them)."""
    ids: list[int] = []
    tss: list[int] = []
    ltps: list[float] = []
    volumes: list[int] = []
    ois: list[int] = []
    latest: dict[int, tuple[int, dict[str, Any]]] = {}
    rejected: Counter[str] = Counter()
    max_ts = now_ms + max_future_ms
    loads = orjson.loads
    append_id, append_ts, append_ltp = ids.append, tss.append, ltps.append
    append_volume, append_oi = volumes.append, ois.append

    for entry_id, fields in entries:
        payload = fields.get(TICK_FIELD) if fields else None
        if payload is None:
            _reject_entry(rejected, entry_id, Reject.BAD_ENTRY, "no 'd' field")
            continue
        try:
            ticks = loads(payload)
        except orjson.JSONDecodeError as exc:
            _reject_entry(rejected, entry_id, Reject.BAD_JSON, str(exc))
            continue
        if type(ticks) is not list:
            _reject_entry(rejected, entry_id, Reject.BAD_ENTRY, "'d' is not a JSON array")
            continue
        entry_rejects: Counter[str] | None = None
        example: Any = None
        for tick in ticks:
            # Fast path: a well-formed tick of a known instrument, checked in one expression.
            if type(tick) is dict:
                token = tick.get("token")
                ts = tick.get("ts")
                ltp = tick.get("ltp")
                volume = tick.get("volume")
                oi = tick.get("oi")
                if (
                    type(ts) is int and MIN_TS_MS <= ts <= max_ts
                    and type(ltp) is float and 0.0 < ltp < MAX_PRICE
                    and (volume is None or (type(volume) is int and 0 <= volume <= MAX_BIGINT))
                    and (oi is None or (type(oi) is int and 0 <= oi <= MAX_BIGINT))
                    and type(token) is int
                ):
                    instrument_id = token_ids.get(token)
                    if instrument_id is not None:
                        append_id(instrument_id)
                        append_ts(ts)
                        append_ltp(ltp)
                        append_volume(NO_VALUE if volume is None else volume)
                        append_oi(NO_VALUE if oi is None else oi)
                        previous = latest.get(instrument_id)
                        if previous is None or ts >= previous[0]:
                            latest[instrument_id] = (ts, tick)
                        continue
            checked = _check(tick, token_ids, max_ts)
            if not isinstance(checked, Reject):
                instrument_id, ts, ltp, volume, oi = checked
                append_id(instrument_id)
                append_ts(ts)
                append_ltp(ltp)
                append_volume(volume)
                append_oi(oi)
                previous = latest.get(instrument_id)
                if previous is None or ts >= previous[0]:
                    latest[instrument_id] = (ts, tick)
                continue
            reason: Reject = checked
            if reason is Reject.UNKNOWN_TOKEN:
                _log_unknown(tick["token"], entry_id)
            elif example is None:
                example = tick
            if entry_rejects is None:
                entry_rejects = Counter()
            entry_rejects[reason] += 1
        if entry_rejects:
            rejected.update(entry_rejects)
            if example is not None:
                logger.warning(
                    "tick consumer: malformed ticks rejected",
                    extra={
                        "entry_id": entry_id.decode(),
                        "rejected": {str(k): v for k, v in entry_rejects.items()},
                        "example": orjson.dumps(example).decode()[:EXAMPLE_CHARS],
                    },
                )

    return DecodedTicks(
        instrument_id=np.array(ids, dtype=np.int64),
        ts=np.array(tss, dtype=np.int64),
        ltp=np.array(ltps, dtype=np.float64),
        volume=np.array(volumes, dtype=np.int64),
        oi=np.array(ois, dtype=np.int64),
        latest=latest,
        rejected=rejected,
    )


def _check(tick: Any, token_ids: Mapping[int, int], max_ts: int) -> tuple[int, int, float, int, int] | Reject:
    """The slow path: a tick that is not plainly valid, validated field by field.

    Returns (instrument_id, ts, ltp, volume, oi) — ints where floats were whole, NO_VALUE for an
    absent volume / oi — or the reason to reject it.
    """
    if type(tick) is not dict:
        return Reject.BAD_TICK
    token, ts, ltp = tick.get("token"), tick.get("ts"), tick.get("ltp")
    if token is None or ts is None or ltp is None:
        return Reject.MISSING_FIELD
    if type(token) is not int or token <= 0 or type(ts) not in _NUMBER or type(ltp) not in _NUMBER:
        return Reject.BAD_VALUE
    if not 0 < ltp < MAX_PRICE:  # also false for NaN
        return Reject.BAD_PRICE
    if not MIN_TS_MS <= ts <= max_ts:  # also false for NaN
        return Reject.FUTURE_TS if ts > max_ts else Reject.BAD_VALUE
    volume, oi = tick.get("volume"), tick.get("oi")
    volume_value = NO_VALUE if volume is None else _count(volume)
    oi_value = NO_VALUE if oi is None else _count(oi)
    if volume_value is None or oi_value is None:
        return Reject.BAD_VALUE
    instrument_id = token_ids.get(token)
    if instrument_id is None:
        return Reject.UNKNOWN_TOKEN
    return instrument_id, int(ts), float(ltp), volume_value, oi_value


def _reject_entry(rejected: Counter[str], entry_id: bytes, reason: Reject, detail: str) -> None:
    rejected[reason] += 1
    logger.warning(
        "tick consumer: stream entry rejected",
        extra={"entry_id": entry_id.decode(), "reason": str(reason), "detail": detail[:EXAMPLE_CHARS]},
    )


def _log_unknown(token: int, entry_id: bytes) -> None:
    if token in _logged_unknown or len(_logged_unknown) >= MAX_LOGGED_UNKNOWN_TOKENS:
        return
    _logged_unknown.add(token)
    logger.warning(
        "tick consumer: ticks for an unknown instrument token rejected (logged once per token)",
        extra={"token": token, "entry_id": entry_id.decode()},
    )
