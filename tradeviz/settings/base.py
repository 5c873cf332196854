"""Settings shared by every environment. Each value is read from the environment (see .env.example)."""

from __future__ import annotations

from datetime import timedelta

import django_stubs_ext

from .environment import BASE_DIR, DATA_DIR, env, load_env_files, secret

load_env_files()
# Lets admin and model classes be subscripted for type checking (ModelAdmin[Model]).
django_stubs_ext.monkeypatch()

# --- core -------------------------------------------------------------------------------------------
DJANGO_ENV = env.str("DJANGO_ENV", default="dev")
DEBUG = False
ALLOWED_HOSTS: list[str] = env.list("ALLOWED_HOSTS", default=[])
CSRF_TRUSTED_ORIGINS: list[str] = env.list("CSRF_TRUSTED_ORIGINS", default=[])
ROOT_URLCONF = "tradeviz.urls"
WSGI_APPLICATION = "tradeviz.wsgi.application"
ASGI_APPLICATION = "tradeviz.asgi.application"
AUTH_USER_MODEL = "accounts.User"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-in"
USE_I18N = False
USE_TZ = True
TIME_ZONE = "UTC"
MARKET_TIME_ZONE = "Asia/Kolkata"

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.postgres",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "corsheaders",
    "channels",
    "django_celery_beat",
    "django_prometheus",
    "tradeviz",
    "accounts",
    "marketdata",
    "options",
    "strategies",
    "labels",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "tradeviz.observability.middleware.CorrelationIdMiddleware",
    "tradeviz.errors.BodySizeLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "tradeviz.navigation.navigation",
            ],
        },
    },
]

# --- storage ----------------------------------------------------------------------------------------
# DATABASE_URL: postgres://… uses Django's backend, timescale://… the guarded django-timescaledb engine.
DATABASES = {"default": env.db("DATABASE_URL")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DATABASES["default"].setdefault("OPTIONS", {})
DATABASES["default"]["OPTIONS"].setdefault("connect_timeout", env.int("DB_CONNECT_TIMEOUT", default=5))
DATABASES["default"]["TEST"] = {"NAME": env.str("TEST_DATABASE_NAME", default="test_tradeviz")}
TIMESCALE_MODE = env.str("TIMESCALE_MODE", default="auto")  # auto: TimescaleDB when installed; off: plain PostgreSQL

REDIS_URL: str = env.str("REDIS_URL")
REDIS_SOCKET_TIMEOUT = env.float("REDIS_SOCKET_TIMEOUT", default=2.0)

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="tv"),
        "OPTIONS": {
            "socket_connect_timeout": REDIS_SOCKET_TIMEOUT,
            "socket_timeout": REDIS_SOCKET_TIMEOUT,
        },
    }
}

CHANNEL_LAYER_SOCKET_TIMEOUT = 15.0
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            # redis-py 8 reads with a 5 s socket timeout by default, which a blocking BZPOPMIN (5 s in
            # channels-redis) would hit on every idle receive; allow the block plus a margin.
            "hosts": [{"address": REDIS_URL, "socket_timeout": CHANNEL_LAYER_SOCKET_TIMEOUT}],
            "prefix": env.str("CHANNEL_LAYER_PREFIX", default="tv:asgi"),
            "capacity": env.int("CHANNEL_LAYER_CAPACITY", default=1000),
            "expiry": 30,
        },
    }
}

SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"

# --- static files -----------------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "staticfiles"
# Front-end packages installed by npm (package.json) are served from /static/vendor/.
STATICFILES_DIRS: list[object] = [BASE_DIR / "static"]
if (BASE_DIR / "node_modules").is_dir():
    STATICFILES_DIRS.append(("vendor", BASE_DIR / "node_modules"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# --- request limits ---------------------------------------------------------------------------------
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("MAX_REQUEST_BODY_BYTES", default=1_048_576)
DATA_UPLOAD_MAX_NUMBER_FIELDS = env.int("MAX_REQUEST_FIELDS", default=1000)
FILE_UPLOAD_MAX_MEMORY_SIZE = DATA_UPLOAD_MAX_MEMORY_SIZE

# --- API --------------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework_simplejwt.authentication.JWTAuthentication",
        "accounts.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "tradeviz.errors.api_exception_handler",
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env.str("THROTTLE_ANON", default="60/min"),
        "user": env.str("THROTTLE_USER", default="6000/min"),
    },
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 100,
}

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("JWT_ACCESS_MINUTES", default=30)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("JWT_REFRESH_DAYS", default=7)),
    "AUTH_HEADER_TYPES": ("Bearer",),
}

SPECTACULAR_SETTINGS = {
    "TITLE": "tradeviz API",
    "DESCRIPTION": "Market data, UDF datafeed, F&O analytics, strategies and accounts for NSE.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SCHEMA_PATH_PREFIX": "/api/v1",
    # Swagger UI assets are served locally, not from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

CORS_ALLOWED_ORIGINS: list[str] = env.list("CORS_ALLOWED_ORIGINS", default=[])
CORS_URLS_REGEX = r"^/api/.*$"
CORS_ALLOW_HEADERS = (
    "accept",
    "authorization",
    "content-type",
    "x-correlation-id",
    "x-csrftoken",
    "x-requested-with",
)
CORS_EXPOSE_HEADERS = ("x-correlation-id", "x-process-time")

# --- Celery -----------------------------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=REDIS_URL)
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_RESULT_EXPIRES = 3600
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
# Workers and beat log through Django's LOGGING (JSON lines with correlation ids), not Celery's format.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# --- observability and health -----------------------------------------------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO").upper()
LOG_FORMAT = env.str("LOG_FORMAT", default="json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"correlation": {"()": "tradeviz.observability.logs.CorrelationIdFilter"}},
    "formatters": {
        "json": {"()": "tradeviz.observability.logs.JsonFormatter"},
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(correlation_id)s] %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["correlation"],
            "formatter": LOG_FORMAT if LOG_FORMAT in ("json", "plain") else "json",
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "daphne": {"level": "WARNING"},
        "asyncio": {"level": "WARNING"},
        # httpx logs whole request URLs at INFO; source URLs may carry tokens.
        "httpx": {"level": "WARNING"},
    },
}

PROMETHEUS_EXPORT_MIGRATIONS = False
# /metrics answers these networks, or any caller presenting METRICS_BEARER_TOKEN.
METRICS_ALLOWED_NETWORKS: list[str] = env.list("METRICS_ALLOWED_NETWORKS", default=["127.0.0.0/8", "::1/128"])
METRICS_BEARER_TOKEN = secret("METRICS_BEARER_TOKEN", required=False)

HEALTH_BEAT_MAX_AGE_SECONDS = env.int("HEALTH_BEAT_MAX_AGE_SECONDS", default=180)
HEALTH_CHECK_TIMEOUT_SECONDS = env.float("HEALTH_CHECK_TIMEOUT_SECONDS", default=2.0)
HEALTH_REQUIRE_BEAT = env.bool("HEALTH_REQUIRE_BEAT", default=True)

# --- WebSockets -------------------------------------------------------------------------------------
WS_ALLOWED_ORIGINS: list[str] = env.list("WS_ALLOWED_ORIGINS", default=[])
WS_MAX_SUBSCRIPTIONS = env.int("WS_MAX_SUBSCRIPTIONS", default=50)
WS_IDLE_TIMEOUT_SECONDS = env.int("WS_IDLE_TIMEOUT_SECONDS", default=120)

# --- market data ------------------------------------------------------------------------------------
TICK_STREAM = env.str("TICK_STREAM", default="md:ticks")
ORDER_STREAM = env.str("ORDER_STREAM", default="md:orders")
TICKER_SERVICE_URL = env.str("TICKER_SERVICE_URL", default="")
TICKER_TIMEOUT_SECONDS = env.float("TICKER_TIMEOUT_SECONDS", default=5.0)
TICKER_RETRIES = env.int("TICKER_RETRIES", default=3)
BACKFILL_LOOKBACK_DAYS = env.int("BACKFILL_LOOKBACK_DAYS", default=5)
DEMO_DATA = env.bool("DEMO_DATA", default=True)
UDF_MAX_BARS = env.int("UDF_MAX_BARS", default=20_000)
UDF_ADJUST_FOR_CORPORATE_ACTIONS = env.bool("UDF_ADJUST_FOR_CORPORATE_ACTIONS", default=True)
HISTORY_CACHE_ENABLED = env.bool("HISTORY_CACHE_ENABLED", default=True)
HISTORY_CACHE_NAMESPACE = env.str("HISTORY_CACHE_NAMESPACE", default="tv:hist")
HISTORY_CACHE_L1_BYTES = env.int("HISTORY_CACHE_L1_BYTES", default=64 * 1024 * 1024)
HISTORY_CACHE_TTL_INTRADAY = env.int("HISTORY_CACHE_TTL_INTRADAY", default=60)
HISTORY_CACHE_TTL_DAILY = env.int("HISTORY_CACHE_TTL_DAILY", default=3600)
PRICE_DECIMAL_PLACES = 4
PRICE_MAX_DIGITS = 18
CHART_DEFAULT_SYMBOL = env.str("CHART_DEFAULT_SYMBOL", default="")
HOLIDAYS_SOURCE_URL = env.str("HOLIDAYS_SOURCE_URL", default="")
CORPORATE_ACTIONS_SOURCE_URL = env.str("CORPORATE_ACTIONS_SOURCE_URL", default="")
# Tick consumer (manage.py consume_ticks, docs/ingestion.md).
TICK_CONSUMER_GROUP = env.str("TICK_CONSUMER_GROUP", default="tick-consumers")
TICK_BATCH_ENTRIES = env.int("TICK_BATCH_ENTRIES", default=500)
TICK_BLOCK_MS = env.int("TICK_BLOCK_MS", default=100)
TICK_GRACE_SECONDS = env.float("TICK_GRACE_SECONDS", default=0.1)
TICK_PUBLISH_INTERVAL_MS = env.int("TICK_PUBLISH_INTERVAL_MS", default=250)
TICK_CLAIM_MIN_IDLE_MS = env.int("TICK_CLAIM_MIN_IDLE_MS", default=30_000)
TICK_MAX_FUTURE_SECONDS = env.float("TICK_MAX_FUTURE_SECONDS", default=10.0)
TICK_READY_MAX_LAG_SECONDS = env.float("TICK_READY_MAX_LAG_SECONDS", default=30.0)
TICK_METRICS_PORT = env.int("TICK_METRICS_PORT", default=0)
# Market simulator (manage.py simulate_market, docs/simulator.md): the ticker service in development.
SIMULATOR_HTTP_HOST = env.str("SIMULATOR_HTTP_HOST", default="127.0.0.1")
SIMULATOR_HTTP_PORT = env.int("SIMULATOR_HTTP_PORT", default=8765)
SIMULATOR_TICKS_PER_SECOND = env.float("SIMULATOR_TICKS_PER_SECOND", default=200.0)
SIMULATOR_BATCH_MS = env.int("SIMULATOR_BATCH_MS", default=200)
SIMULATOR_SEED = env.int("SIMULATOR_SEED", default=20_251_128)
SIMULATOR_ORDER_INTERVAL_SECONDS = env.float("SIMULATOR_ORDER_INTERVAL_SECONDS", default=15.0)
SIMULATOR_ACCOUNT_ID = env.str("SIMULATOR_ACCOUNT_ID", default="DEMO-ZX1234")
SIMULATOR_STREAM_MAXLEN = env.int("SIMULATOR_STREAM_MAXLEN", default=5_000)

# --- F&O analytics (options app; docs/options.md) ----------------------------------------------------
FO_RISK_FREE_RATE = env.float("FO_RISK_FREE_RATE", default=0.065)
FO_DAY_COUNT_BASIS = env.int("FO_DAY_COUNT_BASIS", default=365)
FO_LOOKBACK_DAYS = env.int("FO_LOOKBACK_DAYS", default=7)
FO_MAX_SPREAD_FRACTION = env.float("FO_MAX_SPREAD_FRACTION", default=0.25)
FO_BUILDUP_PRICE_BAND_PCT = env.float("FO_BUILDUP_PRICE_BAND_PCT", default=0.5)
FO_BUILDUP_OI_BAND_PCT = env.float("FO_BUILDUP_OI_BAND_PCT", default=1.0)
FO_STREAM_INTERVAL_SECONDS = env.float("FO_STREAM_INTERVAL_SECONDS", default=2.0)
FO_ANALYTICS_UNDERLYINGS: list[str] = env.list("FO_ANALYTICS_UNDERLYINGS", default=[])
FO_ANALYTICS_EXPIRIES = env.int("FO_ANALYTICS_EXPIRIES", default=4)

# --- trading accounts and strategies (docs/strategies.md) -------------------------------------------
ORDER_STREAM_GROUP = env.str("ORDER_STREAM_GROUP", default="tv-orders")
BROKER_SYNC_ENABLED = env.bool("BROKER_SYNC_ENABLED", default=False)
M2M_PRICE_MAX_AGE_SECONDS = env.float("M2M_PRICE_MAX_AGE_SECONDS", default=120.0)
PAYOFF_RATE = env.float("PAYOFF_RATE", default=0.065)
PAYOFF_DEFAULT_VOLATILITY = env.float("PAYOFF_DEFAULT_VOLATILITY", default=0.15)
