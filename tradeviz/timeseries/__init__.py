"""The time-series storage layer: TimescaleDB when the database has it, plain PostgreSQL otherwise.

detect     — `timescale_available()`: which path a connection takes
buckets    — NSE bucketing SQL (intraday/daily/weekly/monthly) shared by every reader
operations — migration operations `TimeSeriesTable` and `CreateRollup`
rollups    — `RollupSpec`, the registry, `refresh_rollup`, `rollup_relation`
tasks      — the beat task `tradeviz.refresh_rollups`

See docs/storage.md.
"""
