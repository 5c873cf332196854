"""URL patterns of the options app: API routes (mounted under /api/v1/) and dashboard pages (under /)."""

from __future__ import annotations

from typing import Any

from django.urls import path

from options.apis.expiries import ExpiryListApi

api_patterns: list[Any] = [
    path("fo/expiries", ExpiryListApi.as_view(), name="fo_expiries"),
]
page_patterns: list[Any] = []
