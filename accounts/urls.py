"""URL patterns of the accounts app: API routes (mounted under /api/v1/) and dashboard pages (under /)."""

from __future__ import annotations

from typing import Any

api_patterns: list[Any] = []
page_patterns: list[Any] = []
