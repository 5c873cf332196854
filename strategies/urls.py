"""URL patterns of the strategies app: API routes (mounted under /api/v1/) and dashboard pages (under /)."""

from __future__ import annotations

from typing import Any

from django.urls import path

from strategies import apis, views

api_patterns: list[Any] = [
    path("strategies/", apis.StrategyListCreateApi.as_view(), name="strategies"),
    path("strategies/<int:strategy_id>/", apis.StrategyDetailApi.as_view(), name="strategy"),
    path("strategies/<int:strategy_id>/instruments/", apis.LegListCreateApi.as_view(), name="strategy_instruments"),
    path(
        "strategies/<int:strategy_id>/instruments/<int:leg_id>/",
        apis.LegDetailApi.as_view(),
        name="strategy_instrument",
    ),
    # UDF-like endpoints, spelled as in the issue (no trailing slash); the slashed form works too.
    path("strategies/<int:strategy_id>/m2m", apis.StrategyM2MApi.as_view(), name="strategy_m2m"),
    path("strategies/<int:strategy_id>/m2m/", apis.StrategyM2MSlashApi.as_view()),
    path("strategies/<int:strategy_id>/payoff", apis.StrategyPayoffApi.as_view(), name="strategy_payoff"),
    path("strategies/<int:strategy_id>/payoff/", apis.StrategyPayoffSlashApi.as_view()),
]
page_patterns: list[Any] = [
    path("strategies/", views.strategy_list, name="list"),
    path("strategies/new/", views.strategy_new, name="new"),
    path("strategies/<int:strategy_id>/", views.strategy_detail, name="detail"),
]
