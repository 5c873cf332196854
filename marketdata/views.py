"""Dashboard pages of the marketdata app."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from marketdata.simulator import default_chart_symbol
from marketdata.symbols import normalise

# Longer than any EXCHANGE:TRADINGSYMBOL (Instrument.symbol is 80 characters); the rest is noise.
SYMBOL_PARAM_MAX_LENGTH = 80
# The chart's datafeed: the UDF endpoints (`/api/v1/udf/history`, …), called with the session cookie.
UDF_BASE_URL = "/api/v1/udf"
# (UDF resolution, button label, tooltip), in the order the switcher shows them.
CHART_RESOLUTIONS: tuple[tuple[str, str, str], ...] = (
    ("1", "1m", "1 minute"),
    ("3", "3m", "3 minutes"),
    ("5", "5m", "5 minutes"),
    ("15", "15m", "15 minutes"),
    ("30", "30m", "30 minutes"),
    ("60", "1h", "1 hour"),
    ("240", "4h", "4 hours"),
    ("D", "D", "1 day"),
    ("W", "W", "1 week"),
    ("M", "M", "1 month"),
)


@login_required
def chart(request: HttpRequest) -> HttpResponse:
    """The candlestick chart; its script reads bars, symbols and search results from the UDF endpoints."""
    requested = request.GET.get("symbol", "")[:SYMBOL_PARAM_MAX_LENGTH].strip()
    # Without a configured default the chart opens where the market is live: NSE in session, else SIM.
    fallback = settings.CHART_DEFAULT_SYMBOL or default_chart_symbol(timezone.now())
    context = {
        "default_symbol": normalise(requested or fallback),
        "udf_url": UDF_BASE_URL,
        "resolutions": CHART_RESOLUTIONS,
    }
    return render(request, "marketdata/chart.html", context)
