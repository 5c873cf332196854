"""UDF quotes: last price from the live hash, session figures from the daily rollup."""

from __future__ import annotations

import logging
from typing import Any

from django.db import connection

from marketdata.last_prices import read_last_prices
from marketdata.selectors.history import DAILY_ROLLUP, RAW_TABLE
from marketdata.selectors.instruments import TYPE_TO_UDF, InstrumentRef

logger = logging.getLogger(__name__)

# The two latest daily bars per instrument (today and the previous close) and the latest minute.
_DAILY_SQL = f"""
SELECT i.id, d.bucket, d.open::float8, d.high::float8, d.low::float8, d.close::float8, d.volume
FROM unnest(%s::bigint[]) AS i(id)
CROSS JOIN LATERAL (
    SELECT bucket, open, high, low, close, volume FROM {DAILY_ROLLUP.relation}
    WHERE instrument_id = i.id ORDER BY bucket DESC LIMIT 2
) AS d
"""
_LAST_MINUTE_SQL = f"""
SELECT i.id, m.close::float8, extract(epoch FROM m.time)::bigint
FROM unnest(%s::bigint[]) AS i(id)
CROSS JOIN LATERAL (
    SELECT close, time FROM {RAW_TABLE} WHERE instrument_id = i.id ORDER BY time DESC LIMIT 1
) AS m
"""


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


def quote_values(refs: list[InstrumentRef]) -> dict[int, dict[str, Any]]:
    """instrument id → the UDF `v` object for each instrument (fields null when unknown)."""
    ids = [ref.id for ref in refs]
    daily: dict[int, list[tuple[Any, ...]]] = {i: [] for i in ids}
    last_minute: dict[int, tuple[float, int]] = {}
    with connection.cursor() as cursor:
        cursor.execute(_DAILY_SQL, [ids])
        for row in cursor.fetchall():
            daily[row[0]].append(row[1:])
        cursor.execute(_LAST_MINUTE_SQL, [ids])
        for instrument_id, close, ts in cursor.fetchall():
            last_minute[instrument_id] = (close, ts)
    try:
        live = read_last_prices(ref.token for ref in refs)
    except Exception:
        logger.warning("quotes: last-price hash unavailable; using stored bars", exc_info=True)
        live = {}

    values: dict[int, dict[str, Any]] = {}
    for ref in refs:
        days = daily[ref.id]
        today = days[0] if days else None
        previous_close = days[1][4] if len(days) > 1 else None
        tick = live.get(ref.token, {})
        lp = tick.get("ltp")
        if lp is None and ref.id in last_minute:
            lp = last_minute[ref.id][0]
        bid, ask = tick.get("bid"), tick.get("ask")
        change = None if lp is None or previous_close is None else lp - previous_close
        values[ref.id] = {
            "ch": _round(change),
            "chp": _round(change / previous_close * 100, 2) if change is not None and previous_close else None,
            "short_name": ref.tradingsymbol,
            "exchange": ref.exchange,
            "description": ref.name or ref.tradingsymbol,
            "original_name": ref.symbol,
            "type": TYPE_TO_UDF.get(ref.instrument_type, ""),
            "lp": _round(lp),
            "ask": _round(ask),
            "bid": _round(bid),
            "spread": _round(ask - bid) if ask is not None and bid is not None else None,
            "open_price": _round(today[1]) if today else None,
            "high_price": _round(max(today[2], lp)) if today and lp is not None else (today and _round(today[2])),
            "low_price": _round(min(today[3], lp)) if today and lp is not None else (today and _round(today[3])),
            "prev_close_price": _round(previous_close),
            "volume": today[5] if today else None,
        }
    return values
