"""Time series of the stored analytics: expiry metrics, multi-strike series, the ATM straddle.

Columnar JSON (`t` = the minute's or bucket's open in Unix seconds, then one array per field, null
where unknown), built inside PostgreSQL from the raw table (1-minute) or the 5m/15m rollups of
expiry metrics. Without `from`, a series covers the IST day of the latest stored minute.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import numpy as np
import orjson
from django.db import connection
from django.utils import timezone

from options.chains import Chain
from options.jsonvalues import nullable_floats
from options.rollups import METRICS_ROLLUP_BY_MINUTES, METRICS_TABLE
from options.selectors.chain_inputs import day_start
from tradeviz.errors import InvalidInput
from tradeviz.timeseries.buckets import bucket_expressions, parse_resolution
from tradeviz.timeseries.detect import timescale_available
from tradeviz.timeseries.rollups import rollup_relation

STRIKE_TABLE = "options_strikebar"
METRIC_RESOLUTIONS = ("1", "5", "15")
MAX_POINTS = 20_000
MAX_SERIES_STRIKES = 20
MINUTE = timedelta(minutes=1)

METRIC_FIELDS = (
    "spot",
    "futures_price",
    "synthetic_forward",
    "forward",
    "forward_source",
    "atm_strike",
    "atm_iv",
    "straddle",
    "max_pain",
    "support",
    "resistance",
    "pcr_oi",
    "pcr_volume",
    "pcr_oi_change",
    "total_ce_oi",
    "total_pe_oi",
    "total_ce_oi_change",
    "total_pe_oi_change",
    "total_ce_volume",
    "total_pe_volume",
    "ce_volume_minute",
    "pe_volume_minute",
)
# Rollup-only columns and what they are on 1-minute rows.
STRADDLE_CANDLE = {"straddle_open": "straddle", "straddle_high": "straddle", "straddle_low": "straddle"}
STRIKE_FIELDS = {
    "oi": "oi",
    "oi_change": "oi_change",
    "volume": "volume",
    "iv": "iv",
    "ltp": "ltp",
    "price": "price",
    "delta": "delta",
    "gamma": "gamma",
    "theta": "theta",
    "vega": "vega",
}
SIDES = ("ce", "pe")


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime


def _sql_value(column: str) -> str:
    """numeric → float8 for JSON; text and integers as they are."""
    if column in ("forward_source",):
        return column
    if column.startswith(("total_", "ce_volume", "pe_volume")):
        return column
    return f"{column}::float8"


def resolve_window(*, chain: Chain, start: datetime | None, end: datetime | None) -> Window | None:
    """[start, end); without `start`, the IST day of the latest stored minute (None: nothing stored)."""
    if start is not None and end is not None and start >= end:
        raise InvalidInput("from must be before to")
    if start is None:
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT max(time) FROM {METRICS_TABLE} WHERE underlying = %s AND expiry = %s"  # noqa: S608
                + (" AND time < %s" if end is not None else ""),
                [chain.underlying, chain.expiry, *([end] if end is not None else [])],
            )
            (latest,) = cursor.fetchone()
        if latest is None:
            return None
        start = day_start(latest)
        end = end or latest + MINUTE
    return Window(start=start, end=end or timezone.now() + timedelta(days=1))


def _empty(chain: Chain, resolution: str, fields: Sequence[str]) -> dict[str, Any]:
    return {
        "underlying": chain.underlying,
        "expiry": chain.expiry.isoformat(),
        "resolution": resolution,
        "t": [],
        **{f: [] for f in fields},
    }


def metrics_series(
    *,
    chain: Chain,
    resolution: str,
    start: datetime | None,
    end: datetime | None,
    fields: Sequence[str] = METRIC_FIELDS,
) -> dict[str, Any]:
    """Expiry metrics per minute (resolution 1) or per 5/15-minute bucket (the rollups' last values,
    plus straddle open/high/low)."""
    if resolution not in METRIC_RESOLUTIONS:
        raise InvalidInput(f"resolution must be one of {', '.join(METRIC_RESOLUTIONS)}")
    window = resolve_window(chain=chain, start=start, end=end)
    if window is None:
        return _empty(chain, resolution, fields)
    if resolution == "1":
        relation, time_col = METRICS_TABLE, "time"
        selected = [f"{_sql_value(STRADDLE_CANDLE.get(f, f))} AS {f}" for f in fields]
    else:
        relation, time_col = rollup_relation(METRICS_ROLLUP_BY_MINUTES[int(resolution)]), "bucket"
        selected = [f"{_sql_value(f)} AS {f}" for f in fields]
    arrays = ", ".join(f"'{f}', array_agg({f} ORDER BY t)" for f in fields)
    sql = (
        f"SELECT json_build_object('t', array_agg(extract(epoch FROM t)::bigint ORDER BY t), {arrays})::text "  # noqa: S608
        f"FROM (SELECT {time_col} AS t, {', '.join(selected)} FROM {relation} "
        f"WHERE underlying = %s AND expiry = %s AND {time_col} >= %s AND {time_col} < %s "
        f"ORDER BY {time_col} DESC LIMIT {MAX_POINTS}) AS s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [chain.underlying, chain.expiry, window.start, window.end])
        (body,) = cursor.fetchone()
    data = orjson.loads(body) if body else {}
    if not data.get("t"):
        return _empty(chain, resolution, fields)
    return {
        "underlying": chain.underlying,
        "expiry": chain.expiry.isoformat(),
        "resolution": resolution,
        **data,
    }


STRADDLE_FIELDS = (
    "straddle_open",
    "straddle_high",
    "straddle_low",
    "straddle",
    "atm_strike",
    "atm_iv",
    "spot",
    "forward",
    "forward_source",
)


def straddle_series(
    *, chain: Chain, resolution: str, start: datetime | None, end: datetime | None
) -> dict[str, Any]:
    """The rolling ATM straddle: at each minute the call + put premium at that minute's ATM strike."""
    return metrics_series(chain=chain, resolution=resolution, start=start, end=end, fields=STRADDLE_FIELDS)


def parse_strikes(raw: str) -> list[Decimal]:
    values: list[Decimal] = []
    for piece in raw.split(","):
        text = piece.strip()
        if not text:
            continue
        try:
            value = Decimal(text)
        except InvalidOperation:
            raise InvalidInput(f"strikes must be numbers, got {text[:20]!r}") from None
        if not value.is_finite() or value <= 0:
            raise InvalidInput("strikes must be positive numbers")
        values.append(value)
    if not values:
        raise InvalidInput("strikes is required: a comma-separated list such as 24000,24100")
    if len(values) > MAX_SERIES_STRIKES:
        raise InvalidInput(f"at most {MAX_SERIES_STRIKES} strikes")
    return sorted(set(values))


def strike_series(
    *,
    chain: Chain,
    strikes: Sequence[Decimal],
    field: str,
    sides: Sequence[str],
    resolution: str,
    start: datetime | None,
    end: datetime | None,
) -> dict[str, Any]:
    """One series per (strike, side) of a stored strike-bar field, on one shared time axis.

    Resolution N > 1 takes each bucket's last value (levels such as OI and IV, and day volumes).
    """
    if field not in STRIKE_FIELDS:
        raise InvalidInput(f"field must be one of {', '.join(STRIKE_FIELDS)}")
    res = parse_resolution(resolution)
    if not res.is_intraday:
        raise InvalidInput("resolution must be intraday minutes (1, 5, 15, …)")
    listed = {Decimal(str(k)).normalize() for k in chain.strike_values}
    unknown = [str(k) for k in strikes if k.normalize() not in listed]
    if unknown:
        raise InvalidInput(f"strikes not listed for this expiry: {', '.join(unknown)}")
    head: dict[str, Any] = {
        "underlying": chain.underlying,
        "expiry": chain.expiry.isoformat(),
        "resolution": res.udf,
        "field": field,
    }
    window = resolve_window(chain=chain, start=start, end=end)
    if window is None:
        return {**head, "t": [], "series": []}
    columns = [f"{side}_{STRIKE_FIELDS[field]}" for side in sides]
    if res.count == 1:
        select = ", ".join(f"{c}::float8" for c in columns)
        sql = (
            f"SELECT extract(epoch FROM time)::bigint, strike::float8, {select} FROM {STRIKE_TABLE} "  # noqa: S608
            "WHERE underlying = %s AND expiry = %s AND strike = ANY(%s::numeric[]) AND time >= %s AND time < %s "
            f"ORDER BY time LIMIT {MAX_POINTS * MAX_SERIES_STRIKES}"
        )
    else:
        b = bucket_expressions(res, "time", timescale=timescale_available(connection))
        select = ", ".join(f"((array_agg({c} ORDER BY time DESC))[1])::float8" for c in columns)
        sql = (
            f"SELECT extract(epoch FROM {b.stamp})::bigint, strike::float8, {select} FROM {STRIKE_TABLE} "  # noqa: S608
            "WHERE underlying = %s AND expiry = %s AND strike = ANY(%s::numeric[]) AND time >= %s AND time < %s "
            f"GROUP BY {b.group_key}, strike ORDER BY 1 LIMIT {MAX_POINTS * MAX_SERIES_STRIKES}"
        )
    with connection.cursor() as cursor:
        cursor.execute(
            sql, [chain.underlying, chain.expiry, [str(k) for k in strikes], window.start, window.end]
        )
        rows = cursor.fetchall()
    if not rows:
        return {**head, "t": [], "series": []}
    data = np.array([[np.nan if v is None else v for v in row] for row in rows], dtype=np.float64)
    times = np.unique(data[:, 0])
    strike_values = [float(k) for k in strikes]
    series = []
    t_index = np.searchsorted(times, data[:, 0])
    for k in strike_values:
        mask = data[:, 1] == k
        for j, side in enumerate(sides):
            values = np.full(times.shape, np.nan)
            values[t_index[mask]] = data[mask, 2 + j]
            series.append({"strike": k, "side": side, "values": nullable_floats(values)})
    return {**head, "t": times.astype(np.int64).tolist(), "series": series}
