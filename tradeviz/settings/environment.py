"""Reading configuration: the process environment first, then `.env`, then `.data/services.env`.

`.data/services.env` is written by `make run` / `make test` when they start embedded PostgreSQL and
Redis, so `manage.py`, `psql` and `redis-cli` in the checkout reach the same servers. A variable
set in the real environment always wins. `NAME_FILE` variants read a secret from a file.
"""

from __future__ import annotations

import os
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent.parent
DATA_DIR = Path(os.environ.get("TRADEVIZ_DATA_DIR", BASE_DIR / ".data"))
SERVICES_ENV = DATA_DIR / "services.env"

# `timescale://` selects django-timescaledb through our guarded wrapper of its engine.
environ.Env.DB_SCHEMES["timescale"] = "tradeviz.db.backends.timescale"

env = environ.Env()


class MissingSetting(RuntimeError):
    """A required setting is absent; the message names it."""


def load_env_files() -> None:
    """Fill unset variables from `.env` and `.data/services.env` (never overriding the environment)."""
    for path in (BASE_DIR / ".env", SERVICES_ENV):
        if path.is_file():
            environ.Env.read_env(str(path), overwrite=False)


def secret(name: str, *, required: bool, default: str = "") -> str:
    """A secret from NAME, or from the file named by NAME_FILE."""
    file_var = f"{name}_FILE"
    if os.environ.get(file_var):
        path = Path(os.environ[file_var])
        try:
            return path.read_text().strip()
        except OSError as exc:
            raise MissingSetting(f"{file_var} points at {path}, which cannot be read: {exc}") from exc
    value = os.environ.get(name, "")
    if value:
        return value
    if required:
        raise MissingSetting(
            f"{name} is not set. Set {name} (or {file_var}) in the environment; "
            "production has no default for it."
        )
    return default
