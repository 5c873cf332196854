"""The TradingView UDF datafeed under /api/v1/udf/, speaking the protocol exactly (docs/udf.md).

UDF keeps its own error shape — HTTP 200 with `{"s": "error", "errmsg": …}` is what the adapter
expects — so these views answer every bad input that way, never with a 500 or the API error shape.
Authentication failures are 401 with the same body.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import numpy as np
import orjson
from django.conf import settings
from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions as drf_exceptions
from rest_framework.request import Request
from rest_framework.views import APIView

from marketdata.history_cache import cached_answer
from marketdata.selectors.history import history_json, next_time_before, no_data_json, parse_history_request
from marketdata.selectors.instruments import (
    TYPE_TO_UDF,
    InstrumentRef,
    instrument_by_symbol,
    search_instruments,
)
from marketdata.selectors.quotes import quote_values
from tradeviz.errors import DomainError, InvalidInput

logger = logging.getLogger(__name__)

SUPPORTED_RESOLUTIONS = ["1", "3", "5", "10", "15", "30", "60", "120", "240", "1D", "1W", "1M", "12M"]
INTRADAY_MULTIPLIERS = ["1", "3", "5", "10", "15", "30", "60", "120", "240"]
# Latest accepted timestamp (2100-01-01): anything later is a client bug, not a date.
MAX_TIMESTAMP = 4_102_444_800
MAX_QUOTE_SYMBOLS = 100
DEFAULT_SEARCH_LIMIT = 30
SESSIONS = {"SIM": "24x7"}
NSE_SESSION = "0915-1530"
EXCHANGES = [
    {"value": "", "name": "All Exchanges", "desc": ""},
    {"value": "NSE", "name": "NSE", "desc": "National Stock Exchange of India"},
    {"value": "NFO", "name": "NFO", "desc": "NSE Futures & Options"},
    {"value": "SIM", "name": "SIM", "desc": "Simulated exchange (24x7 demo)"},
]
SYMBOL_TYPES = [
    {"name": "All types", "value": ""},
    {"name": "Index", "value": "index"},
    {"name": "Stock", "value": "stock"},
    {"name": "Futures", "value": "futures"},
    {"name": "Option", "value": "option"},
]


def json_response(body: bytes | Any, status: int = 200) -> HttpResponse:
    payload = body if isinstance(body, bytes) else orjson.dumps(body)
    return HttpResponse(payload, status=status, content_type="application/json")


def udf_error(message: str, status: int = 200) -> HttpResponse:
    return json_response({"s": "error", "errmsg": message}, status=status)


def int_param(request: Request, name: str, *, required: bool = True, minimum: int = 0,
              maximum: int = MAX_TIMESTAMP) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw.strip() == "":
        if required:
            raise InvalidInput(f"missing parameter: {name}")
        return None
    text = raw.strip()
    # Accept plain integers only ("1.5", "1e9", "0x10", "NaN" are client errors).
    if not (text.isdigit() or (text[0] == "-" and text[1:].isdigit())) or len(text) > 12:
        raise InvalidInput(f"{name} must be an integer, got {raw[:40]!r}")
    value = int(text)
    if not minimum <= value <= maximum:
        raise InvalidInput(f"{name} must be between {minimum} and {maximum}")
    return value


def _flag(request: Request, name: str, *, default: bool) -> bool:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in ("1", "true", "yes"):
        return True
    if raw.lower() in ("0", "false", "no"):
        return False
    raise InvalidInput(f"{name} must be 0 or 1")


def adjust_for_corporate_actions(body: bytes, *, instrument_id: int) -> bytes:
    """Back-adjust prices (and volumes) of a history body for splits/bonuses; raw bars stay untouched.

    Most instruments have no corporate actions, so the common path is one small query and the
    body is returned as PostgreSQL built it.
    """
    from marketdata.corporate_actions import adjustment_factors, factor_multipliers
    from marketdata.models import Instrument

    data = orjson.loads(body)
    times = np.asarray(data["t"], dtype=np.int64)
    instrument = Instrument.objects.get(pk=instrument_id)
    first = datetime.fromtimestamp(int(times[0]), tz=UTC).date()
    last = datetime.fromtimestamp(int(times[-1]), tz=UTC).date()
    factors = adjustment_factors(instrument=instrument, start=first, end=last)
    if not factors:
        return body
    multipliers = factor_multipliers(times=times, factors=factors)
    for key in ("o", "h", "l", "c"):
        data[key] = np.round(np.asarray(data[key], dtype=np.float64) * multipliers, 4).tolist()
    data["v"] = np.round(np.asarray(data["v"], dtype=np.float64) / multipliers).astype(np.int64).tolist()
    return orjson.dumps(data)


def time_range(request: Request) -> tuple[int, int]:
    """The required `from` and `to` parameters (Unix seconds)."""
    start, end = int_param(request, "from"), int_param(request, "to")
    assert start is not None
    assert end is not None
    return start, end


class UdfApi(APIView):
    """Base: UDF-shaped errors for everything that can go wrong."""

    def handle_exception(self, exc: Exception) -> HttpResponse:  # type: ignore[override]
        if isinstance(exc, (drf_exceptions.NotAuthenticated, drf_exceptions.AuthenticationFailed)):
            response = udf_error(str(exc.detail), status=401)
            response["WWW-Authenticate"] = 'Bearer realm="api"'
            return response
        if isinstance(exc, drf_exceptions.Throttled):
            return udf_error(str(exc.detail), status=429)
        if isinstance(exc, drf_exceptions.APIException):
            return udf_error(str(exc.detail), status=exc.status_code if exc.status_code < 500 else 200)
        if isinstance(exc, DomainError):
            return udf_error(exc.message)
        logger.exception("UDF request failed", extra={"path": self.request.path})
        return udf_error("internal error; the request was logged")


def symbol_info(ref: InstrumentRef) -> dict[str, Any]:
    """LibrarySymbolInfo for one instrument. Tick size = minmov / pricescale (0.05 → 5 / 100)."""
    from marketdata.calendar import has_year_data, session_corrections_string, session_holidays_string

    tick = ref.tick_size.normalize()
    decimals = max(0, -tick.as_tuple().exponent)  # type: ignore[operator]
    pricescale = 10**decimals
    minmov = int(tick * pricescale)
    this_year = datetime.now(tz=UTC).year
    years = [y for y in (this_year - 1, this_year, this_year + 1) if has_year_data(ref.exchange, y)]
    holidays = session_holidays_string(ref.exchange, years)
    corrections = session_corrections_string(ref.exchange, years)
    return {
        "name": ref.tradingsymbol,
        "ticker": ref.symbol,
        "full_name": ref.symbol,
        "description": ref.name or ref.tradingsymbol,
        "type": TYPE_TO_UDF.get(ref.instrument_type, "stock"),
        "session": SESSIONS.get(ref.exchange, NSE_SESSION),
        "session_holidays": holidays,
        "corrections": corrections,
        "timezone": settings.MARKET_TIME_ZONE,
        "exchange": ref.exchange,
        "listed_exchange": ref.exchange,
        "format": "price",
        "pricescale": pricescale,
        "minmov": minmov,
        "has_intraday": True,
        "intraday_multipliers": INTRADAY_MULTIPLIERS,
        "has_daily": True,
        "has_weekly_and_monthly": True,
        "supported_resolutions": SUPPORTED_RESOLUTIONS,
        "volume_precision": 0,
        "data_status": "streaming",
        "lot_size": ref.lot_size,
        "expiry": ref.expiry,
        "strike": float(ref.strike) if isinstance(ref.strike, Decimal) else None,
    }


class UdfConfigApi(UdfApi):
    @extend_schema(summary="UDF configuration", responses={200: dict})
    def get(self, request: Request) -> HttpResponse:
        return json_response(
            {
                "supported_resolutions": SUPPORTED_RESOLUTIONS,
                "supports_search": True,
                "supports_group_request": False,
                "supports_marks": True,
                "supports_timescale_marks": True,
                "supports_time": True,
                "exchanges": EXCHANGES,
                "symbols_types": SYMBOL_TYPES,
            }
        )


class UdfTimeApi(UdfApi):
    @extend_schema(summary="Server time (Unix seconds, a bare number)", responses={200: int})
    def get(self, request: Request) -> HttpResponse:
        return json_response(int(time.time()))


class UdfSymbolsApi(UdfApi):
    @extend_schema(
        summary="LibrarySymbolInfo for one symbol",
        parameters=[OpenApiParameter("symbol", str, required=True, description="EXCHANGE:TRADINGSYMBOL")],
        responses={200: dict},
    )
    def get(self, request: Request) -> HttpResponse:
        ref = instrument_by_symbol(request.query_params.get("symbol", ""))
        return json_response(symbol_info(ref))


class UdfSearchApi(UdfApi):
    @extend_schema(
        summary="Symbol search (a bare array)",
        parameters=[
            OpenApiParameter("query", str), OpenApiParameter("type", str),
            OpenApiParameter("exchange", str), OpenApiParameter("limit", int),
        ],
        responses={200: dict},
    )
    def get(self, request: Request) -> HttpResponse:
        limit = int_param(request, "limit", required=False, minimum=1, maximum=1000) or DEFAULT_SEARCH_LIMIT
        query = request.query_params.get("query", "")[:64]
        matches, _ = search_instruments(
            query=query,
            udf_type=request.query_params.get("type", "")[:16],
            exchange=request.query_params.get("exchange", "")[:8],
            limit=limit,
        )
        return json_response(
            [
                {
                    "symbol": m.tradingsymbol,
                    "full_name": m.symbol,
                    "description": m.name or m.tradingsymbol,
                    "exchange": m.exchange,
                    "ticker": m.symbol,
                    "type": TYPE_TO_UDF.get(m.instrument_type, "stock"),
                }
                for m in matches
            ]
        )


class UdfHistoryApi(UdfApi):
    @extend_schema(
        summary="OHLCV bars",
        parameters=[
            OpenApiParameter("symbol", str, required=True), OpenApiParameter("resolution", str, required=True),
            OpenApiParameter("from", int, required=True), OpenApiParameter("to", int, required=True),
            OpenApiParameter("countback", int),
            OpenApiParameter("adjusted", int, description="1: back-adjust for splits/bonuses (default from settings)"),
        ],
        responses={200: dict},
    )
    def get(self, request: Request) -> HttpResponse:
        ref = instrument_by_symbol(request.query_params.get("symbol", ""))
        resolution = request.query_params.get("resolution", "")
        if not resolution:
            raise InvalidInput("missing parameter: resolution")
        start = int_param(request, "from")
        end = int_param(request, "to")
        countback = int_param(request, "countback", required=False, minimum=1, maximum=10**9)
        assert start is not None
        assert end is not None
        if start > end:
            raise InvalidInput("from must not be after to")
        history = parse_history_request(
            instrument_id=ref.id, resolution=resolution[:8], start=start, end=end, countback=countback
        )

        adjusted = _flag(request, "adjusted", default=settings.UDF_ADJUST_FOR_CORPORATE_ACTIONS)

        def compute() -> bytes:
            body, count = history_json(history)
            if count:
                return adjust_for_corporate_actions(body, instrument_id=ref.id) if adjusted else body
            if countback is not None:
                return no_data_json(None)
            return no_data_json(
                next_time_before(instrument_id=ref.id, resolution=history.resolution, before=history.start)
            )

        return json_response(
            cached_answer(
                instrument_id=ref.id,
                resolution=history.resolution.udf,
                request_key=f"{history.cache_key}:{int(adjusted)}",
                compute=compute,
            )
        )


class UdfQuotesApi(UdfApi):
    @extend_schema(
        summary="Quotes for symbols (comma-separated)",
        parameters=[OpenApiParameter("symbols", str, required=True)],
        responses={200: dict},
    )
    def get(self, request: Request) -> HttpResponse:
        names = [s for s in request.query_params.get("symbols", "").split(",") if s.strip()]
        if not names:
            raise InvalidInput("missing parameter: symbols")
        if len(names) > MAX_QUOTE_SYMBOLS:
            raise InvalidInput(f"at most {MAX_QUOTE_SYMBOLS} symbols per request")
        resolved: list[tuple[str, InstrumentRef | None, str]] = []
        for name in names:
            try:
                resolved.append((name, instrument_by_symbol(name), ""))
            except DomainError as exc:
                resolved.append((name, None, exc.message))
        refs = [ref for _, ref, _ in resolved if ref is not None]
        values = quote_values(refs) if refs else {}
        items = [
            {"s": "ok", "n": name, "v": values[ref.id]} if ref is not None
            else {"s": "error", "n": name, "v": {}, "errmsg": error}
            for name, ref, error in resolved
        ]
        return json_response({"s": "ok", "d": items})


class UdfMarksApi(UdfApi):
    @extend_schema(summary="Bar marks (ML labels)", responses={200: dict})
    def get(self, request: Request) -> HttpResponse:
        ref = instrument_by_symbol(request.query_params.get("symbol", ""))
        start, end = time_range(request)
        marks = bar_marks(instrument_id=ref.id, start=start, end=end, resolution=request.query_params.get("resolution", "1D"))
        return json_response(marks)


class UdfTimescaleMarksApi(UdfApi):
    @extend_schema(summary="Time-scale marks (holidays, expiries, corporate actions)", responses={200: dict})
    def get(self, request: Request) -> HttpResponse:
        ref = instrument_by_symbol(request.query_params.get("symbol", ""))
        start, end = time_range(request)
        return json_response(timescale_marks(ref=ref, start=start, end=end))


MARK_FIELDS = ("id", "time", "color", "text", "label", "labelFontColor", "minSize")


def bar_marks(*, instrument_id: int, start: int, end: int, resolution: str) -> dict[str, list[Any]]:
    """Marks on bars as UDF's column table. ML labels fill this (labels app); none yet."""
    return {field: [] for field in MARK_FIELDS}


def timescale_marks(*, ref: InstrumentRef, start: int, end: int) -> list[dict[str, Any]]:
    from marketdata import corporate_actions

    start_date = datetime.fromtimestamp(start, tz=UTC).date()
    end_date = datetime.fromtimestamp(end, tz=UTC).date()
    marks: list[dict[str, Any]] = []
    marks += corporate_actions.holiday_marks(exchange=ref.exchange, start=start_date, end=end_date)
    if ref.underlying:
        marks += corporate_actions.expiry_marks(underlying=ref.underlying, start=start_date, end=end_date)
    marks += corporate_actions.corporate_action_marks(symbol=ref.symbol, start=start_date, end=end_date)
    return sorted(marks, key=lambda m: m["time"])
