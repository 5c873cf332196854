"""OI buildup of an underlying's futures and options over a window of minutes (DOMAIN.md).

The window ends at the latest minute with a bar among the contracts (or at `at`); each contract's
price and OI at the end are its latest bar at or before then, and at the start its latest bar at or
before `window` minutes earlier. Classification is `options.buildup.classify_buildup`.
"""

from __future__ import annotations

import math
from collections import Counter
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
from django.conf import settings
from django.db import connection
from django.utils import timezone

from marketdata.models import Instrument, InstrumentType
from options.buildup import LABELS, classify_buildup
from options.chains import chain_or_404, nearest_expiries, normalise_underlying, option_expiries
from options.pricing import IST
from options.selectors.chain_inputs import floor_minute
from tradeviz.errors import NotFound

MAX_WINDOW_MINUTES = 5 * 375

_WINDOW_SQL = """
SELECT i.id,
       e.close::float8, e.oi::float8, extract(epoch FROM e.time)::bigint,
       s.close::float8, s.oi::float8, extract(epoch FROM s.time)::bigint
FROM unnest(%(ids)s::bigint[]) AS i(id)
LEFT JOIN LATERAL (
    SELECT close, oi, time FROM marketdata_bar
    WHERE instrument_id = i.id AND time <= %(end)s AND time >= %(lookback)s ORDER BY time DESC LIMIT 1
) AS e ON true
LEFT JOIN LATERAL (
    SELECT close, oi, time FROM marketdata_bar
    WHERE instrument_id = i.id AND time <= %(start)s AND time >= %(lookback)s ORDER BY time DESC LIMIT 1
) AS s ON true
"""

_LATEST_SQL = """
SELECT max(b.time) FROM unnest(%(ids)s::bigint[]) AS i(id)
CROSS JOIN LATERAL (
    SELECT time FROM marketdata_bar WHERE instrument_id = i.id AND time <= %(at)s ORDER BY time DESC LIMIT 1
) AS b
"""


def _contracts(underlying: str, expiry: date | None, as_of: date) -> tuple[list[Instrument], date | None]:
    if expiry is None:
        upcoming = nearest_expiries(underlying, as_of=as_of, count=1)
        expiry = upcoming[0] if upcoming else None
    else:
        expiry = chain_or_404(underlying, expiry).expiry
    futures = Instrument.objects.filter(
        underlying=underlying, instrument_type=InstrumentType.FUT, expiry__gte=as_of
    )
    options = (
        Instrument.objects.filter(
            underlying=underlying, expiry=expiry, instrument_type__in=(InstrumentType.CE, InstrumentType.PE)
        )
        if expiry is not None
        else Instrument.objects.none()
    )
    ordered = sorted(futures, key=lambda f: (f.expiry, f.pk)) + sorted(
        options, key=lambda o: (o.strike, o.instrument_type, o.pk)
    )
    return ordered, expiry


def _num(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else value


def oi_buildup(
    *,
    underlying: str,
    window_minutes: int,
    expiry: date | None = None,
    at: datetime | None = None,
    price_band_pct: float | None = None,
    oi_band_pct: float | None = None,
) -> dict[str, Any]:
    name = normalise_underlying(underlying)
    if (
        not option_expiries(name)
        and not Instrument.objects.filter(underlying=name, instrument_type=InstrumentType.FUT).exists()
    ):
        raise NotFound(f"Unknown underlying {underlying!r}: no futures or options are listed for it.")
    moment = at or timezone.now()
    contracts, chosen_expiry = _contracts(name, expiry, moment.astimezone(IST).date())
    price_band = settings.FO_BUILDUP_PRICE_BAND_PCT if price_band_pct is None else price_band_pct
    oi_band = settings.FO_BUILDUP_OI_BAND_PCT if oi_band_pct is None else oi_band_pct
    lookback = moment - timedelta(days=settings.FO_LOOKBACK_DAYS)
    ids = [c.pk for c in contracts]
    end = start = None
    rows: dict[int, tuple[Any, ...]] = {}
    if ids:
        with connection.cursor() as cursor:
            cursor.execute(_LATEST_SQL, {"ids": ids, "at": moment})
            (end,) = cursor.fetchone()
            if end is not None:
                start = end - timedelta(minutes=window_minutes)
                cursor.execute(_WINDOW_SQL, {"ids": ids, "end": end, "start": start, "lookback": lookback})
                rows = {r[0]: r[1:] for r in cursor.fetchall()}
    values = np.array(
        [[np.nan if v is None else float(v) for v in rows.get(c.pk, (None,) * 6)] for c in contracts],
        dtype=np.float64,
    ).reshape(len(contracts), 6)
    result = classify_buildup(
        values[:, 3], values[:, 0], values[:, 4], values[:, 1], price_band_pct=price_band, oi_band_pct=oi_band
    )
    items = []
    for i, c in enumerate(contracts):
        p1, o1, _t1, p0, o0, _t0 = (float(v) for v in values[i])
        items.append(
            {
                "token": c.instrument_token,
                "tradingsymbol": c.tradingsymbol,
                "instrument_type": c.instrument_type,
                "expiry": c.expiry.isoformat() if c.expiry else None,
                "strike": float(c.strike) if c.strike is not None else None,
                "price_start": _num(p0),
                "price_end": _num(p1),
                "price_change_pct": _num(float(result.price_change_pct[i])),
                "oi_start": None if math.isnan(o0) else int(o0),
                "oi_end": None if math.isnan(o1) else int(o1),
                "oi_change": None if math.isnan(o0) or math.isnan(o1) else int(o1 - o0),
                "oi_change_pct": _num(float(result.oi_change_pct[i])),
                "label": str(result.label[i]),
            }
        )
    counts = Counter(item["label"] for item in items)
    return {
        "underlying": name,
        "expiry": chosen_expiry.isoformat() if chosen_expiry else None,
        "window_minutes": window_minutes,
        "from": floor_minute(start).isoformat() if start else None,
        "to": floor_minute(end).isoformat() if end else None,
        "price_band_pct": price_band,
        "oi_band_pct": oi_band,
        "summary": {label: counts.get(label, 0) for label in LABELS},
        "contracts": items,
    }
