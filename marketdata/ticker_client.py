"""HTTP client of the ticker service (or the simulator playing it): instruments, quotes, history.

Timeouts on every call, retries with exponential backoff (tenacity) for transport errors and 5xx,
and a circuit breaker (pybreaker) so a dead service costs one fast failure per call instead of a
timeout, until it has had time to recover. Every call is counted in Prometheus.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from functools import lru_cache
from typing import Any

import httpx
import pybreaker
from django.conf import settings
from prometheus_client import Counter, Gauge
from tenacity import retry, retry_if_exception, stop_after_attempt, wait_exponential

from tradeviz.errors import UpstreamUnavailable

logger = logging.getLogger(__name__)

REQUESTS = Counter("tradeviz_ticker_requests_total", "Ticker service calls", ["endpoint", "outcome"])
BREAKER_OPEN = Gauge("tradeviz_ticker_breaker_open", "1 while the ticker circuit breaker is open")
MAX_QUOTE_TOKENS = 500


class TickerError(UpstreamUnavailable):
    """The ticker service failed, timed out, or its breaker is open."""


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, httpx.HTTPStatusError):
        return exc.response.status_code >= 500 or exc.response.status_code == 429
    return isinstance(exc, httpx.TransportError)


class _BreakerListener(pybreaker.CircuitBreakerListener):
    def state_change(self, cb: pybreaker.CircuitBreaker, old_state: Any, new_state: Any) -> None:
        BREAKER_OPEN.set(1 if new_state.name == pybreaker.STATE_OPEN else 0)
        logger.warning("ticker circuit breaker %s -> %s", old_state.name, new_state.name)


class TickerClient:
    def __init__(self, base_url: str, *, timeout: float, retries: int, breaker: pybreaker.CircuitBreaker) -> None:
        if not base_url:
            raise TickerError("TICKER_SERVICE_URL is not configured")
        self._http = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout)
        self._retries = retries
        self._breaker = breaker

    def _get(self, endpoint: str, params: dict[str, Any] | None = None) -> httpx.Response:
        @retry(
            retry=retry_if_exception(_retryable),
            stop=stop_after_attempt(self._retries),
            wait=wait_exponential(multiplier=0.2, max=2.0),
            reraise=True,
        )
        def attempt() -> httpx.Response:
            response = self._http.get(endpoint, params=params)
            response.raise_for_status()
            return response

        try:
            response: httpx.Response = self._breaker.call(attempt)
        except pybreaker.CircuitBreakerError as exc:
            REQUESTS.labels(endpoint=endpoint, outcome="breaker_open").inc()
            raise TickerError("ticker service unavailable (circuit open)") from exc
        except (httpx.HTTPError, ValueError) as exc:
            REQUESTS.labels(endpoint=endpoint, outcome="error").inc()
            raise TickerError(f"ticker service {endpoint} failed: {exc}") from exc
        REQUESTS.labels(endpoint=endpoint, outcome="ok").inc()
        return response

    def instruments_csv(self) -> str:
        return self._get("/instruments").text

    def quotes(self, tokens: Iterable[int]) -> dict[int, dict[str, Any]]:
        """token → {"ltp", "ts"} for the tokens the service knows."""
        wanted = [int(t) for t in tokens]
        found: dict[int, dict[str, Any]] = {}
        for start in range(0, len(wanted), MAX_QUOTE_TOKENS):
            chunk = wanted[start : start + MAX_QUOTE_TOKENS]
            data = self._get("/quotes", {"tokens": ",".join(map(str, chunk))}).json().get("data", {})
            found.update({int(k): v for k, v in data.items()})
        return found

    def history(self, token: int, start: datetime, end: datetime) -> list[list[float]]:
        """1-minute candles [ts_ms, o, h, l, c, v, oi] in [start, end)."""
        params = {"token": token, "interval": "minute", "from": start.isoformat(), "to": end.isoformat()}
        rows = self._get("/history", params).json().get("data", [])
        if not isinstance(rows, list):
            raise TickerError("ticker /history answered without a data list")
        return rows


_breaker = pybreaker.CircuitBreaker(
    fail_max=5, reset_timeout=30, listeners=[_BreakerListener()], name="ticker-service"
)


@lru_cache(maxsize=1)
def ticker_client() -> TickerClient:
    """The process-wide client (one connection pool, one breaker)."""
    return TickerClient(
        settings.TICKER_SERVICE_URL,
        timeout=settings.TICKER_TIMEOUT_SECONDS,
        retries=settings.TICKER_RETRIES,
        breaker=_breaker,
    )
