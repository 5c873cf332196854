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

M2M_LAG_SECONDS = Gauge("tradeviz_m2m_lag_seconds", "Seconds between a minute closing and its M2M write")
M2M_RUN_SECONDS = Histogram("tradeviz_m2m_run_seconds", "Duration of one M2M run")

CACHE_REQUESTS = Counter("tradeviz_cache_requests_total", "History cache lookups", ["layer", "result"])
