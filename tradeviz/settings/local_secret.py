from __future__ import annotations

import secrets
from pathlib import Path


def local_secret_key(data_dir: Path) -> str:
    """A per-checkout key for dev and test, generated once into .data/secret_key (mode 600)."""
    path = data_dir / "secret_key"
    if path.is_file():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(50)
    path.write_text(key)
    path.chmod(0o600)
    return key
