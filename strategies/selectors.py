"""Reads of the strategies app. Every read starts from the requesting user: another user's strategy
does not exist for them (NotFound), whatever its id."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import connection
from django.db.models import Count, Q, QuerySet

from accounts.models import User
from strategies.models import InstrumentMark, LegSide, LegStatus, Strategy, StrategyInstrument, StrategyStatus
from tradeviz.errors import InvalidInput, NotFound
from tradeviz.timeseries.buckets import bucket_expressions, parse_resolution
from tradeviz.timeseries.detect import timescale_available

M2M_MAX_CANDLES = 20_000
SPARKLINE_POINTS = 60
DEFAULT_HISTORY = timedelta(days=1)


def strategies_for(*, user: User, status: str | None = None) -> QuerySet[Strategy]:
    queryset = Strategy.objects.filter(owner=user).annotate(
        leg_count=Count("legs"), open_leg_count=Count("legs", filter=Q(legs__status=LegStatus.OPEN))
    )
    if status:
        wanted = [s.strip().upper() for s in status.split(",") if s.strip()]
        unknown = sorted(set(wanted) - set(StrategyStatus.values))
        if unknown:
            raise InvalidInput(f"unknown status {', '.join(unknown)[:40]}", details={"status": unknown[:5]})
        queryset = queryset.filter(status__in=wanted)
    return queryset.order_by("-created_at", "-id")


def strategy_get(*, user: User, strategy_id: int) -> Strategy:
    strategy = Strategy.objects.filter(owner=user, pk=strategy_id).select_related("trading_account").first()
    if strategy is None:
        raise NotFound("No such strategy.")
    return strategy


def leg_get(*, strategy: Strategy, leg_id: int) -> StrategyInstrument:
    leg = strategy.legs.select_related("instrument").filter(pk=leg_id).first()
    if leg is None:
        raise NotFound("No such instrument in this strategy.")
    return leg


@dataclass(frozen=True)
class MarkedLeg:
    """A leg with the M2M job's last mark of its instrument and its P&L there."""

    leg: StrategyInstrument
    last_price: Decimal | None
    price_stale: bool
    pnl: Decimal

    @property
    def sign(self) -> int:
        return 1 if self.leg.side == LegSide.BUY else -1


def marked_legs(*, strategy: Strategy) -> list[MarkedLeg]:
    legs = list(strategy.legs.select_related("instrument").order_by("id"))
    marks = {m.instrument_id: m for m in InstrumentMark.objects.filter(instrument_id__in=[leg.instrument_id for leg in legs])}
    result = []
    for leg in legs:
        mark = marks.get(leg.instrument_id)
        sign = 1 if leg.side == LegSide.BUY else -1
        if leg.exit_price is not None:
            pnl = (leg.exit_price - leg.entry_price) * leg.quantity * sign
            result.append(MarkedLeg(leg, leg.exit_price, False, pnl))
        elif mark is not None:
            result.append(MarkedLeg(leg, mark.price, mark.stale, (mark.price - leg.entry_price) * leg.quantity * sign))
        else:
            result.append(MarkedLeg(leg, None, True, Decimal(0)))
    return result


_M2M_JSON_SQL = """
SELECT json_build_object(
    's', 'ok',
    't', array_agg(extract(epoch FROM t)::bigint ORDER BY t),
    'o', array_agg(o ORDER BY t), 'h', array_agg(h ORDER BY t), 'l', array_agg(l ORDER BY t),
    'c', array_agg(c ORDER BY t), 'realised', array_agg(r ORDER BY t), 'unrealised', array_agg(u ORDER BY t),
    'stale', array_agg(st ORDER BY t)
)::text, count(*)
FROM (
    SELECT * FROM ({candles}) AS b ORDER BY t DESC LIMIT %(cap)s
) AS picked
"""


def m2m_history(*, strategy: Strategy, start: datetime, end: datetime, resolution: str = "1") -> tuple[bytes, int]:
    """The strategy's M2M candles in [start, end) at `resolution`, as a UDF-like JSON body.

    `{"s": "ok", "t": [...], "o", "h", "l", "c", "realised", "unrealised", "stale"}` (t in Unix
    seconds, the bucket's open; `stale` is the most stale legs in the bucket) and the candle count.
    Coarser resolutions are aggregated from the 1-minute candles with the shared NSE buckets.
    """
    if end <= start:
        raise InvalidInput("to must be after from", details={"to": ["to must be after from"]})
    res = parse_resolution(resolution)
    where = "strategy_id = %(id)s AND time >= %(lo)s AND time < %(hi)s"
    # Only constants and the shared bucket expressions are interpolated; values are parameters.
    if res.is_intraday and res.count == 1:
        candles = f"""
            SELECT time AS t, open::float8 AS o, high::float8 AS h, low::float8 AS l, close::float8 AS c,
                   realised::float8 AS r, unrealised::float8 AS u, stale_legs AS st
            FROM strategies_m2mcandle WHERE {where}
        """  # noqa: S608
    else:
        exprs = bucket_expressions(res, "time", timescale=timescale_available(connection))
        candles = f"""
            SELECT {exprs.stamp} AS t,
                   ((array_agg(open ORDER BY time))[1])::float8 AS o, max(high)::float8 AS h,
                   min(low)::float8 AS l, ((array_agg(close ORDER BY time DESC))[1])::float8 AS c,
                   ((array_agg(realised ORDER BY time DESC))[1])::float8 AS r,
                   ((array_agg(unrealised ORDER BY time DESC))[1])::float8 AS u, max(stale_legs) AS st
            FROM strategies_m2mcandle WHERE {where} GROUP BY {exprs.group_key}
        """  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(
            _M2M_JSON_SQL.format(candles=candles),
            {"id": strategy.pk, "lo": start, "hi": end, "cap": M2M_MAX_CANDLES},
        )
        body, count = cursor.fetchone()
    if not count:
        return b"", 0
    return body.encode(), int(count)


def sparklines(*, strategy_ids: Sequence[int], points: int = SPARKLINE_POINTS) -> dict[int, list[float]]:
    """The last `points` candle closes of each strategy (oldest first), in one query."""
    if not strategy_ids:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT s.id, coalesce(array_agg(c.close::float8 ORDER BY c.time) FILTER (WHERE c.time IS NOT NULL), '{}')
            FROM unnest(%s::bigint[]) AS s(id)
            LEFT JOIN LATERAL (
                SELECT time, close FROM strategies_m2mcandle WHERE strategy_id = s.id ORDER BY time DESC LIMIT %s
            ) c ON true
            GROUP BY s.id
            """,
            [list(strategy_ids), points],
        )
        return {int(sid): list(closes) for sid, closes in cursor.fetchall()}
