"""Production: every secret and endpoint must be given; nothing is defaulted."""

from __future__ import annotations

import os

from .environment import MissingSetting, secret

# Checked before base settings are read so the message names the missing variable.
for _required in ("DATABASE_URL", "REDIS_URL", "ALLOWED_HOSTS"):
    if not (os.environ.get(_required) or os.environ.get(f"{_required}_FILE")):
        raise MissingSetting(f"{_required} is not set; production refuses to start without it.")
    if os.environ.get(f"{_required}_FILE") and not os.environ.get(_required):
        os.environ[_required] = secret(_required, required=True)

SECRET_KEY = secret("SECRET_KEY", required=True)

from .base import *  # noqa: E402, F403
from .base import env  # noqa: E402

DEBUG = False
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
SECURE_REDIRECT_EXEMPT = [r"^health/", r"^metrics$"]
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000)
SECURE_CONTENT_TYPE_NOSNIFF = True
