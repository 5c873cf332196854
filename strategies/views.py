"""Dashboard pages of the strategies app: the list (M2M, status, sparkline), a form to create one, and a
strategy's page (live M2M chart, legs, payoff). The pages read and write through the API with the
session cookie; live M2M arrives over /ws/strategies."""

from __future__ import annotations

import json
from collections.abc import Sequence

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.models import User
from accounts.selectors import trading_accounts_for
from strategies.selectors import marked_legs, sparklines, strategies_for, strategy_get
from tradeviz.errors import NotFound

SPARKLINE_WIDTH = 120
SPARKLINE_HEIGHT = 28


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return user


def sparkline_points(values: Sequence[float], *, width: int = SPARKLINE_WIDTH, height: int = SPARKLINE_HEIGHT) -> str:
    """SVG polyline points of a series scaled into width x height (empty for fewer than 2 values)."""
    if len(values) < 2:
        return ""
    lo, hi = min(values), max(values)
    span = (hi - lo) or 1.0
    step = width / (len(values) - 1)
    return " ".join(f"{k * step:.1f},{height - (v - lo) / span * height:.1f}" for k, v in enumerate(values))


@login_required
def strategy_list(request: HttpRequest) -> HttpResponse:
    strategies = list(strategies_for(user=_user(request)))
    lines = sparklines(strategy_ids=[s.pk for s in strategies])
    rows = []
    for strategy in strategies:
        closes = lines.get(strategy.pk, [])
        rows.append({
            "strategy": strategy,
            "sparkline": sparkline_points(closes),
            "trend": "up" if len(closes) > 1 and closes[-1] >= closes[0] else "down",
            "values_json": json.dumps([round(c, 2) for c in closes]),
        })
    context = {"rows": rows, "sparkline_width": SPARKLINE_WIDTH, "sparkline_height": SPARKLINE_HEIGHT}
    return render(request, "strategies/list.html", context)


@login_required
def strategy_new(request: HttpRequest) -> HttpResponse:
    accounts = trading_accounts_for(user=_user(request))
    return render(request, "strategies/new.html", {"accounts": accounts})


@login_required
def strategy_detail(request: HttpRequest, strategy_id: int) -> HttpResponse:
    try:
        strategy = strategy_get(user=_user(request), strategy_id=strategy_id)
    except NotFound as exc:
        raise Http404("No such strategy.") from exc
    context = {"strategy": strategy, "legs": marked_legs(strategy=strategy)}
    return render(request, "strategies/detail.html", context)
