"""URL patterns of the accounts app: API routes (mounted under /api/v1/) and dashboard pages (under /)."""

from __future__ import annotations

from typing import Any

from django.urls import path

from accounts import apis_trading, views

api_patterns: list[Any] = [
    path("accounts/", apis_trading.TradingAccountListApi.as_view(), name="trading_accounts"),
    path("accounts/<int:account_id>/", apis_trading.TradingAccountDetailApi.as_view(), name="trading_account"),
    path("accounts/<int:account_id>/positions/", apis_trading.PositionListApi.as_view(), name="positions"),
    path("accounts/<int:account_id>/orders/", apis_trading.OrderListApi.as_view(), name="orders"),
    path("accounts/<int:account_id>/holdings/", apis_trading.HoldingListApi.as_view(), name="holdings"),
    path("accounts/<int:account_id>/funds/", apis_trading.FundsApi.as_view(), name="funds"),
]
page_patterns: list[Any] = [
    path("accounts/", views.dashboard, name="dashboard"),
]
