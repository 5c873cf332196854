"""5-minute and 15-minute rollups of expiry metrics, maintained by tradeviz.timeseries.

Levels (PCRs, max pain, OI totals, day volumes) take the bucket's last minute; ATM IV and the ATM
straddle also keep first/max/min, so charts can draw them as candles; the per-minute traded volume
is summed. Must match options/migrations/0001_initial.py (specs there are frozen copies).
"""

from __future__ import annotations

from tradeviz.timeseries.rollups import AggregateKind, RollupColumn, RollupSpec, register_rollup

FIRST, LAST, MAX, MIN, SUM = (
    AggregateKind.FIRST,
    AggregateKind.LAST,
    AggregateKind.MAX,
    AggregateKind.MIN,
    AggregateKind.SUM,
)

METRICS_TABLE = "options_expirymetrics"
METRICS_KEYS = ("underlying", "expiry")

METRICS_AGGREGATES = (
    RollupColumn(output="spot", kind=LAST),
    RollupColumn(output="futures_price", kind=LAST),
    RollupColumn(output="synthetic_forward", kind=LAST),
    RollupColumn(output="forward", kind=LAST),
    RollupColumn(output="forward_source", kind=LAST),
    RollupColumn(output="t_years", kind=LAST),
    RollupColumn(output="atm_strike", kind=LAST),
    RollupColumn(output="atm_iv_open", kind=FIRST, source="atm_iv"),
    RollupColumn(output="atm_iv_high", kind=MAX, source="atm_iv"),
    RollupColumn(output="atm_iv_low", kind=MIN, source="atm_iv"),
    RollupColumn(output="atm_iv", kind=LAST),
    RollupColumn(output="straddle_open", kind=FIRST, source="straddle"),
    RollupColumn(output="straddle_high", kind=MAX, source="straddle"),
    RollupColumn(output="straddle_low", kind=MIN, source="straddle"),
    RollupColumn(output="straddle", kind=LAST),
    RollupColumn(output="max_pain", kind=LAST),
    RollupColumn(output="support", kind=LAST),
    RollupColumn(output="resistance", kind=LAST),
    RollupColumn(output="pcr_oi", kind=LAST),
    RollupColumn(output="pcr_volume", kind=LAST),
    RollupColumn(output="pcr_oi_change", kind=LAST),
    RollupColumn(output="total_ce_oi", kind=LAST),
    RollupColumn(output="total_pe_oi", kind=LAST),
    RollupColumn(output="total_ce_oi_change", kind=LAST),
    RollupColumn(output="total_pe_oi_change", kind=LAST),
    RollupColumn(output="total_ce_volume", kind=LAST),
    RollupColumn(output="total_pe_volume", kind=LAST),
    RollupColumn(output="ce_volume_minute", kind=SUM, cast="bigint"),
    RollupColumn(output="pe_volume_minute", kind=SUM, cast="bigint"),
)

METRICS_5M = RollupSpec(
    name="options_expirymetrics_5m",
    source_table=METRICS_TABLE,
    bucket="5",
    aggregates=METRICS_AGGREGATES,
    key_columns=METRICS_KEYS,
)
METRICS_15M = RollupSpec(
    name="options_expirymetrics_15m",
    source_table=METRICS_TABLE,
    bucket="15",
    aggregates=METRICS_AGGREGATES,
    key_columns=METRICS_KEYS,
)
METRICS_ROLLUPS = (METRICS_5M, METRICS_15M)
# Resolution (minutes) → rollup.
METRICS_ROLLUP_BY_MINUTES = {5: METRICS_5M, 15: METRICS_15M}


def register() -> None:
    for spec in METRICS_ROLLUPS:
        register_rollup(spec)
