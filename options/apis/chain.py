"""GET /api/v1/fo/option-chain: the chain of an expiry with IV, greeks, PCRs and max pain."""

from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.views import APIView

from options.apis.params import instant_param, int_param, json_response, required_date, text_param
from options.selectors.chain import MAX_STRIKES_EACH_SIDE, option_chain


class OptionChainApi(APIView):
    """The chain centred on the ATM strike (nearest the forward), `strikes` either side (0: all).

    Every number is computed from the inputs shown: `price` is the premium IV was solved from (bid/ask
    mid or LTP, per `price_source`); `iv` and greeks are null with `iv_reason` when undefined. PCRs,
    max pain, support and resistance cover every listed strike of the expiry (`strikes_total`).
    """

    @extend_schema(
        parameters=[
            OpenApiParameter("underlying", str, required=True, description="e.g. NIFTY"),
            OpenApiParameter("expiry", str, required=True, description="YYYY-MM-DD"),
            OpenApiParameter(
                "at", str, description="Unix seconds or ISO-8601 (no offset: IST); omit for live"
            ),
            OpenApiParameter(
                "strikes", int, description=f"strikes each side of ATM, 0-{MAX_STRIKES_EACH_SIDE}; 0 = all"
            ),
        ],
        responses={200: dict},
    )
    def get(self, request: Request) -> HttpResponse:
        body = option_chain(
            underlying=text_param(request, "underlying", required=True),
            expiry=required_date(request, "expiry"),
            at=instant_param(request, "at"),
            strikes=int_param(request, "strikes", default=0, minimum=0, maximum=MAX_STRIKES_EACH_SIDE),
        )
        return json_response(body)
