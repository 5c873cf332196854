"""URL patterns of the marketdata app: API routes (mounted under /api/v1/) and dashboard pages (under /)."""

from __future__ import annotations

from typing import Any

from django.urls import path

from marketdata import views
from marketdata.apis.calendar import HolidayListApi, SessionListApi

api_patterns: list[Any] = []
page_patterns: list[Any] = [
    path("chart/", views.chart, name="chart"),
]

# Market calendar (reference data; see docs/calendar.md).
api_patterns += [
    path("calendar/holidays", HolidayListApi.as_view(), name="calendar_holidays"),
    path("calendar/sessions", SessionListApi.as_view(), name="calendar_sessions"),
]

# TradingView UDF datafeed (see docs/udf.md). No trailing slashes: the UDF adapter appends the
# endpoint name to the datafeed URL as is.
from marketdata.apis import udf  # noqa: E402

api_patterns += [
    path("udf/config", udf.UdfConfigApi.as_view(), name="udf_config"),
    path("udf/time", udf.UdfTimeApi.as_view(), name="udf_time"),
    path("udf/symbols", udf.UdfSymbolsApi.as_view(), name="udf_symbols"),
    path("udf/search", udf.UdfSearchApi.as_view(), name="udf_search"),
    path("udf/history", udf.UdfHistoryApi.as_view(), name="udf_history"),
    path("udf/quotes", udf.UdfQuotesApi.as_view(), name="udf_quotes"),
    path("udf/marks", udf.UdfMarksApi.as_view(), name="udf_marks"),
    path("udf/timescale_marks", udf.UdfTimescaleMarksApi.as_view(), name="udf_timescale_marks"),
]
