from __future__ import annotations

from django.apps import AppConfig


class OptionsConfig(AppConfig):
    name = "options"
