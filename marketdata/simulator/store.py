"""What the simulator reads from the database: its instruments, where each one starts, stored bars."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta

from django.db import connection
from django.db.models import Q

from marketdata.calendar import MARKET_TZ
from marketdata.demo import MARKETS
from marketdata.models import Instrument, InstrumentType
from marketdata.simulator.engine import StartPoint
from marketdata.simulator.replay import StoredBar
from marketdata.simulator.universe import Listing
from marketdata.symbols import normalise
from tradeviz.errors import NotFound


def demo_listings(*, today: date) -> list[Listing]:
    """The demo underliers and the demo contracts that have not expired before `today`."""
    underliers = [u.token for market in MARKETS for u in market.underliers]
    derivatives = Q()
    for market in MARKETS:
        derivatives |= Q(underlying=market.derivatives.underlying, exchange=market.derivatives.exchange)
    rows = Instrument.objects.filter(
        Q(instrument_token__in=underliers)
        | (derivatives & Q(instrument_type__in=[InstrumentType.FUT, InstrumentType.CE, InstrumentType.PE],
                           expiry__gte=today, is_active=True))
    ).order_by("instrument_token")
    return [Listing.of_instrument(row) for row in rows]


_START_SQL = """
SELECT i.instrument_token, (extract(epoch FROM b.time) * 1000)::bigint, b.close::float8, b.oi,
       (SELECT coalesce(sum(d.volume), 0) FROM marketdata_bar d
        WHERE d.instrument_id = i.id AND d.time <= b.time
          AND d.time >= (date_trunc('day', b.time AT TIME ZONE %(tz)s) AT TIME ZONE %(tz)s))
FROM marketdata_instrument i
CROSS JOIN LATERAL (
    SELECT time, close, oi FROM marketdata_bar WHERE instrument_id = i.id ORDER BY time DESC LIMIT 1
) AS b
WHERE i.instrument_token = ANY(%(tokens)s)
"""


def start_points(tokens: Iterable[int]) -> dict[int, StartPoint]:
    """token → its last stored bar's close and time, that day's volume so far (IST date) and its OI."""
    with connection.cursor() as cursor:
        cursor.execute(_START_SQL, {"tokens": list(tokens), "tz": str(MARKET_TZ)})
        return {
            token: StartPoint(price=close, ts_ms=ts, day_volume=int(volume), oi=None if oi is None else int(oi))
            for token, ts, close, oi, volume in cursor.fetchall()
        }


_HISTORY_SQL = """
SELECT (extract(epoch FROM b.time) * 1000)::bigint, b.open::float8, b.high::float8, b.low::float8,
       b.close::float8, b.volume, b.oi
FROM marketdata_bar b JOIN marketdata_instrument i ON i.id = b.instrument_id
WHERE i.instrument_token = %s AND b.time >= %s AND b.time <= %s
ORDER BY b.time
"""


def stored_history(token: int, start_ms: int, end_ms: int) -> list[list[object]]:
    """Stored minute bars of `token` with times in [start_ms, end_ms]: [ts_ms, o, h, l, c, v, oi]."""
    with connection.cursor() as cursor:
        cursor.execute(_HISTORY_SQL, [token, _instant(start_ms), _instant(end_ms)])
        return [list(row) for row in cursor.fetchall()]


def _instant(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def day_bars(*, symbol: str, day: date) -> tuple[Instrument, list[StoredBar]]:
    """The instrument and its stored minute bars on market date `day` (IST), in time order."""
    instrument = Instrument.objects.filter(symbol=normalise(symbol)).first()
    if instrument is None:
        raise NotFound(f"No instrument {normalise(symbol)!r}.")
    start = datetime.combine(day, time.min, tzinfo=MARKET_TZ)
    end = start + timedelta(days=1)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (extract(epoch FROM time) * 1000)::bigint, open::float8, high::float8, low::float8,"
            " close::float8, volume, oi FROM marketdata_bar WHERE instrument_id = %s AND time >= %s AND time < %s"
            " ORDER BY time",
            [instrument.pk, start, end],
        )
        bars = [StoredBar(*row) for row in cursor.fetchall()]
    return instrument, bars


def latest_index_prices() -> dict[int, float]:
    """The last stored close of each demo index (where the option strikes are centred)."""
    points = start_points([market.index.token for market in MARKETS])
    return {token: point.price for token, point in points.items()}
