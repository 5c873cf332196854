"""Trading-account API under /api/v1/accounts/: a user's accounts and, per account, positions, orders,
holdings and funds. Read-only: orders arrive from the broker's order stream, the rest from the broker
sync. Another user's account answers 404, exactly like an id that does not exist."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.apis import request_user
from accounts.models import FundsSnapshot, Holding, Order, TradingAccount
from accounts.selectors import (
    FUNDS_HISTORY_DEFAULT,
    MarkedPosition,
    funds_for,
    holdings_for,
    orders_for,
    positions_for,
    trading_account_get,
    trading_accounts_for,
)
from tradeviz.errors import InvalidInput


def _money() -> serializers.DecimalField:
    # Numbers in JSON, not strings: the dashboards and clients do arithmetic on them.
    return serializers.DecimalField(max_digits=18, decimal_places=4, coerce_to_string=False, read_only=True)


class TradingAccountOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = TradingAccount
        fields = ("id", "broker", "broker_account_id", "display_name", "status", "created_at", "last_synced_at")


class PositionOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="position.id")
    account = serializers.IntegerField(source="position.account_id")
    instrument = serializers.IntegerField(source="position.instrument_id")
    instrument_token = serializers.IntegerField(source="position.instrument.instrument_token")
    tradingsymbol = serializers.CharField(source="position.instrument.tradingsymbol")
    symbol = serializers.CharField(source="position.instrument.symbol")
    product = serializers.CharField(source="position.product")
    quantity = serializers.IntegerField(source="position.quantity")
    average_price = serializers.DecimalField(18, 4, source="position.average_price", coerce_to_string=False)
    buy_quantity = serializers.IntegerField(source="position.buy_quantity")
    sell_quantity = serializers.IntegerField(source="position.sell_quantity")
    last_price = serializers.DecimalField(18, 4, coerce_to_string=False, allow_null=True)
    realised_pnl = serializers.DecimalField(18, 4, source="position.realised_pnl", coerce_to_string=False)
    unrealised_pnl = serializers.DecimalField(18, 4, coerce_to_string=False)
    total_pnl = serializers.DecimalField(18, 4, coerce_to_string=False)
    live = serializers.BooleanField(help_text="True when marked at a live last price")
    updated_at = serializers.DateTimeField(source="position.updated_at")


class OrderOutputSerializer(serializers.ModelSerializer):
    account = serializers.IntegerField(source="account_id")
    price = _money()
    average_price = _money()
    pending_quantity = serializers.SerializerMethodField()

    class Meta:
        model = Order
        fields = (
            "id", "account", "broker_order_id", "instrument_token", "tradingsymbol", "product", "side", "status",
            "quantity", "filled_quantity", "pending_quantity", "price", "average_price", "tag", "status_message",
            "placed_at", "exchange_updated_at", "open_at", "trigger_pending_at", "completed_at", "cancelled_at",
            "rejected_at",
        )

    def get_pending_quantity(self, order: Order) -> int:
        return order.quantity - order.filled_quantity


class HoldingOutputSerializer(serializers.ModelSerializer):
    account = serializers.IntegerField(source="account_id")
    average_price = _money()
    last_price = serializers.DecimalField(18, 4, coerce_to_string=False, read_only=True, allow_null=True)
    pnl = _money()

    class Meta:
        model = Holding
        fields = ("id", "account", "instrument_token", "tradingsymbol", "isin", "quantity", "t1_quantity",
                  "average_price", "last_price", "pnl", "updated_at")


class FundsSnapshotOutputSerializer(serializers.ModelSerializer):
    opening_balance = _money()
    available_cash = _money()
    used_margin = _money()
    available_margin = _money()
    collateral = _money()

    class Meta:
        model = FundsSnapshot
        fields = ("taken_at", "opening_balance", "available_cash", "used_margin", "available_margin", "collateral")


class TradingAccountListApi(APIView):
    @extend_schema(responses=TradingAccountOutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        accounts = trading_accounts_for(user=request_user(request))
        return Response(TradingAccountOutputSerializer(accounts, many=True).data)


class TradingAccountDetailApi(APIView):
    @extend_schema(responses=TradingAccountOutputSerializer)
    def get(self, request: Request, account_id: int) -> Response:
        account = trading_account_get(user=request_user(request), account_id=account_id)
        return Response(TradingAccountOutputSerializer(account).data)


class PositionListApi(APIView):
    @extend_schema(responses=PositionOutputSerializer(many=True))
    def get(self, request: Request, account_id: int) -> Response:
        account = trading_account_get(user=request_user(request), account_id=account_id)
        marked: list[MarkedPosition] = positions_for(account=account)
        return Response(PositionOutputSerializer(marked, many=True).data)


class OrderListApi(APIView):
    class Pagination(LimitOffsetPagination):
        default_limit = 100
        max_limit = 1000

    @extend_schema(
        parameters=[
            OpenApiParameter("status", OpenApiTypes.STR, description="OPEN, TRIGGER_PENDING, COMPLETE, CANCELLED, "
                             "REJECTED; comma-separated for any of several"),
            OpenApiParameter("date", OpenApiTypes.DATE, description="IST trading date of placement"),
            OpenApiParameter("from", OpenApiTypes.DATETIME, description="placed at or after (ISO-8601; naive = IST)"),
            OpenApiParameter("to", OpenApiTypes.DATETIME, description="placed before (ISO-8601; a date = its end)"),
            OpenApiParameter("limit", OpenApiTypes.INT),
            OpenApiParameter("offset", OpenApiTypes.INT),
        ],
        responses=OrderOutputSerializer(many=True),
    )
    def get(self, request: Request, account_id: int) -> Response:
        account = trading_account_get(user=request_user(request), account_id=account_id)
        raw_status = request.query_params.get("status", "")
        statuses = [s.strip().upper() for s in raw_status.split(",") if s.strip()] if raw_status else None
        orders = orders_for(
            account=account,
            statuses=statuses,
            day=request.query_params.get("date") or None,
            start=request.query_params.get("from") or None,
            end=request.query_params.get("to") or None,
        )
        paginator = self.Pagination()
        page = paginator.paginate_queryset(orders, request, view=self)
        return paginator.get_paginated_response(OrderOutputSerializer(page, many=True).data)


class HoldingListApi(APIView):
    @extend_schema(responses=HoldingOutputSerializer(many=True))
    def get(self, request: Request, account_id: int) -> Response:
        account = trading_account_get(user=request_user(request), account_id=account_id)
        return Response(HoldingOutputSerializer(holdings_for(account=account), many=True).data)


class FundsApi(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("limit", OpenApiTypes.INT, description="snapshots in history (max 500)")],
        responses={200: dict},
    )
    def get(self, request: Request, account_id: int) -> Response:
        account = trading_account_get(user=request_user(request), account_id=account_id)
        raw_limit = request.query_params.get("limit", str(FUNDS_HISTORY_DEFAULT))
        if not raw_limit.isdigit():
            raise InvalidInput("limit must be a positive integer", details={"limit": [raw_limit[:20]]})
        funds = funds_for(account=account, limit=int(raw_limit))
        latest = funds["latest"]
        return Response(
            {
                "latest": FundsSnapshotOutputSerializer(latest).data if latest is not None else None,
                "history": FundsSnapshotOutputSerializer(funds["history"], many=True).data,
            }
        )
