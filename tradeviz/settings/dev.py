"""Local development: `make run`. Secrets are generated once into .data/, never defaulted in code."""

from __future__ import annotations

from .base import *  # noqa: F403
from .base import ALLOWED_HOSTS, STATIC_ROOT, env
from .environment import DATA_DIR, secret
from .local_secret import local_secret_key

DEBUG = env.bool("DEBUG", default=True)
SECRET_KEY = secret("SECRET_KEY", required=False) or local_secret_key(DATA_DIR)
ALLOWED_HOSTS = ALLOWED_HOSTS or ["127.0.0.1", "localhost", "[::1]"]
# Serve static files straight from the app and node_modules, without collectstatic.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True

STATIC_ROOT.mkdir(parents=True, exist_ok=True)
