from __future__ import annotations

from django.apps import AppConfig


class TradevizConfig(AppConfig):
    name = "tradeviz"
    verbose_name = "tradeviz platform"
