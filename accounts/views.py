"""Dashboard pages of the accounts app."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.models import User
from accounts.selectors import trading_accounts_for

# How often the page re-reads positions for their live P&L (orders arrive over /ws/orders).
POSITIONS_REFRESH_SECONDS = 5


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    """Trading accounts: positions with live P&L and orders updating from `/ws/orders`."""
    user = request.user
    assert isinstance(user, User)
    accounts = list(trading_accounts_for(user=user))
    selected = accounts[0] if accounts else None
    requested = request.GET.get("account", "")
    if requested.isdigit():
        selected = next((a for a in accounts if a.pk == int(requested)), selected)
    context = {
        "accounts": accounts,
        "selected": selected,
        "refresh_ms": POSITIONS_REFRESH_SECONDS * 1000,
    }
    return render(request, "accounts/dashboard.html", context)
