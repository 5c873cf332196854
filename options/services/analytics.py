"""Per-minute F&O analytics: compute every active chain at a closed minute and store it.

`compute_minute` is the minute-close hook's work (registered in `OptionsConfig.ready`); the
`compute_option_analytics` command and the `options.compute_analytics` task run it over history.
One vectorised pass per (underlying, expiry) (`options.analytics.analyse_chain`), then two
set-based upserts: every strike row of every chain in one `INSERT … SELECT FROM unnest(…)`, every
expiry-metrics row in another. Re-running a minute rewrites it (ON CONFLICT DO UPDATE), so the job is
idempotent and retry-safe.
"""

from __future__ import annotations

import io
import logging
import math
import time as clock
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.csv as pacsv
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from marketdata.hooks import MinuteClosed
from marketdata.models import Instrument, InstrumentType
from options.analytics import ChainSnapshot, analyse_chain, total
from options.chains import Chain, active_chains, underlyings_of_instruments
from options.parameters import PricingParameters, basis_holidays, pricing_parameters
from options.pricing import IST
from options.rollups import METRICS_TABLE
from options.selectors.chain_inputs import QuoteMode, chain_inputs, floor_minute
from tradeviz.timeseries.rollups import refresh_registered_rollups

logger = logging.getLogger(__name__)

MINUTE = timedelta(minutes=1)
HOOK_NAME = "options.chain_analytics"
# The hook treats a minute as live (bid/ask from the last-price hash belong to it) while its close is
# this recent; a replay of old ticks must not mix today's quotes into yesterday's minutes.
LIVE_MINUTE_MAX_AGE = timedelta(minutes=2)
SIDES = ("ce", "pe")
SIDE_FLOAT_COLUMNS = ("price", "iv", "delta", "gamma", "theta", "vega")
SIDE_COUNT_COLUMNS = ("oi", "oi_change", "volume")


@dataclass(frozen=True)
class MinuteResult:
    minute: datetime
    chains: int
    strike_rows: int
    milliseconds: float


def _nullable_scalar(value: float) -> float | None:
    return value if math.isfinite(value) else None


# --- writing ----------------------------------------------------------------------------------------

STRIKE_TABLE = "options_strikebar"
STRIKE_KEYS = ("underlying", "expiry", "time", "strike")
_SIDE_COLUMNS = ("ltp", *SIDE_FLOAT_COLUMNS, "iv_reason", *SIDE_COUNT_COLUMNS)
STRIKE_COLUMNS = (
    "underlying",
    "expiry",
    "time",
    "strike",
    "spot",
    "forward",
    "forward_source",
    "t_years",
    *(f"{side}_{name}" for side in SIDES for name in _SIDE_COLUMNS),
)
# COPY into a per-transaction staging table, then one upsert: ~10x faster than binding arrays.
_STAGE_SQL = f"CREATE TEMP TABLE IF NOT EXISTS _strikebar_in (LIKE {STRIKE_TABLE} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
_STRIKE_UPSERT = (
    f"INSERT INTO {STRIKE_TABLE} ({', '.join(STRIKE_COLUMNS)}) "  # noqa: S608 - constant identifiers
    f"SELECT {', '.join(STRIKE_COLUMNS)} FROM _strikebar_in "
    f"ON CONFLICT ({', '.join(STRIKE_KEYS)}) DO UPDATE SET "
    + ", ".join(f"{c} = EXCLUDED.{c}" for c in STRIKE_COLUMNS if c not in STRIKE_KEYS)
)


def _floats(values: npt.NDArray[Any]) -> pa.Array:
    array = np.asarray(values, dtype=np.float64)
    return pa.array(array, mask=~np.isfinite(array))


def _counts(values: npt.NDArray[Any]) -> pa.Array:
    return _floats(np.round(values)).cast(pa.int64())


def _strike_table(snapshots: Sequence[ChainSnapshot], minute: datetime) -> pa.Table:
    """Every strike row of these snapshots as one Arrow table (columns as STRIKE_COLUMNS)."""
    sizes = [s.chain.size for s in snapshots]
    total = sum(sizes)

    def repeat(values: list[Any]) -> list[Any]:
        return [v for v, n in zip(values, sizes, strict=True) for _ in range(n)]

    columns: dict[str, pa.Array] = {
        "underlying": pa.array(repeat([s.chain.underlying for s in snapshots]), pa.string()),
        "expiry": pa.array(repeat([s.chain.expiry for s in snapshots]), pa.date32()),
        "time": pa.array([minute] * total, pa.timestamp("us", tz="UTC")),
        "strike": pa.array([format(k, "f") for s in snapshots for k in s.chain.strike_values], pa.string()),
        "spot": _floats(np.repeat([s.spot for s in snapshots], sizes)),
        "forward": _floats(np.repeat([s.forward for s in snapshots], sizes)),
        "forward_source": pa.array(repeat([s.forward_source for s in snapshots]), pa.string()),
        "t_years": pa.array(np.repeat([s.t_years for s in snapshots], sizes).astype(np.float64)),
    }
    for side_name in SIDES:
        sides = [getattr(s, side_name) for s in snapshots]

        def joined(name: str, sides: list[Any] = sides) -> npt.NDArray[Any]:
            return np.concatenate([getattr(side, name) for side in sides]) if sides else np.zeros(0)

        columns[f"{side_name}_ltp"] = _floats(joined("ltp"))
        for column in SIDE_FLOAT_COLUMNS:
            columns[f"{side_name}_{column}"] = _floats(joined(column))
        reasons = joined("iv_reason")
        columns[f"{side_name}_iv_reason"] = pa.array([r or "" for r in reasons.tolist()], pa.string())
        for column in SIDE_COUNT_COLUMNS:
            columns[f"{side_name}_{column}"] = _counts(joined(column))
    return pa.table({name: columns[name] for name in STRIKE_COLUMNS})


def _copy_csv(cursor: Any, table: pa.Table, target: str) -> None:
    buffer = io.BytesIO()
    pacsv.write_csv(table, buffer, pacsv.WriteOptions(include_header=False, quoting_style="needed"))
    with cursor.cursor.copy(
        f"COPY {target} ({', '.join(table.column_names)}) FROM STDIN WITH (FORMAT csv)"
    ) as copy:
        copy.write(buffer.getvalue())


_METRIC_COLUMNS: tuple[tuple[str, str], ...] = (
    ("underlying", "text"),
    ("expiry", "date"),
    ("spot", "numeric"),
    ("futures_price", "numeric"),
    ("synthetic_forward", "float8"),
    ("forward", "float8"),
    ("forward_source", "text"),
    ("t_years", "float8"),
    ("atm_strike", "numeric"),
    ("atm_iv", "float8"),
    ("straddle", "float8"),
    ("max_pain", "numeric"),
    ("support", "numeric"),
    ("resistance", "numeric"),
    ("pcr_oi", "float8"),
    ("pcr_volume", "float8"),
    ("pcr_oi_change", "float8"),
    ("total_ce_oi", "int8"),
    ("total_pe_oi", "int8"),
    ("total_ce_oi_change", "int8"),
    ("total_pe_oi_change", "int8"),
    ("total_ce_volume", "int8"),
    ("total_pe_volume", "int8"),
    ("ce_volume_minute", "int8"),
    ("pe_volume_minute", "int8"),
    ("strikes", "int4"),
)


def _upsert_sql(table: str, columns: tuple[tuple[str, str], ...], keys: tuple[str, ...]) -> str:
    names = [name for name, _ in columns]
    arrays = ", ".join(f"%({name})s::{kind}[]" for name, kind in columns)
    updates = ", ".join(f"{name} = EXCLUDED.{name}" for name in names if name not in keys)
    return (
        f"INSERT INTO {table} (time, {', '.join(names)}) "  # noqa: S608 - constant identifiers
        f"SELECT %(time)s, * FROM unnest({arrays}) "
        f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {updates}"
    )


_METRIC_UPSERT = _upsert_sql(METRICS_TABLE, _METRIC_COLUMNS, ("underlying", "expiry", "time"))


def _metric_arrays(snapshots: Sequence[ChainSnapshot]) -> dict[str, list[Any]]:
    data: dict[str, list[Any]] = {name: [] for name, _ in _METRIC_COLUMNS}
    for snap in snapshots:
        m = snap.metrics
        row: dict[str, Any] = {
            "underlying": snap.chain.underlying,
            "expiry": snap.chain.expiry,
            "spot": _nullable_scalar(snap.spot),
            "futures_price": _nullable_scalar(snap.futures_price),
            "synthetic_forward": _nullable_scalar(snap.synthetic_forward),
            "forward": _nullable_scalar(snap.forward),
            "forward_source": snap.forward_source,
            "t_years": snap.t_years,
            "atm_strike": snap.atm_strike,
            "atm_iv": _nullable_scalar(snap.atm_iv),
            "straddle": _nullable_scalar(snap.straddle),
            "max_pain": m.max_pain,
            "support": m.support,
            "resistance": m.resistance,
            "pcr_oi": m.oi_pcr,
            "pcr_volume": m.volume_pcr,
            "pcr_oi_change": m.change_in_oi_pcr,
            "total_ce_oi": total(snap.ce.oi),
            "total_pe_oi": total(snap.pe.oi),
            "total_ce_oi_change": total(snap.ce.oi_change),
            "total_pe_oi_change": total(snap.pe.oi_change),
            "total_ce_volume": total(snap.ce.volume),
            "total_pe_volume": total(snap.pe.volume),
            "ce_volume_minute": total(snap.ce.minute_volume),
            "pe_volume_minute": total(snap.pe.minute_volume),
            "strikes": snap.chain.size,
        }
        for name, value in row.items():
            data[name].append(value)
    return data


def write_snapshots(snapshots: Sequence[ChainSnapshot], *, minute: datetime) -> int:
    """Upsert the strike rows and expiry metrics of these chains at `minute`; returns strike rows."""
    if not snapshots:
        return 0
    table = _strike_table(snapshots, minute)
    keys = {
        "u": [s.chain.underlying for s in snapshots],
        "e": [s.chain.expiry for s in snapshots],
        "t": minute,
    }
    with transaction.atomic(), connection.cursor() as cursor:
        if not _copied_new_minute(cursor, table, keys):
            cursor.execute(_STAGE_SQL)
            # ON COMMIT empties it, but inside an outer transaction (a caller's atomic block, tests)
            # there is no commit between two calls.
            cursor.execute("TRUNCATE _strikebar_in")
            _copy_csv(cursor, table, "_strikebar_in")
            cursor.execute(_STRIKE_UPSERT)
        cursor.execute(_METRIC_UPSERT, {"time": minute, **_metric_arrays(snapshots)})
    return table.num_rows


_MINUTE_STORED_SQL = f"""
SELECT EXISTS (
    SELECT 1 FROM unnest(%(u)s::text[], %(e)s::date[]) AS c(u, e)
    JOIN {STRIKE_TABLE} s ON s.underlying = c.u AND s.expiry = c.e AND s.time = %(t)s
)
"""  # noqa: S608 - constant identifiers


def _copied_new_minute(cursor: Any, table: pa.Table, keys: dict[str, Any]) -> bool:
    """The usual case, a minute computed for the first time: COPY straight into the table (no staging,
    no conflict checks). False when some row exists already, so the caller upserts instead.

    A concurrent writer of the same minute could slip in between the check and the COPY; the COPY
    then fails on the primary key inside its savepoint and the caller upserts.
    """
    cursor.execute(_MINUTE_STORED_SQL, keys)
    if cursor.fetchone()[0]:
        return False
    try:
        with transaction.atomic():
            _copy_csv(cursor, table, STRIKE_TABLE)
    except IntegrityError:
        logger.info("option analytics: concurrent write of a minute; upserting instead")
        return False
    return True


# --- computing --------------------------------------------------------------------------------------


def option_underlyings(*, as_of: date) -> list[str]:
    """Underlyings with unexpired options, limited to FO_ANALYTICS_UNDERLYINGS when that is set."""
    configured = [u.strip().upper() for u in settings.FO_ANALYTICS_UNDERLYINGS if u.strip()]
    if configured:
        return sorted(set(configured))
    return sorted(
        set(
            Instrument.objects.filter(
                instrument_type__in=(InstrumentType.CE, InstrumentType.PE), expiry__gte=as_of
            ).values_list("underlying", flat=True)
        )
    )


def analyse_at_minute(
    chains: Sequence[Chain], *, minute: datetime, quotes: QuoteMode, params: PricingParameters
) -> list[ChainSnapshot]:
    """Snapshots of these chains at the close of `minute` (its open, aware)."""
    as_of = minute + MINUTE
    return [
        analyse_chain(
            state,
            as_of=as_of,
            rate=params.rate,
            basis_days=params.basis_days,
            holidays=basis_holidays(
                params.basis_days, as_of.astimezone(IST).date(), state.chain.effective_expiry
            ),
            max_spread_frac=params.max_spread_frac,
        )
        for state in chain_inputs(chains, minute=minute, quotes=quotes)
    ]


def _market_date(moment: datetime) -> date:
    return moment.astimezone(IST).date()


def compute_minute(
    *,
    minute: datetime,
    underlyings: Iterable[str] | None = None,
    quotes: QuoteMode = "none",
    publish: bool = False,
    chains: Sequence[Chain] | None = None,
) -> MinuteResult:
    """Compute and store every active chain (of `underlyings`, default all) at the close of `minute`.

    `quotes="bidask"` takes bid/ask from the last-price hash (only for a minute that just closed);
    `publish` sends the result to /ws/fo/stream subscribers after the transaction commits.
    """
    started = clock.perf_counter()
    minute = floor_minute(minute)
    if chains is None:
        names = (
            list(underlyings) if underlyings is not None else option_underlyings(as_of=_market_date(minute))
        )
        allowed = {u.strip().upper() for u in settings.FO_ANALYTICS_UNDERLYINGS if u.strip()}
        if allowed:
            names = [u for u in names if u.upper() in allowed]
        chains = active_chains(
            underlyings=names,
            as_of=_market_date(minute),
            expiries_per_underlying=settings.FO_ANALYTICS_EXPIRIES,
        )
    params = pricing_parameters()
    snapshots = analyse_at_minute(chains, minute=minute, quotes=quotes, params=params)
    rows = write_snapshots(snapshots, minute=minute)
    if publish and snapshots:
        from options.streams import publish_minute

        transaction.on_commit(lambda: publish_minute(snapshots))
    return MinuteResult(
        minute=minute,
        chains=len(snapshots),
        strike_rows=rows,
        milliseconds=(clock.perf_counter() - started) * 1000,
    )


def on_minute_closed(event: MinuteClosed) -> None:
    """The minute-close hook: analytics of the chains whose underlying had a bar in that minute."""
    names = underlyings_of_instruments(event.instrument_ids)
    if not names:
        return
    live = timezone.now() - (event.minute + MINUTE) <= LIVE_MINUTE_MAX_AGE
    result = compute_minute(
        minute=event.minute, underlyings=names, quotes="bidask" if live else "none", publish=live
    )
    logger.info(
        "option analytics computed",
        extra={
            "minute": result.minute.isoformat(),
            "chains": result.chains,
            "strike_rows": result.strike_rows,
            "ms": round(result.milliseconds, 1),
        },
    )


# --- history ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RangeResult:
    minutes: int
    strike_rows: int
    start: datetime
    end: datetime


_MINUTES_SQL = """
SELECT DISTINCT time FROM marketdata_bar
WHERE instrument_id = ANY(%(ids)s) AND time >= %(start)s AND time < %(end)s
ORDER BY time
"""


def _ist_days(start: datetime, end: datetime) -> list[date]:
    first, last = _market_date(start), _market_date(end - timedelta(microseconds=1))
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def compute_range(
    *, start: datetime, end: datetime, underlyings: Iterable[str] | None = None, refresh_rollups: bool = True
) -> RangeResult:
    """Analytics for every minute in [start, end) that has a bar of a chain's contracts, spot or futures.

    Minutes are computed in time order, so each carries the previous one's day volume forward (see
    `options.selectors.chain_inputs`). The expiry-metrics rollups are refreshed for the range at the end.
    """
    if timezone.is_naive(start) or timezone.is_naive(end) or start >= end:
        raise ValueError("compute_range needs an aware, non-empty [start, end)")
    names = list(underlyings) if underlyings is not None else None
    minutes = rows = 0
    for day in _ist_days(start, end):
        day_names = names if names is not None else option_underlyings(as_of=day)
        chains = active_chains(
            underlyings=day_names, as_of=day, expiries_per_underlying=settings.FO_ANALYTICS_EXPIRIES
        )
        if not chains:
            continue
        ids = sorted(
            {i for c in chains for i in c.contract_ids()}
            | {ref.id for c in chains for ref in (c.spot, c.futures) if ref is not None}
        )
        lo = max(start, datetime.combine(day, time.min, tzinfo=IST).astimezone(UTC))
        hi = min(end, datetime.combine(day + timedelta(days=1), time.min, tzinfo=IST).astimezone(UTC))
        with connection.cursor() as cursor:
            cursor.execute(_MINUTES_SQL, {"ids": ids, "start": lo, "end": hi})
            day_minutes = [row[0] for row in cursor.fetchall()]
        for minute in day_minutes:
            result = compute_minute(minute=minute, chains=chains)
            minutes += 1
            rows += result.strike_rows
    if refresh_rollups and minutes:
        refresh_registered_rollups(start=start, end=end, source_table=METRICS_TABLE)
    logger.info(
        "option analytics over history",
        extra={"minutes": minutes, "strike_rows": rows, "start": start.isoformat(), "end": end.isoformat()},
    )
    return RangeResult(minutes=minutes, strike_rows=rows, start=start, end=end)
