"""The index monitor: the underlying, its futures ladder, and ATM ± N strikes of the nearest expiries.

Assembled from small pieces: `spot_summary`, `futures_ladder`, `expiry_panel` over live chain
snapshots (`options.selectors.chain.snapshot_chains`), and `monitor_snapshot` putting them together.
"""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection
from django.utils import timezone

from marketdata.last_prices import read_last_prices
from marketdata.models import Instrument, InstrumentType
from options.analytics import ChainSnapshot, SideResult
from options.chains import Chain, get_chain, nearest_expiries, normalise_underlying, option_expiries, window
from options.expiry_labels import expiry_label
from options.pricing import IST
from options.selectors.chain import snapshot_chains
from tradeviz.errors import NotFound

MAX_MONITOR_EXPIRIES = 6
MAX_OTM_LEVELS = 50
MS_PER_SECOND = 1000.0

_LAST_BAR_SQL = """
SELECT i.id, b.close::float8, b.oi, extract(epoch FROM b.time)::float8
FROM unnest(%(ids)s::bigint[]) AS i(id)
CROSS JOIN LATERAL (
    SELECT close, oi, time FROM marketdata_bar
    WHERE instrument_id = i.id AND time <= %(at)s AND time >= %(lookback)s ORDER BY time DESC LIMIT 1
) AS b
"""


def _num(value: float | None, digits: int | None = None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return round(value, digits) if digits is not None else value


def spot_summary(snapshot: ChainSnapshot) -> dict[str, Any]:
    """The underlying's price and its change against the previous session's close."""
    spot, prev = snapshot.spot, snapshot.spot_prev_close
    change = spot - prev if math.isfinite(spot) and math.isfinite(prev) else math.nan
    ref = snapshot.chain.spot
    return {
        "token": ref.token if ref else None,
        "tradingsymbol": ref.tradingsymbol if ref else None,
        "ltp": _num(spot),
        "prev_close": _num(prev),
        "change": _num(change),
        "change_pct": _num(change / prev * 100 if math.isfinite(change) and prev else math.nan),
    }


def futures_ladder(*, underlying: str, as_of: date, spot: float, now: datetime) -> list[dict[str, Any]]:
    """Unexpired futures, nearest first: price (live tick if newer than the last bar), OI, basis to spot."""
    futures = list(
        Instrument.objects.filter(
            underlying=underlying, instrument_type=InstrumentType.FUT, expiry__gte=as_of
        ).order_by("expiry", "id")
    )
    if not futures:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            _LAST_BAR_SQL,
            {
                "ids": [f.pk for f in futures],
                "at": now,
                "lookback": now - timedelta(days=settings.FO_LOOKBACK_DAYS),
            },
        )
        bars = {i: (close, oi, ts) for i, close, oi, ts in cursor.fetchall()}
    try:
        ticks = read_last_prices(f.instrument_token for f in futures)
    except Exception:
        ticks = {}
    ladder = []
    for f in futures:
        close, oi, ts = bars.get(f.pk, (None, None, None))
        tick = ticks.get(f.instrument_token) or {}
        tick_ts = tick.get("ts")
        if (
            isinstance(tick.get("ltp"), int | float)
            and isinstance(tick_ts, int | float)
            and (ts is None or tick_ts / MS_PER_SECOND >= ts)
        ):
            close = float(tick["ltp"])
            oi = tick.get("oi", oi)
        basis = close - spot if close is not None and math.isfinite(spot) else None
        assert f.expiry is not None
        ladder.append(
            {
                "token": f.instrument_token,
                "tradingsymbol": f.tradingsymbol,
                "expiry": f.expiry.isoformat(),
                "days_to_expiry": (f.expiry - as_of).days,
                "lot_size": f.lot_size,
                "ltp": _num(close),
                "oi": oi,
                "basis": _num(basis),
                "basis_pct": _num(basis / spot * 100 if basis is not None and spot else None),
            }
        )
    return ladder


def _side_cells(side: SideResult, i: int) -> dict[str, Any] | None:
    if not side.listed[i]:
        return None
    oi, change = side.oi[i], side.oi_change[i]
    return {
        "ltp": _num(float(side.ltp[i])),
        "price": _num(float(side.price[i])),
        "iv": _num(float(side.iv[i])),
        "iv_reason": side.iv_reason[i],
        "delta": _num(float(side.delta[i])),
        "oi": None if not math.isfinite(oi) else int(oi),
        "oi_change": None if not math.isfinite(change) else int(change),
    }


def expiry_panel(snapshot: ChainSnapshot, *, otm_levels: int, as_of: date) -> dict[str, Any]:
    """One expiry: headline figures and the strikes ATM ± `otm_levels`."""
    chain = snapshot.chain
    sl = window(chain, centre=snapshot.atm_index, each_side=otm_levels)
    m = snapshot.metrics
    return {
        "expiry": chain.expiry.isoformat(),
        "label": expiry_label(chain),
        "days_to_expiry": (chain.effective_expiry - as_of).days,
        "lot_size": chain.lot_size,
        "forward": _num(snapshot.forward),
        "forward_source": snapshot.forward_source,
        "t_years": snapshot.t_years,
        "atm_strike": snapshot.atm_strike,
        "atm_iv": _num(snapshot.atm_iv),
        "straddle": _num(snapshot.straddle),
        "pcr_oi": m.oi_pcr,
        "max_pain": m.max_pain,
        "support": m.support,
        "resistance": m.resistance,
        "rows": [
            {
                "strike": float(chain.strikes[i]),
                "ce": _side_cells(snapshot.ce, i),
                "pe": _side_cells(snapshot.pe, i),
            }
            for i in range(sl.start, sl.stop)
        ],
    }


def monitor_chains(underlying: str, *, expiries: int, as_of: date) -> list[Chain]:
    name = normalise_underlying(underlying)
    if not option_expiries(name):
        raise NotFound(f"Unknown underlying {underlying!r}: no options are listed for it.")
    chains = [get_chain(name, e) for e in nearest_expiries(name, as_of=as_of, count=expiries)]
    return [c for c in chains if c is not None]


def monitor_snapshot(
    *, underlying: str, expiries: int, otm_levels: int, now: datetime | None = None
) -> dict[str, Any]:
    """The monitor payload (live)."""
    current = now or timezone.now()
    today = current.astimezone(IST).date()
    chains = monitor_chains(underlying, expiries=expiries, as_of=today)
    snapshots = snapshot_chains(chains, now=current) if chains else []
    spot = snapshots[0].spot if snapshots else math.nan
    name = normalise_underlying(underlying)
    return {
        "underlying": name,
        "exchange": chains[0].exchange if chains else None,
        "as_of": current.isoformat(),
        "spot": spot_summary(snapshots[0]) if snapshots else None,
        "futures": futures_ladder(underlying=name, as_of=today, spot=spot, now=current),
        "expiries": [expiry_panel(s, otm_levels=otm_levels, as_of=today) for s in snapshots],
    }
