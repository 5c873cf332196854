"""Stored analytics as chart series: expiry metrics, multi-strike series, the rolling ATM straddle."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.views import APIView

from options.apis.params import choice_param, instant_param, json_response, required_date, text_param
from options.chains import chain_or_404
from options.selectors.series import (
    METRIC_RESOLUTIONS,
    STRIKE_FIELDS,
    metrics_series,
    parse_strikes,
    straddle_series,
    strike_series,
)

CHAIN_PARAMETERS = [
    OpenApiParameter("underlying", str, required=True, description="e.g. NIFTY"),
    OpenApiParameter("expiry", str, required=True, description="YYYY-MM-DD"),
    OpenApiParameter("from", str, description="Unix seconds or ISO-8601; default: the latest stored day"),
    OpenApiParameter("to", str, description="Unix seconds or ISO-8601 (exclusive)"),
]
SIDE_CHOICES = ("ce", "pe", "both")


def _requested_chain(request: Request) -> Any:
    """The chain named by the `underlying` and `expiry` parameters, or 404."""
    return chain_or_404(text_param(request, "underlying", required=True), required_date(request, "expiry"))


class ExpiryMetricsApi(APIView):
    """`{"underlying", "expiry", "resolution", "t": [...], "pcr_oi": [...], "max_pain": [...], "atm_iv": [...], …}`."""

    @extend_schema(
        parameters=[
            *CHAIN_PARAMETERS,
            OpenApiParameter("resolution", str, description="1 (default), 5 or 15"),
        ],
        responses={200: dict},
    )
    def get(self, request: Request) -> HttpResponse:
        chain = _requested_chain(request)
        body = metrics_series(
            chain=chain,
            resolution=choice_param(request, "resolution", choices=METRIC_RESOLUTIONS, default="1"),
            start=instant_param(request, "from"),
            end=instant_param(request, "to"),
        )
        return json_response(body)


class StrikeSeriesApi(APIView):
    """`{"t": [...], "series": [{"strike", "side", "values": [...]}]}` for `field` of each strike and side."""

    @extend_schema(
        parameters=[
            *CHAIN_PARAMETERS,
            OpenApiParameter("strikes", str, required=True, description="comma-separated, e.g. 24000,24100"),
            OpenApiParameter("field", str, description=f"{' | '.join(STRIKE_FIELDS)} (default oi)"),
            OpenApiParameter("side", str, description="ce | pe | both (default both)"),
            OpenApiParameter("resolution", str, description="minutes, default 1"),
        ],
        responses={200: dict},
    )
    def get(self, request: Request) -> HttpResponse:
        chain = _requested_chain(request)
        side = choice_param(request, "side", choices=SIDE_CHOICES, default="both")
        body = strike_series(
            chain=chain,
            strikes=parse_strikes(text_param(request, "strikes", required=True)),
            field=choice_param(request, "field", choices=tuple(STRIKE_FIELDS), default="oi"),
            sides=("ce", "pe") if side == "both" else (side,),
            resolution=text_param(request, "resolution", default="1"),
            start=instant_param(request, "from"),
            end=instant_param(request, "to"),
        )
        return json_response(body)


class StraddleApi(APIView):
    """The rolling ATM straddle: `{"t", "straddle", "straddle_open/high/low", "atm_strike", "atm_iv", "spot", …}`."""

    @extend_schema(
        parameters=[
            *CHAIN_PARAMETERS,
            OpenApiParameter("resolution", str, description="1 (default), 5 or 15"),
        ],
        responses={200: dict},
    )
    def get(self, request: Request) -> HttpResponse:
        chain = _requested_chain(request)
        body = straddle_series(
            chain=chain,
            resolution=choice_param(request, "resolution", choices=METRIC_RESOLUTIONS, default="1"),
            start=instant_param(request, "from"),
            end=instant_param(request, "to"),
        )
        return json_response(body)
