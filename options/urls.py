"""URL patterns of the options app: API routes (mounted under /api/v1/) and dashboard pages (under /)."""

from __future__ import annotations

from typing import Any

from django.urls import path

from options import views
from options.apis.chain import OptionChainApi
from options.apis.expiries import ExpiryListApi
from options.apis.market import InstrumentSearchApi, MarketDepthApi, MonitorApi, OiBuildupApi
from options.apis.series import ExpiryMetricsApi, StraddleApi, StrikeSeriesApi

api_patterns: list[Any] = [
    path("fo/expiries", ExpiryListApi.as_view(), name="fo_expiries"),
    path("fo/option-chain", OptionChainApi.as_view(), name="fo_option_chain"),
    path("fo/expiry-metrics", ExpiryMetricsApi.as_view(), name="fo_expiry_metrics"),
    path("fo/strike-series", StrikeSeriesApi.as_view(), name="fo_strike_series"),
    path("fo/straddle", StraddleApi.as_view(), name="fo_straddle"),
    path("fo/oi-buildup", OiBuildupApi.as_view(), name="fo_oi_buildup"),
    path("fo/market-depth/<int:token>", MarketDepthApi.as_view(), name="fo_market_depth"),
    path("fo/instruments/search", InstrumentSearchApi.as_view(), name="fo_instrument_search"),
    path("fo/monitor", MonitorApi.as_view(), name="fo_monitor"),
]
page_patterns: list[Any] = [
    path("options/chain/", views.chain_page, name="chain"),
    path("options/monitor/", views.monitor_page, name="monitor"),
]
