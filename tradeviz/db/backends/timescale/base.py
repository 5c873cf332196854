"""django-timescaledb's engine, guarded.

Its own `prepare_database` fails `migrate` when the server lacks the timescaledb extension (the
error is not a ProgrammingError, so it escapes its handler). Worse, on a server where the package is
installed but not in `shared_preload_libraries`, `CREATE EXTENSION timescaledb` raises FATAL and
kills the connection that `migrate` goes on to use. So here the extension is only created when the
server can load it (the loader is preloaded, the extension is available) and TIMESCALE_MODE is not
`off`; any failure is logged, the connection is reset, and the database is used as plain
PostgreSQL. Storage code checks `tradeviz.timeseries.detect.timescale_available()` before using
TimescaleDB features.

The schema editor stays django-timescaledb's: it only acts on its TimescaleDateTimeField, which
this project does not use (it drops the primary key); hypertables come from
`tradeviz.timeseries.operations.TimeSeriesTable`.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import DatabaseError
from django.db.backends.postgresql.base import DatabaseWrapper as PostgresWrapper
from timescale.db.backends.postgresql.base import DatabaseWrapper as TimescaleWrapper

logger = logging.getLogger(__name__)

EXTENSION = "timescaledb"
# A GUC the timescaledb loader defines only when it was loaded through shared_preload_libraries.
LOADER_GUC = "timescaledb.disable_load"
MODE_OFF = "off"


class DatabaseWrapper(TimescaleWrapper):
    def prepare_database(self) -> None:
        PostgresWrapper.prepare_database(self)
        if str(getattr(settings, "TIMESCALE_MODE", "auto")).strip().lower() == MODE_OFF:
            logger.info("TIMESCALE_MODE=off: not creating the timescaledb extension")
            return
        try:
            with self.cursor() as cursor:
                cursor.execute(
                    "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = %s), "
                    "EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = %s), "
                    "current_setting(%s, true) IS NOT NULL",
                    [EXTENSION, EXTENSION, LOADER_GUC],
                )
                row = cursor.fetchone()
                installed, available, preloaded = row if row else (False, False, False)
                if installed:
                    return
                if not available or not preloaded:
                    logger.warning(
                        "timescaledb extension unavailable; using plain PostgreSQL",
                        extra={"extension_available": available, "loader_preloaded": preloaded},
                    )
                    return
                cursor.execute(f"CREATE EXTENSION IF NOT EXISTS {EXTENSION}")
        except DatabaseError as exc:
            logger.warning(
                "timescaledb extension unavailable; using plain PostgreSQL", extra={"error": str(exc)}
            )
            # The failure may have ended the session (the extension raises FATAL in some setups);
            # closing makes the next query reconnect instead of failing on a dead connection.
            self.close()
