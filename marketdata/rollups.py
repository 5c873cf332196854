"""Rollups of the minute bars (5m, 15m, 1h, 1D), maintained by tradeviz.timeseries.

Readers use the relation names below (see marketdata/selectors/history.py); the same SQL works on
TimescaleDB (continuous aggregates) and plain PostgreSQL (summary tables behind a live view).
"""

from __future__ import annotations

from tradeviz.timeseries.rollups import AggregateKind, RollupColumn, RollupSpec, register_rollup

# Must match marketdata/migrations/0005_bars.py (specs there are frozen copies).
OHLCV = (
    RollupColumn(output="open", kind=AggregateKind.FIRST),
    RollupColumn(output="high", kind=AggregateKind.MAX),
    RollupColumn(output="low", kind=AggregateKind.MIN),
    RollupColumn(output="close", kind=AggregateKind.LAST),
    RollupColumn(output="volume", kind=AggregateKind.SUM, cast="bigint"),
    RollupColumn(output="oi", kind=AggregateKind.LAST),
)

BAR_ROLLUPS = (
    RollupSpec(name="marketdata_bar_5m", source_table="marketdata_bar", bucket="5", aggregates=OHLCV),
    RollupSpec(name="marketdata_bar_15m", source_table="marketdata_bar", bucket="15", aggregates=OHLCV),
    RollupSpec(name="marketdata_bar_1h", source_table="marketdata_bar", bucket="60", aggregates=OHLCV),
    RollupSpec(name="marketdata_bar_1d", source_table="marketdata_bar", bucket="1D", aggregates=OHLCV),
)


def register() -> None:
    for spec in BAR_ROLLUPS:
        register_rollup(spec)
