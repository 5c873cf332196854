"""django-timescaledb's engine, guarded.

Its own `prepare_database` fails `migrate` when the server lacks the timescaledb extension (the
error is not a ProgrammingError, so it escapes its handler). Here any failure to create the
extension is logged and the database is used as plain PostgreSQL; storage code checks
`tradeviz.timeseries.detect.timescale_available()` before using TimescaleDB features.
"""

from __future__ import annotations

import logging

from django.db import DatabaseError
from django.db.backends.postgresql.base import DatabaseWrapper as PostgresWrapper
from timescale.db.backends.postgresql.base import DatabaseWrapper as TimescaleWrapper

logger = logging.getLogger(__name__)


class DatabaseWrapper(TimescaleWrapper):
    def prepare_database(self) -> None:
        PostgresWrapper.prepare_database(self)
        try:
            with self.cursor() as cursor:
                cursor.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
        except DatabaseError as exc:
            logger.warning("timescaledb extension unavailable; using plain PostgreSQL", extra={"error": str(exc)})
