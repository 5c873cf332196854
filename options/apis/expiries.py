"""F&O expiries of an underlying, nearest first."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from marketdata.expiries import (
    DEFAULT_EXPIRY_LIMIT,
    EXPIRY_SOURCES,
    MAX_EXPIRY_LIMIT,
    SOURCE_AUTO,
    expiries_for_underlying,
)
from tradeviz.errors import InvalidInput


class ExpiryListApi(APIView):
    """`[{"expiry", "label", "days_to_expiry", "source", "has_futures", "contract_expiry"}, …]`.

    `expiry` is the effective date (moved to the previous trading day if the listed date became a
    holiday); `contract_expiry` is the instrument master's date (null for rule-based entries).
    """

    class InputSerializer(serializers.Serializer):  # type: ignore[type-arg]
        underlying = serializers.CharField(max_length=64, trim_whitespace=True)
        limit = serializers.IntegerField(
            min_value=1, max_value=MAX_EXPIRY_LIMIT, default=DEFAULT_EXPIRY_LIMIT
        )
        # The query parameter is named `source`, which shadows Field.source for the type checker only:
        # DRF's serializer metaclass moves declared fields out of the class attributes.
        source = serializers.ChoiceField(choices=EXPIRY_SOURCES, default=SOURCE_AUTO)  # type: ignore[assignment]

    @extend_schema(
        parameters=[
            OpenApiParameter("underlying", str, required=True, description="e.g. NIFTY, BANKNIFTY, RELIANCE"),
            OpenApiParameter(
                "limit", int, description=f"1-{MAX_EXPIRY_LIMIT}, default {DEFAULT_EXPIRY_LIMIT}"
            ),
            OpenApiParameter("source", str, description="auto (listed, else rules), listed or rule"),
        ],
        responses={200: dict},
    )
    def get(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.query_params)
        if not serializer.is_valid():
            raise InvalidInput("Invalid query parameters.", details=serializer.errors)
        params: dict[str, Any] = serializer.validated_data
        expiries = expiries_for_underlying(
            underlying=params["underlying"], limit=params["limit"], source=params["source"]
        )
        return Response(
            [
                {
                    "expiry": e.expiry.isoformat(),
                    "label": e.label,
                    "days_to_expiry": e.days_to_expiry,
                    "source": e.source,
                    "has_futures": e.has_futures,
                    "contract_expiry": e.contract_expiry.isoformat() if e.contract_expiry else None,
                }
                for e in expiries
            ]
        )
