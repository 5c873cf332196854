from __future__ import annotations

from django.apps import AppConfig


class OptionsConfig(AppConfig):
    name = "options"
    verbose_name = "F&O analytics"

    def ready(self) -> None:
        from marketdata.hooks import register_minute_close_hook
        from options import rollups
        from options.parameters import pricing_parameters
        from options.services.analytics import HOOK_NAME, on_minute_closed

        pricing_parameters()  # fail at start-up on a bad FO_* setting, not at the first minute
        rollups.register()
        register_minute_close_hook(HOOK_NAME, on_minute_closed)
