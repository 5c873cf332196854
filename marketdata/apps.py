from __future__ import annotations

from django.apps import AppConfig


class MarketdataConfig(AppConfig):
    name = "marketdata"
    verbose_name = "Market data"

    def ready(self) -> None:
        from marketdata import rollups

        rollups.register()

        from marketdata.ticks.readiness import tick_consumer_check
        from tradeviz.health import register_check

        register_check("tick_consumer", tick_consumer_check)
