"""The dashboard navigation. Entries whose page is not installed are left out, never shown dead."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse

NAV_ITEMS: tuple[tuple[str, str], ...] = (
    ("Chart", "marketdata:chart"),
    ("Option chain", "options:chain"),
    ("Monitor", "options:monitor"),
    ("Strategies", "strategies:list"),
    ("Accounts", "accounts:dashboard"),
    ("Labels", "labels:dashboard"),
    ("Ops", "ops"),
)


def navigation(request: HttpRequest) -> dict[str, Any]:
    items = []
    for label, url_name in NAV_ITEMS:
        try:
            url = reverse(url_name)
        except NoReverseMatch:
            continue
        items.append({"label": label, "url": url, "active": request.path.startswith(url)})
    return {"nav_items": items}
