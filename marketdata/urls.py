"""URL patterns of the marketdata app: API routes (mounted under /api/v1/) and dashboard pages (under /)."""

from __future__ import annotations

from typing import Any

from django.urls import path

from marketdata.apis.calendar import HolidayListApi, SessionListApi

api_patterns: list[Any] = []
page_patterns: list[Any] = []

# Market calendar (reference data; see docs/calendar.md).
api_patterns += [
    path("calendar/holidays", HolidayListApi.as_view(), name="calendar_holidays"),
    path("calendar/sessions", SessionListApi.as_view(), name="calendar_sessions"),
]
