"""Refreshing the calendar from configurable HTTP sources (the beat jobs behind marketdata.tasks).

Accepted documents (JSON, UTF-8; described in docs/calendar.md):

    HOLIDAYS_SOURCE_URL →
    {"holidays": [{"exchange": "NSE", "date": "2027-01-26", "description": "Republic Day"}, …],
     "special_sessions": [{"exchange": "NSE", "date": "2027-10-29", "open": "18:00", "close": "19:00",
                           "description": "Muhurat trading"}, …]}          (special_sessions optional)

    CORPORATE_ACTIONS_SOURCE_URL →
    {"actions": [{"symbol": "RELIANCE", "type": "bonus", "ex_date": "2024-10-28",
                  "ratio_numerator": 1, "ratio_denominator": 1, "amount": null,
                  "adjustment_factor": null, "description": "Bonus 1:1"}, …]}

Reliability: timeouts on every request; transport errors, 429 and 5xx are retried with exponential
backoff; the whole document is validated before anything is written and a single bad item rejects
it; writes are idempotent upserts that never delete, so a partial list cannot remove rows. Every run
leaves a CalendarFetchRun saying what it changed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, time
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from marketdata.calendar import SIM_EXCHANGE, calendar_exchange
from marketdata.corporate_actions import CorporateActionRow, corporate_action_values, corporate_actions_upsert
from marketdata.models import CalendarFetchRun, CorporateActionType, FetchJob, FetchStatus
from marketdata.services.calendar import (
    HolidayRow,
    SpecialSessionRow,
    UpsertCounts,
    holidays_upsert,
    special_sessions_upsert,
)
from tradeviz.errors import DomainError, UpstreamUnavailable

logger = logging.getLogger(__name__)

HTTP_TIMEOUT_SECONDS = 15.0
HTTP_CONNECT_TIMEOUT_SECONDS = 5.0
HTTP_ATTEMPTS = 3
BACKOFF_INITIAL_SECONDS = 1.0
BACKOFF_MAX_SECONDS = 20.0
# Holiday and corporate-action lists are small; anything bigger is not what we asked for.
MAX_RESPONSE_BYTES = 5 * 1024 * 1024
MAX_ERRORS_RECORDED = 20
MAX_CHANGES_RECORDED = 200
RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
USER_AGENT = "tradeviz-calendar-fetch/1"


class MalformedSource(Exception):
    """The source answered, but not with a document we accept; nothing is written."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors[:MAX_ERRORS_RECORDED]))
        self.errors = errors


class _RetryableStatus(Exception):
    def __init__(self, status_code: int) -> None:
        super().__init__(f"HTTP {status_code}")
        self.status_code = status_code


def redact_url(url: str) -> str:
    """The URL without credentials or query string (which may carry a token), for logs and rows."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _is_transient(exc: BaseException) -> bool:
    return isinstance(exc, httpx.TransportError | _RetryableStatus)


def _log_retry(state: RetryCallState) -> None:
    outcome = state.outcome
    logger.warning(
        "calendar fetch: attempt failed, retrying",
        extra={"attempt": state.attempt_number, "error": repr(outcome.exception()) if outcome else ""},
    )


def download_json(url: str) -> Any:
    """GET `url` and parse JSON, retrying transient failures with exponential backoff.

    Raises httpx errors / _RetryableStatus when the source stays unavailable, MalformedSource for a
    4xx, an oversized body or invalid JSON (those are not retried: asking again will not fix them).
    """
    timeout = httpx.Timeout(HTTP_TIMEOUT_SECONDS, connect=HTTP_CONNECT_TIMEOUT_SECONDS)
    retrying = Retrying(
        stop=stop_after_attempt(HTTP_ATTEMPTS),
        wait=wait_exponential(multiplier=BACKOFF_INITIAL_SECONDS, max=BACKOFF_MAX_SECONDS),
        retry=retry_if_exception(_is_transient),
        before_sleep=_log_retry,
        reraise=True,
    )
    with httpx.Client(timeout=timeout, headers={"User-Agent": USER_AGENT}, follow_redirects=True) as client:
        for attempt in retrying:
            with attempt:
                response = client.get(url)
                if response.status_code in RETRYABLE_STATUS:
                    raise _RetryableStatus(response.status_code)
                if response.status_code >= 400:
                    raise MalformedSource([f"HTTP {response.status_code} from {redact_url(url)}"])
                if len(response.content) > MAX_RESPONSE_BYTES:
                    raise MalformedSource([f"response larger than {MAX_RESPONSE_BYTES} bytes"])
                try:
                    return response.json()
                except ValueError as exc:
                    raise MalformedSource([f"response is not JSON: {exc}"]) from exc
    raise AssertionError("unreachable: tenacity either returns or re-raises")


# --- parsing ----------------------------------------------------------------------------------------


def _object_list(document: Any, key: str, *, required: bool, errors: list[str]) -> list[Any]:
    if not isinstance(document, dict):
        errors.append("document must be a JSON object")
        return []
    if key not in document:
        if required:
            errors.append(f"missing key {key!r}")
        return []
    items = document[key]
    if not isinstance(items, list):
        errors.append(f"{key!r} must be a list")
        return []
    return items


def _field(
    item: dict[str, Any], name: str, where: str, errors: list[str], parse: Callable[[Any], Any]
) -> Any:
    if name not in item or item[name] in (None, ""):
        errors.append(f"{where}.{name}: required")
        return None
    try:
        return parse(item[name])
    except (TypeError, ValueError, InvalidOperation, DomainError) as exc:
        errors.append(f"{where}.{name}: {getattr(exc, 'message', exc)}")
        return None


def _exchange(value: Any) -> str:
    code = calendar_exchange(str(value))
    if code == SIM_EXCHANGE:
        raise ValueError("the simulated exchange has no holidays")
    return code


def _iso_date(value: Any) -> date:
    if not isinstance(value, str):
        raise ValueError("must be an ISO date string")
    return date.fromisoformat(value)


def _wall_time(value: Any) -> time:
    if not isinstance(value, str):
        raise ValueError("must be HH:MM")
    return time.fromisoformat(value)


def _optional_text(item: dict[str, Any], name: str) -> str:
    value = item.get(name)
    return "" if value is None else str(value).strip()


@dataclass(frozen=True, slots=True)
class HolidaysDocument:
    holidays: list[HolidayRow]
    sessions: list[SpecialSessionRow]


def parse_holidays_document(document: Any, *, source: str) -> HolidaysDocument:
    """Validate a whole holidays document; raises MalformedSource listing every problem found."""
    errors: list[str] = []
    holidays: list[HolidayRow] = []
    sessions: list[SpecialSessionRow] = []
    for index, item in enumerate(_object_list(document, "holidays", required=True, errors=errors)):
        where = f"holidays[{index}]"
        if not isinstance(item, dict):
            errors.append(f"{where}: must be an object")
            continue
        exchange = _field(item, "exchange", where, errors, _exchange)
        day = _field(item, "date", where, errors, _iso_date)
        if exchange and day:
            holidays.append(HolidayRow(exchange, day, _optional_text(item, "description"), source))
    for index, item in enumerate(_object_list(document, "special_sessions", required=False, errors=errors)):
        where = f"special_sessions[{index}]"
        if not isinstance(item, dict):
            errors.append(f"{where}: must be an object")
            continue
        exchange = _field(item, "exchange", where, errors, _exchange)
        day = _field(item, "date", where, errors, _iso_date)
        opens = _field(item, "open", where, errors, _wall_time)
        closes = _field(item, "close", where, errors, _wall_time)
        if opens and closes and opens >= closes:
            errors.append(f"{where}: open must be before close")
        elif exchange and day and opens and closes:
            sessions.append(
                SpecialSessionRow(exchange, day, opens, closes, _optional_text(item, "description"), source)
            )
    if errors:
        raise MalformedSource(errors)
    return HolidaysDocument(holidays, sessions)


def _positive_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError("must be a positive integer")
    number = int(value)
    if number <= 0:
        raise ValueError("must be a positive integer")
    return number


def _decimal(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError("must be a number")
    number = Decimal(str(value))
    if not number.is_finite():
        raise ValueError("must be a finite number")
    return number


def _action_type(value: Any) -> str:
    text = str(value).strip().lower()
    if text not in CorporateActionType.values:
        raise ValueError(f"must be one of {', '.join(CorporateActionType.values)}")
    return text


def _optional(
    item: dict[str, Any], name: str, where: str, errors: list[str], parse: Callable[[Any], Any]
) -> Any:
    if item.get(name) in (None, ""):
        return None
    return _field(item, name, where, errors, parse)


def parse_corporate_actions_document(document: Any) -> list[CorporateActionRow]:
    """Validate a whole corporate actions document; raises MalformedSource listing every problem."""
    errors: list[str] = []
    rows: list[CorporateActionRow] = []
    for index, item in enumerate(_object_list(document, "actions", required=True, errors=errors)):
        where = f"actions[{index}]"
        if not isinstance(item, dict):
            errors.append(f"{where}: must be an object")
            continue
        before = len(errors)
        row = CorporateActionRow(
            underlying=_field(item, "symbol", where, errors, lambda v: str(v).strip().upper()) or "",
            action_type=_field(item, "type", where, errors, _action_type) or "",
            ex_date=_field(item, "ex_date", where, errors, _iso_date),
            ratio_numerator=_optional(item, "ratio_numerator", where, errors, _positive_int),
            ratio_denominator=_optional(item, "ratio_denominator", where, errors, _positive_int),
            amount=_optional(item, "amount", where, errors, _decimal),
            adjustment_factor=_optional(item, "adjustment_factor", where, errors, _decimal),
            description=_optional_text(item, "description"),
        )
        if len(errors) > before:
            continue
        try:
            corporate_action_values(row)
        except DomainError as exc:
            errors.append(f"{where}: {exc.message}")
            continue
        rows.append(row)
    if errors:
        raise MalformedSource(errors)
    return rows


# --- runs -------------------------------------------------------------------------------------------


def _start_run(*, job: str, url: str) -> CalendarFetchRun:
    return CalendarFetchRun.objects.create(job=job, source_url=redact_url(url), started_at=timezone.now())


def _finish_run(
    run: CalendarFetchRun,
    *,
    status: str,
    received: int = 0,
    counts: UpsertCounts | None = None,
    error: str = "",
    details: dict[str, Any] | None = None,
) -> CalendarFetchRun:
    counts = counts or UpsertCounts()
    run.status = status
    run.finished_at = timezone.now()
    run.rows_received = received
    run.rows_inserted = counts.inserted
    run.rows_updated = counts.updated
    run.rows_unchanged = counts.unchanged
    run.rows_skipped = counts.kept_admin + counts.skipped_weekend
    run.error = error
    run.details = {
        "changes": counts.changed[:MAX_CHANGES_RECORDED],
        "kept_admin": counts.kept_admin,
        "skipped_weekend": counts.skipped_weekend,
        **(details or {}),
    }
    run.save()
    return run


def _disabled_run(*, job: str, setting: str) -> CalendarFetchRun:
    logger.info("calendar fetch %s disabled: %s is not set", job, setting, extra={"job": job})
    now = timezone.now()
    return CalendarFetchRun.objects.create(
        job=job,
        status=FetchStatus.DISABLED,
        started_at=now,
        finished_at=now,
        error=f"{setting} is not set",
    )


def _run_fetch(
    *, job: str, url: str, apply: Callable[[Any, str], tuple[int, UpsertCounts]]
) -> CalendarFetchRun:
    run = _start_run(job=job, url=url)
    try:
        document = download_json(url)
        with transaction.atomic():
            received, counts = apply(document, f"fetch {redact_url(url)}")
    except MalformedSource as exc:
        logger.error(
            "calendar fetch %s rejected the source document; nothing written",
            job,
            extra={"job": job, "url": redact_url(url), "errors": exc.errors[:MAX_ERRORS_RECORDED]},
        )
        return _finish_run(
            run,
            status=FetchStatus.FAILED,
            error=str(exc),
            details={"errors": exc.errors[:MAX_ERRORS_RECORDED]},
        )
    except (httpx.TransportError, _RetryableStatus) as exc:
        logger.warning(
            "calendar fetch %s: source unavailable",
            job,
            extra={"job": job, "url": redact_url(url), "error": repr(exc)},
        )
        _finish_run(run, status=FetchStatus.FAILED, error=f"source unavailable: {exc!r}")
        raise UpstreamUnavailable(f"{job} source unavailable: {exc}") from exc
    except Exception as exc:
        logger.exception("calendar fetch %s failed", job, extra={"job": job, "url": redact_url(url)})
        _finish_run(run, status=FetchStatus.FAILED, error=repr(exc))
        raise
    logger.info(
        "calendar fetch %s done",
        job,
        extra={
            "job": job,
            "inserted": counts.inserted,
            "updated": counts.updated,
            "unchanged": counts.unchanged,
        },
    )
    return _finish_run(run, status=FetchStatus.SUCCEEDED, received=received, counts=counts)


def _apply_holidays(document: Any, source: str) -> tuple[int, UpsertCounts]:
    parsed = parse_holidays_document(document, source=source)
    counts = holidays_upsert(rows=parsed.holidays)
    counts.add(special_sessions_upsert(rows=parsed.sessions))
    return len(parsed.holidays) + len(parsed.sessions), counts


def _apply_corporate_actions(document: Any, source: str) -> tuple[int, UpsertCounts]:
    rows = parse_corporate_actions_document(document)
    return len(rows), corporate_actions_upsert(rows=rows, source=source)


def fetch_holidays(*, url: str | None = None) -> CalendarFetchRun:
    """Fetch holidays (and special sessions) from `url` or settings.HOLIDAYS_SOURCE_URL and upsert them.

    No URL: records a `disabled` run and returns. A malformed document: a `failed` run, nothing
    written. Source unavailable after retries: a `failed` run, then UpstreamUnavailable (Celery retries).
    """
    url = settings.HOLIDAYS_SOURCE_URL if url is None else url
    if not url:
        return _disabled_run(job=FetchJob.HOLIDAYS, setting="HOLIDAYS_SOURCE_URL")
    return _run_fetch(job=FetchJob.HOLIDAYS, url=url, apply=_apply_holidays)


def fetch_corporate_actions(*, url: str | None = None) -> CalendarFetchRun:
    """Fetch corporate actions from `url` or settings.CORPORATE_ACTIONS_SOURCE_URL and upsert them.

    Same contract as fetch_holidays. Applying them to derivatives is a separate job.
    """
    url = settings.CORPORATE_ACTIONS_SOURCE_URL if url is None else url
    if not url:
        return _disabled_run(job=FetchJob.CORPORATE_ACTIONS, setting="CORPORATE_ACTIONS_SOURCE_URL")
    return _run_fetch(job=FetchJob.CORPORATE_ACTIONS, url=url, apply=_apply_corporate_actions)


def record_job_run(
    *, job: str, counts: UpsertCounts, details: dict[str, Any] | None = None
) -> CalendarFetchRun:
    """Record a run of a non-HTTP calendar job (offline seed, applying corporate actions)."""
    run = CalendarFetchRun.objects.create(job=job, started_at=timezone.now())
    return _finish_run(run, status=FetchStatus.SUCCEEDED, counts=counts, details=details)
