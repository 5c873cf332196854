"""OI buildup, market depth, instrument search and the index monitor."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.views import APIView

from marketdata.selectors.instruments import SEARCH_LIMIT_MAX, UDF_TYPES, search_instruments
from options.apis.params import (
    choice_param,
    date_param,
    float_param,
    instant_param,
    int_param,
    json_response,
    text_param,
)
from options.depth import DEFAULT_DEPTH_LEVELS
from options.selectors.buildup import MAX_WINDOW_MINUTES, oi_buildup
from options.selectors.depth import market_depth
from options.selectors.monitor import MAX_MONITOR_EXPIRIES, MAX_OTM_LEVELS, monitor_snapshot

DEFAULT_WINDOW_MINUTES = 15
MAX_BAND_PCT = 100.0
MAX_DEPTH_LEVELS = 20
MAX_IMPACT_QUANTITY = 1e12
DEFAULT_SEARCH_LIMIT = 20
MAX_SEARCH_OFFSET = 100_000
DEFAULT_MONITOR_EXPIRIES = 2
DEFAULT_OTM_LEVELS = 10


class OiBuildupApi(APIView):
    """Futures and options classified as long/short buildup, short covering, long unwinding (or neutral)."""

    @extend_schema(
        parameters=[
            OpenApiParameter("underlying", str, required=True),
            OpenApiParameter("window", int, description=f"minutes, 1-{MAX_WINDOW_MINUTES}, default 15"),
            OpenApiParameter("expiry", str, description="options of this expiry (default: the nearest)"),
            OpenApiParameter("at", str, description="window end, Unix seconds or ISO-8601 (default: latest)"),
            OpenApiParameter(
                "price_band", float, description="neutral band of price moves, % (default from settings)"
            ),
            OpenApiParameter(
                "oi_band", float, description="neutral band of OI moves, % (default from settings)"
            ),
        ],
        responses={200: dict},
    )
    def get(self, request: Request) -> HttpResponse:
        body = oi_buildup(
            underlying=text_param(request, "underlying", required=True),
            window_minutes=int_param(
                request, "window", default=DEFAULT_WINDOW_MINUTES, minimum=1, maximum=MAX_WINDOW_MINUTES
            ),
            expiry=date_param(request, "expiry", required=False),
            at=instant_param(request, "at"),
            price_band_pct=float_param(request, "price_band", default=None, minimum=0, maximum=MAX_BAND_PCT),
            oi_band_pct=float_param(request, "oi_band", default=None, minimum=0, maximum=MAX_BAND_PCT),
        )
        return json_response(body)


class MarketDepthApi(APIView):
    """Spread, spread bps, L1 and N-level imbalance, microprice, impact cost; 404 "no depth yet"."""

    @extend_schema(
        parameters=[
            OpenApiParameter("quantity", float, description="impact-cost order size (default: one lot)"),
            OpenApiParameter(
                "levels", int, description=f"levels for the imbalance, default {DEFAULT_DEPTH_LEVELS}"
            ),
        ],
        responses={200: dict},
    )
    def get(self, request: Request, token: int) -> HttpResponse:
        quantity = float_param(request, "quantity", default=None, minimum=1e-9, maximum=MAX_IMPACT_QUANTITY)
        levels = int_param(
            request, "levels", default=DEFAULT_DEPTH_LEVELS, minimum=1, maximum=MAX_DEPTH_LEVELS
        )
        return json_response(market_depth(token=token, quantity=quantity, levels=levels))


def _instrument_row(instrument: Any) -> dict[str, Any]:
    return {
        "token": instrument.instrument_token,
        "symbol": instrument.symbol,
        "tradingsymbol": instrument.tradingsymbol,
        "name": instrument.name,
        "exchange": instrument.exchange,
        "instrument_type": instrument.instrument_type,
        "underlying": instrument.underlying,
        "expiry": instrument.expiry.isoformat() if instrument.expiry else None,
        "strike": float(instrument.strike) if instrument.strike is not None else None,
        "lot_size": instrument.lot_size,
        "tick_size": float(instrument.tick_size),
    }


class InstrumentSearchApi(APIView):
    """`{"count", "limit", "offset", "next_offset", "results": [...]}`, best matches first."""

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "q", str, description="part of a trading symbol or name; EXCH:TEXT narrows the exchange"
            ),
            OpenApiParameter("type", str, description=" | ".join(UDF_TYPES)),
            OpenApiParameter("exchange", str),
            OpenApiParameter(
                "limit", int, description=f"1-{SEARCH_LIMIT_MAX}, default {DEFAULT_SEARCH_LIMIT}"
            ),
            OpenApiParameter("offset", int),
        ],
        responses={200: dict},
    )
    def get(self, request: Request) -> HttpResponse:
        limit = int_param(request, "limit", default=DEFAULT_SEARCH_LIMIT, minimum=1, maximum=SEARCH_LIMIT_MAX)
        offset = int_param(request, "offset", default=0, minimum=0, maximum=MAX_SEARCH_OFFSET)
        kind = choice_param(request, "type", choices=("", *UDF_TYPES), default="")
        queryset, total = search_instruments(
            query=text_param(request, "q"),
            udf_type=kind,
            exchange=text_param(request, "exchange"),
            limit=limit,
            offset=offset,
        )
        results = [_instrument_row(i) for i in queryset]
        return json_response(
            {
                "count": total,
                "limit": limit,
                "offset": offset,
                "next_offset": offset + limit if offset + limit < total else None,
                "results": results,
            }
        )


class MonitorApi(APIView):
    """The index monitor snapshot: spot, futures ladder, ATM ± `otm_levels` of the nearest `expiries`."""

    @extend_schema(
        parameters=[
            OpenApiParameter("underlying", str, description="default NIFTY"),
            OpenApiParameter("expiries", int, description=f"1-{MAX_MONITOR_EXPIRIES}, default 2"),
            OpenApiParameter("otm_levels", int, description=f"0-{MAX_OTM_LEVELS}, default 10"),
        ],
        responses={200: dict},
    )
    def get(self, request: Request) -> HttpResponse:
        body = monitor_snapshot(
            underlying=text_param(request, "underlying", default="NIFTY"),
            expiries=int_param(
                request, "expiries", default=DEFAULT_MONITOR_EXPIRIES, minimum=1, maximum=MAX_MONITOR_EXPIRIES
            ),
            otm_levels=int_param(
                request, "otm_levels", default=DEFAULT_OTM_LEVELS, minimum=0, maximum=MAX_OTM_LEVELS
            ),
        )
        return json_response(body)
