"""PostgreSQL array literals for query parameters.

Django's psycopg cursors bind parameters on the client, and psycopg quotes a Python list element by
element (a regular expression per value): ~25 µs per 1 000 values, which dominated the per-minute job.
One pre-formatted literal per array is a single string to quote. Cast it in SQL: `%s::bigint[]`.
"""

from __future__ import annotations

from collections.abc import Iterable


def int_array(values: Iterable[int]) -> str:
    return "{" + ",".join(str(int(v)) for v in values) + "}"
