from __future__ import annotations

from django.apps import AppConfig


class MarketdataConfig(AppConfig):
    name = "marketdata"
