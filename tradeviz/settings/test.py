"""The test suite: `make test`."""

from __future__ import annotations

import uuid

from .base import *  # noqa: F403
from .base import REST_FRAMEWORK, STATIC_ROOT, env
from .environment import DATA_DIR, secret
from .local_secret import local_secret_key

DEBUG = False
SECRET_KEY = secret("SECRET_KEY", required=False) or local_secret_key(DATA_DIR)
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Throttling is exercised by its own test with explicit rates.
REST_FRAMEWORK = {**REST_FRAMEWORK, "DEFAULT_THROTTLE_CLASSES": []}
HEALTH_REQUIRE_BEAT = False

# WhiteNoise looks for STATIC_ROOT at start-up; in dev and test files come from the finders.
WHITENOISE_USE_FINDERS = True
STATIC_ROOT.mkdir(parents=True, exist_ok=True)

# Each test run gets its own Redis key space: databases are recreated between runs (ids repeat)
# while Redis keeps its keys, and several runs may share one Redis.
HISTORY_CACHE_NAMESPACE = env.str("HISTORY_CACHE_NAMESPACE", default=f"tv:test:{uuid.uuid4().hex[:12]}:hist")

# Pages without ?symbol= open on a fixed symbol in tests; the session-dependent default has its own test.
CHART_DEFAULT_SYMBOL = "NSE:NIFTY 50"

# A stream of the run's own: the readiness check reads it, and nothing else may write to it.
TICK_STREAM = env.str("TICK_STREAM", default=f"test:ticks:{uuid.uuid4().hex[:12]}")
