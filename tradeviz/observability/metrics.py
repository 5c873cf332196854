"""The project's own Prometheus metrics, registered once in the default registry that /metrics exports.

Apps add their metrics here so every name is in one place and documented.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

TASK_FAILURES = Counter("tradeviz_task_failures_total", "Celery task failures", ["task"])
API_KEY_AUTH = Counter("tradeviz_api_key_auth_total", "API key authentication attempts", ["result"])
HEALTH_CHECK_FAILURES = Counter("tradeviz_health_check_failures_total", "Readiness check failures", ["check"])

WS_CONNECTIONS = Gauge("tradeviz_ws_connections", "Open WebSocket connections", ["route"])
WS_MESSAGES_SENT = Counter("tradeviz_ws_messages_sent_total", "WebSocket messages sent", ["route"])

TICKS_INGESTED = Counter("tradeviz_ticks_ingested_total", "Ticks accepted by the tick consumer")
TICKS_REJECTED = Counter("tradeviz_ticks_rejected_total", "Ticks rejected by the tick consumer", ["reason"])
BARS_WRITTEN = Counter("tradeviz_bars_written_total", "Minute bars upserted by the tick consumer")
INGEST_BATCH_SECONDS = Histogram(
    "tradeviz_ingest_batch_seconds",
    "Tick batch processing time (decode, aggregate, persist, ack)",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
TICKS_OUT_OF_SESSION = Counter(
    "tradeviz_ticks_out_of_session_total", "Ticks ignored because their time is outside the exchange session"
)
TICK_ENTRIES_READ = Counter("tradeviz_tick_entries_read_total", "Tick stream entries read", ["source"])
TICK_STREAM_PENDING = Gauge("tradeviz_tick_stream_pending", "Tick stream entries delivered but not acknowledged")
TICK_STREAM_UNDELIVERED = Gauge("tradeviz_tick_stream_undelivered", "Tick stream entries not yet read by the group")
TICK_STREAM_OLDEST_PENDING_SECONDS = Gauge(
    "tradeviz_tick_stream_oldest_pending_seconds", "Age of the oldest unacknowledged tick stream entry"
)
TICK_STREAM_LAG_SECONDS = Gauge(
    "tradeviz_tick_stream_lag_seconds", "Age of the oldest tick stream entry not yet acknowledged or not yet read"
)
TICK_CONSUMER_ERRORS = Counter("tradeviz_tick_consumer_errors_total", "Tick consumer retries by failing dependency", ["dependency"])
MINUTES_CLOSED = Counter("tradeviz_minutes_closed_total", "Minutes closed by the tick consumer")
BARS_PUBLISHED = Counter("tradeviz_bars_published_total", "Bar events sent to the channel layer", ["state"])
BAR_CLOSE_PUBLISH_SECONDS = Histogram(
    "tradeviz_bar_close_publish_seconds",
    "Seconds from a minute's end to its closed bar being sent to the channel layer",
    buckets=(0.1, 0.25, 0.5, 0.75, 1, 2, 5, 10, 30),
)

M2M_LAG_SECONDS = Gauge("tradeviz_m2m_lag_seconds", "Seconds between a minute closing and its M2M write")
M2M_RUN_SECONDS = Histogram("tradeviz_m2m_run_seconds", "Duration of one M2M run")

CACHE_REQUESTS = Counter("tradeviz_cache_requests_total", "History cache lookups", ["layer", "result"])

# --- strategies M2M and the order stream (issue 7) ---------------------------------------------------
M2M_STRATEGIES = Gauge("tradeviz_m2m_strategies", "Active strategies marked to market by the last M2M run")
M2M_STALE_LEGS = Gauge("tradeviz_m2m_stale_legs", "Open legs marked at a carried (stale) price in the last M2M run")
M2M_PRICE_SOURCE = Counter(
    "tradeviz_m2m_prices_total", "Instrument prices used by M2M runs, by source", ["source"]
)
M2M_FAILURES = Counter("tradeviz_m2m_failures_total", "M2M runs that failed (nothing written)", ["reason"])
ORDER_UPDATES = Counter("tradeviz_order_updates_total", "Order stream updates by outcome", ["outcome"])
ORDER_STREAM_BATCH_SECONDS = Histogram(
    "tradeviz_order_stream_batch_seconds",
    "Order stream batch time from read to pushed (parse, store, recompute positions, ack, push)",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1),
)
BROKER_SYNC_RUNS = Counter("tradeviz_broker_sync_runs_total", "Broker sync runs by outcome", ["outcome"])
