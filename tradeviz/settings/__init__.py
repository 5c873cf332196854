"""Settings are chosen by DJANGO_ENV (dev, test, production); every value comes from the environment."""

from __future__ import annotations

import os

_ENV = os.environ.get("DJANGO_ENV", "dev").strip().lower()

if _ENV == "production":
    from .production import *  # noqa: F403
elif _ENV == "test":
    from .test import *  # noqa: F403
elif _ENV == "dev":
    from .dev import *  # noqa: F403
else:
    raise RuntimeError(f"DJANGO_ENV must be one of dev, test, production (got {_ENV!r})")
