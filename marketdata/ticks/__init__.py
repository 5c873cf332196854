"""Tick ingestion: the Redis tick stream → 1-minute bars in the database, live bar events, minute closes.

Modules, in the order a batch flows through them (docs/ingestion.md tells the whole story):

- `stream`: the Redis Stream and its consumer group (read, reclaim, acknowledge, lag).
- `tokens`: instrument token → instrument facts, reloaded when instruments are loaded.
- `decode`: stream entries → validated columnar ticks, rejections counted by reason.
- `sessions`: which ticks fall inside their exchange's session.
- `aggregate`: ticks → per-(instrument, minute) partial bars with numpy.
- `persist`: partial bars → one merge upsert (COPY + INSERT … ON CONFLICT), rollups, cache.
- `rollup_refresh`: re-aggregating closed rollup buckets a batch touched, on a thread of its own.
- `publish`: bar events to the channel layer from a thread of its own, conflated and throttled.
- `closing`: when minutes close, once across consumers; minute-close hooks off the hot path.
- `consumer`: the loop that ties them together, with retries, reclaim and graceful shutdown.
- `readiness`: the `/health/ready` check of the consumer group's lag.
- `testing`: a plain-Python reference aggregation and stream helpers for tests and the benchmark.
"""
