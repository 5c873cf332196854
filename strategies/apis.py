"""Strategies API under /api/v1/strategies/: CRUD of strategies and their legs ("instruments"), the M2M
candles and the payoff. Another user's strategy answers 404, exactly like an id that does not exist."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.apis import request_user
from strategies import services
from strategies.payoff import DEFAULT_POINTS, PayoffRequest, payoff
from strategies.selectors import (
    DEFAULT_HISTORY,
    MarkedLeg,
    leg_get,
    m2m_history,
    marked_legs,
    strategies_for,
    strategy_get,
)
from tradeviz.errors import InvalidInput


def _money(**kwargs: Any) -> serializers.DecimalField:
    # Numbers in JSON, not strings: the dashboards and clients do arithmetic on them.
    return serializers.DecimalField(max_digits=18, decimal_places=4, coerce_to_string=False, **kwargs)

# Unix seconds accepted for from/to: 2000-01-01 … 2100-01-01.
MIN_EPOCH, MAX_EPOCH = 946_684_800, 4_102_444_800


class InstrumentRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    instrument_token = serializers.IntegerField()
    symbol = serializers.CharField()
    tradingsymbol = serializers.CharField()
    instrument_type = serializers.CharField()
    underlying = serializers.CharField()
    expiry = serializers.DateField(allow_null=True)
    strike = _money(allow_null=True)
    lot_size = serializers.IntegerField()


class LegOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="leg.id")
    instrument = InstrumentRefSerializer(source="leg.instrument")
    side = serializers.CharField(source="leg.side")
    lots = serializers.IntegerField(source="leg.lots")
    quantity = serializers.IntegerField(source="leg.quantity", help_text="units: lots x lot size")
    entry_price = _money(source="leg.entry_price")
    entry_time = serializers.DateTimeField(source="leg.entry_time")
    exit_price = _money(source="leg.exit_price", allow_null=True)
    exit_time = serializers.DateTimeField(source="leg.exit_time", allow_null=True)
    status = serializers.CharField(source="leg.status")
    last_price = _money(allow_null=True)
    price_stale = serializers.BooleanField()
    pnl = _money()


class StrategyOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    description = serializers.CharField()
    tags = serializers.ListField(child=serializers.CharField())
    status = serializers.CharField()
    trading_account = serializers.IntegerField(source="trading_account_id", allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    closed_at = serializers.DateTimeField(allow_null=True)
    current_m2m = _money()
    realised_pnl = _money()
    unrealised_pnl = _money()
    stale_legs = serializers.IntegerField()
    m2m_updated_at = serializers.DateTimeField(allow_null=True)


class StrategyListItemSerializer(StrategyOutputSerializer):
    leg_count = serializers.IntegerField()
    open_leg_count = serializers.IntegerField()


class LegInputSerializer(serializers.Serializer):
    """Documentation of the leg body; validation is the service's (strategies.services.leg_input)."""

    instrument_token = serializers.IntegerField(required=False)
    symbol = serializers.CharField(required=False, help_text="EXCHANGE:TRADINGSYMBOL, e.g. NFO:NIFTY25DECFUT")
    side = serializers.ChoiceField(choices=["BUY", "SELL"])
    lots = serializers.IntegerField(min_value=1)
    entry_price = serializers.DecimalField(max_digits=18, decimal_places=4)
    entry_time = serializers.DateTimeField(required=False, help_text="default now")
    exit_price = serializers.DecimalField(max_digits=18, decimal_places=4, required=False, allow_null=True)
    exit_time = serializers.DateTimeField(required=False, allow_null=True)


class StrategyInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    description = serializers.CharField(required=False, allow_blank=True)
    tags = serializers.ListField(child=serializers.CharField(max_length=32), required=False)
    trading_account = serializers.IntegerField(required=False, allow_null=True)
    status = serializers.ChoiceField(choices=["ACTIVE", "PAUSED", "CLOSED"], required=False)
    instruments = LegInputSerializer(many=True, required=False)


def _body(request: Request) -> Mapping[str, Any]:
    data = request.data
    if not isinstance(data, Mapping):
        raise InvalidInput("The request body must be a JSON object.")
    return data


def _strategy_body(strategy: Any) -> dict[str, Any]:
    body = dict(StrategyOutputSerializer(strategy).data)
    body["instruments"] = LegOutputSerializer(marked_legs(strategy=strategy), many=True).data
    return body


def _leg_body(strategy: Any, leg_id: int) -> dict[str, Any]:
    marked: list[MarkedLeg] = [m for m in marked_legs(strategy=strategy) if m.leg.pk == leg_id]
    return dict(LegOutputSerializer(marked[0]).data)


class StrategyListCreateApi(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("status", OpenApiTypes.STR, description="ACTIVE, PAUSED, CLOSED (comma-separated)")],
        responses=StrategyListItemSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        strategies = strategies_for(user=request_user(request), status=request.query_params.get("status") or None)
        return Response(StrategyListItemSerializer(strategies, many=True).data)

    @extend_schema(request=StrategyInputSerializer, responses={201: StrategyOutputSerializer})
    def post(self, request: Request) -> Response:
        data = _body(request)
        legs = data.get("instruments") or []
        if not isinstance(legs, list) or not all(isinstance(leg, Mapping) for leg in legs):
            raise InvalidInput("instruments must be a list of objects.", details={"instruments": ["must be a list"]})
        strategy = services.strategy_create(
            owner=request_user(request),
            name=data.get("name", ""),
            description=data.get("description", ""),
            tags=data.get("tags"),
            trading_account_id=data.get("trading_account"),
            status=str(data.get("status") or "ACTIVE").upper(),
            legs=legs,
        )
        return Response(_strategy_body(strategy), status=status.HTTP_201_CREATED)


class StrategyDetailApi(APIView):
    @extend_schema(responses=StrategyOutputSerializer)
    def get(self, request: Request, strategy_id: int) -> Response:
        strategy = strategy_get(user=request_user(request), strategy_id=strategy_id)
        return Response(_strategy_body(strategy))

    @extend_schema(request=StrategyInputSerializer, responses=StrategyOutputSerializer)
    def patch(self, request: Request, strategy_id: int) -> Response:
        strategy = strategy_get(user=request_user(request), strategy_id=strategy_id)
        data = _body(request)
        if "instruments" in data:
            raise InvalidInput("Change legs through /instruments/.", details={"instruments": ["not editable here"]})
        strategy = services.strategy_update(strategy=strategy, data=data)
        return Response(_strategy_body(strategy))

    @extend_schema(request=None, responses={204: None})
    def delete(self, request: Request, strategy_id: int) -> Response:
        strategy = strategy_get(user=request_user(request), strategy_id=strategy_id)
        services.strategy_delete(strategy=strategy)
        return Response(status=status.HTTP_204_NO_CONTENT)


class LegListCreateApi(APIView):
    @extend_schema(responses=LegOutputSerializer(many=True))
    def get(self, request: Request, strategy_id: int) -> Response:
        strategy = strategy_get(user=request_user(request), strategy_id=strategy_id)
        return Response(LegOutputSerializer(marked_legs(strategy=strategy), many=True).data)

    @extend_schema(request=LegInputSerializer, responses={201: LegOutputSerializer})
    def post(self, request: Request, strategy_id: int) -> Response:
        strategy = strategy_get(user=request_user(request), strategy_id=strategy_id)
        leg = services.leg_add(strategy=strategy, data=_body(request))
        return Response(_leg_body(strategy, leg.pk), status=status.HTTP_201_CREATED)


class LegDetailApi(APIView):
    @extend_schema(responses=LegOutputSerializer)
    def get(self, request: Request, strategy_id: int, leg_id: int) -> Response:
        strategy = strategy_get(user=request_user(request), strategy_id=strategy_id)
        leg = leg_get(strategy=strategy, leg_id=leg_id)
        return Response(_leg_body(strategy, leg.pk))

    @extend_schema(request=LegInputSerializer, responses=LegOutputSerializer)
    def patch(self, request: Request, strategy_id: int, leg_id: int) -> Response:
        strategy = strategy_get(user=request_user(request), strategy_id=strategy_id)
        leg = leg_get(strategy=strategy, leg_id=leg_id)
        services.leg_update(leg=leg, data=_body(request))
        return Response(_leg_body(strategy, leg.pk))

    @extend_schema(request=None, responses={204: None})
    def delete(self, request: Request, strategy_id: int, leg_id: int) -> Response:
        strategy = strategy_get(user=request_user(request), strategy_id=strategy_id)
        services.leg_delete(leg=leg_get(strategy=strategy, leg_id=leg_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


def _epoch(request: Request, name: str, default: int) -> datetime:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        value = default
    else:
        text = raw.strip()
        if not text.lstrip("-").isdigit():
            raise InvalidInput(f"{name} must be Unix seconds", details={name: [raw[:20]]})
        value = int(text)
    if not MIN_EPOCH <= value <= MAX_EPOCH:
        raise InvalidInput(f"{name} is out of range", details={name: [str(value)]})
    return datetime.fromtimestamp(value, tz=UTC)


class StrategyM2MApi(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("from", OpenApiTypes.INT, description="Unix seconds, inclusive (default: to - 1 day)"),
            OpenApiParameter("to", OpenApiTypes.INT, description="Unix seconds, exclusive (default: now)"),
            OpenApiParameter("resolution", OpenApiTypes.STR, description="UDF resolution: 1, 5, 15, 60, D … (default 1)"),
        ],
        responses={200: dict},
    )
    def get(self, request: Request, strategy_id: int) -> HttpResponse:
        strategy = strategy_get(user=request_user(request), strategy_id=strategy_id)
        now = int(timezone.now().timestamp()) + 60
        end = _epoch(request, "to", now)
        start = _epoch(request, "from", int(end.timestamp() - DEFAULT_HISTORY.total_seconds()))
        body, count = m2m_history(
            strategy=strategy, start=start, end=end, resolution=request.query_params.get("resolution") or "1"
        )
        return HttpResponse(body if count else b'{"s":"no_data"}', content_type="application/json")


def _float_param(request: Request, name: str) -> float | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except ValueError as exc:
        raise InvalidInput(f"{name} must be a number", details={name: [raw[:20]]}) from exc
    if not value > 0 or value == float("inf"):
        raise InvalidInput(f"{name} must be a positive number", details={name: [raw[:20]]})
    return value


class StrategyPayoffApi(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("spot", OpenApiTypes.NUMBER, description="underlying price (default: its last price)"),
            OpenApiParameter("lower", OpenApiTypes.NUMBER, description="range start (default spot - 10 %)"),
            OpenApiParameter("upper", OpenApiTypes.NUMBER, description="range end (default spot + 10 %)"),
            OpenApiParameter("points", OpenApiTypes.INT, description=f"grid points (default {DEFAULT_POINTS})"),
        ],
        responses={200: dict},
    )
    def get(self, request: Request, strategy_id: int) -> Response:
        strategy = strategy_get(user=request_user(request), strategy_id=strategy_id)
        raw_points = request.query_params.get("points") or str(DEFAULT_POINTS)
        if not raw_points.isdigit():
            raise InvalidInput("points must be an integer", details={"points": [raw_points[:20]]})
        payoff_request = PayoffRequest(
            spot=_float_param(request, "spot"),
            lower=_float_param(request, "lower"),
            upper=_float_param(request, "upper"),
            points=int(raw_points),
        )
        return Response(payoff(strategy=strategy, request=payoff_request, now=timezone.now()))


# The same endpoints with a trailing slash (the rest of the API has one), left out of the schema.
@extend_schema(exclude=True)
class StrategyM2MSlashApi(StrategyM2MApi):
    pass


@extend_schema(exclude=True)
class StrategyPayoffSlashApi(StrategyPayoffApi):
    pass
