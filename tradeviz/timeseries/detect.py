"""Is TimescaleDB usable on a connection? The one switch between the two storage paths.

True only when all hold:
  * the connection is PostgreSQL (any engine whose vendor is "postgresql", incl. the timescale one),
  * the `timescaledb` extension is installed in the connection's current database (`pg_extension`;
    merely being available on the server is not enough) and its loader is preloaded (without
    `shared_preload_libraries = 'timescaledb'` any call into the extension ends the session),
  * setting TIMESCALE_MODE (env var; `auto` by default) is not `off`.

The answer is cached per (alias, database name): the test runner swaps NAME to the test database on
the same alias, and a stale answer from the development database must not leak into it.
"""

from __future__ import annotations

import logging
import threading

from django.conf import settings
from django.db import connection as default_connection
from django.db.backends.base.base import BaseDatabaseWrapper

logger = logging.getLogger(__name__)

MODE_AUTO = "auto"
MODE_OFF = "off"
MODES = (MODE_AUTO, MODE_OFF)
EXTENSION = "timescaledb"
# A GUC the timescaledb loader defines only when loaded through shared_preload_libraries.
LOADER_GUC = "timescaledb.disable_load"

_cache: dict[tuple[str, str], bool] = {}
_lock = threading.Lock()


def timescale_mode() -> str:
    """TIMESCALE_MODE, validated: a typo must not silently pick a storage path."""
    mode = str(getattr(settings, "TIMESCALE_MODE", MODE_AUTO)).strip().lower()
    if mode not in MODES:
        raise ValueError(f"TIMESCALE_MODE must be one of {', '.join(MODES)} (got {mode!r})")
    return mode


def _probe(conn: BaseDatabaseWrapper) -> tuple[str | None, bool]:
    """(installed extension version or None, whether the timescaledb loader is preloaded)."""
    if conn.vendor != "postgresql":
        return None, False
    with conn.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT extversion FROM pg_extension WHERE extname = %s), "
            "current_setting(%s, true) IS NOT NULL",
            [EXTENSION, LOADER_GUC],
        )
        row = cursor.fetchone()
    if row is None:
        return None, False
    return (str(row[0]) if row[0] is not None else None), bool(row[1])


def installed_timescale_version(connection: BaseDatabaseWrapper | None = None) -> str | None:
    """The installed timescaledb extension version in the current database, or None (uncached)."""
    version, _ = _probe(connection or default_connection)
    return version


def timescale_available(connection: BaseDatabaseWrapper | None = None) -> bool:
    """Whether to take the TimescaleDB path on `connection` (default: `django.db.connection`)."""
    conn = connection or default_connection
    key = (conn.alias, str(conn.settings_dict.get("NAME") or ""))
    cached = _cache.get(key)
    if cached is not None:
        return cached
    with _lock:
        if key in _cache:
            return _cache[key]
        mode = timescale_mode()
        version: str | None = None
        level = logging.INFO
        if mode == MODE_OFF:
            available, reason = False, "TIMESCALE_MODE=off"
        elif conn.vendor != "postgresql":
            available, reason = False, f"vendor is {conn.vendor}"
        else:
            version, preloaded = _probe(conn)
            available = version is not None and preloaded
            if available:
                reason = f"extension {EXTENSION} {version} installed"
            elif version is None:
                reason = f"extension {EXTENSION} not installed"
            else:
                # Installed but not loadable: a misconfigured server that deserves attention.
                reason = f"extension {EXTENSION} {version} installed but not in shared_preload_libraries"
                level = logging.WARNING
        _cache[key] = available
    logger.log(
        level,
        "time-series storage: %s (%s)",
        "TimescaleDB" if available else "plain PostgreSQL",
        reason,
        extra={"db_alias": conn.alias, "database": key[1], "timescaledb_version": version},
    )
    return available


def clear_timescale_cache(alias: str | None = None) -> None:
    """Forget cached answers (all, or one alias) — for tests and after installing the extension."""
    with _lock:
        if alias is None:
            _cache.clear()
        else:
            for key in [k for k in _cache if k[0] == alias]:
                del _cache[key]
