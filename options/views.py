"""Dashboard pages of the options app: the live option chain and the index monitor.

The pages are shells: their scripts read `/api/v1/fo/…` with the session cookie and stay live over
`/ws/fo/stream` and `/ws/nifty-monitor`.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

DEFAULT_UNDERLYING = "NIFTY"
UNDERLYING_PARAM_MAX_LENGTH = 64
API_BASE_URL = "/api/v1/fo"


def _underlying(request: HttpRequest) -> str:
    raw = request.GET.get("underlying", "")[:UNDERLYING_PARAM_MAX_LENGTH]
    return " ".join(raw.split()).upper() or DEFAULT_UNDERLYING


@login_required
def chain_page(request: HttpRequest) -> HttpResponse:
    """Option chain with IV/greeks, OI bars, PCR and max-pain, multi-strike OI and straddle charts."""
    context = {
        "underlying": _underlying(request),
        "expiry": request.GET.get("expiry", "")[:10],
        "api_url": API_BASE_URL,
        "ws_path": "/ws/fo/stream",
    }
    return render(request, "options/chain.html", context)


@login_required
def monitor_page(request: HttpRequest) -> HttpResponse:
    """Index monitor: spot, futures ladder, ATM ± N strikes of the nearest expiries."""
    context = {"underlying": _underlying(request), "api_url": API_BASE_URL, "ws_path": "/ws/nifty-monitor"}
    return render(request, "options/monitor.html", context)
