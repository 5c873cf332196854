"""Demo bootstrap run by `make run` (`manage.py bootstrap`): the admin user, then each app's demo data.

Every step is idempotent: a second `make run` on the same .data/ changes nothing it need not.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Callable
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model

logger = logging.getLogger(__name__)

DEMO_ADMIN_USERNAME = "admin"
PASSWORD_BYTES = 12


def credentials_path() -> Path:
    from tradeviz.settings.environment import DATA_DIR

    return DATA_DIR / "credentials.json"


def ensure_demo_admin() -> tuple[str, str]:
    """Create the demo superuser once; its generated password lives in .data/credentials.json."""
    path = credentials_path()
    if path.is_file():
        stored = json.loads(path.read_text())
        username, password = stored["username"], stored["password"]
    else:
        username, password = DEMO_ADMIN_USERNAME, secrets.token_urlsafe(PASSWORD_BYTES)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"username": username, "password": password}, indent=2) + "\n")
        path.chmod(0o600)
    user_model = get_user_model()
    user, created = user_model.objects.get_or_create(
        username=username, defaults={"is_staff": True, "is_superuser": True}
    )
    if created or not user.check_password(password):
        user.set_password(password)
        user.is_staff = user.is_superuser = True
        user.save()
    return username, password


def _market_data() -> None:
    from marketdata.demo import seed_demo_market

    seed_demo_market()


def _option_analytics() -> None:
    from options.demo import seed_demo_analytics

    seed_demo_analytics()


def _strategies() -> None:
    from strategies.demo import seed_demo_strategies

    seed_demo_strategies()


# Each app's demo seeding, explicitly and in dependency order.
DEMO_STEPS: list[tuple[str, Callable[[], None]]] = [
    ("market data: instruments and history", _market_data),
    ("options: analytics over the demo history", _option_analytics),
    ("trading accounts and strategies", _strategies),
]


def run_demo_steps() -> None:
    if not getattr(settings, "DEMO_DATA", True):
        logger.info("DEMO_DATA is off; skipping demo data")
        return
    for name, step in DEMO_STEPS:
        logger.info("demo step: %s", name)
        step()
