from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parents[2]
PRODUCTION_ENV = {
    "DJANGO_ENV": "production",
    "SECRET_KEY": "x" * 50,
    "DATABASE_URL": "postgres://u@127.0.0.1:5/db",
    "REDIS_URL": "redis://127.0.0.1:6/0",
    "ALLOWED_HOSTS": "tradeviz.example",
    "TRADEVIZ_DATA_DIR": "/nonexistent-tradeviz-data",
}


def _load_settings(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in PRODUCTION_ENV and not k.endswith("_FILE")}
    clean.update(env)
    code = "import django; from django.conf import settings; django.setup(); print('DEBUG', settings.DEBUG)"
    return subprocess.run([sys.executable, "-c", code], env=clean, cwd=BASE_DIR, capture_output=True, text=True)


def test_production_starts_with_everything_given() -> None:
    result = _load_settings(PRODUCTION_ENV)
    assert result.returncode == 0, result.stderr
    assert "DEBUG False" in result.stdout


@pytest.mark.parametrize("missing", ["SECRET_KEY", "DATABASE_URL", "REDIS_URL", "ALLOWED_HOSTS"])
def test_production_refuses_to_start_naming_the_missing_setting(missing: str) -> None:
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != missing}
    result = _load_settings(env)
    assert result.returncode != 0
    assert f"{missing} is not set" in result.stderr


def test_secret_can_come_from_a_file(tmp_path: Path) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text("s" * 50 + "\n")
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != "SECRET_KEY"}
    env["SECRET_KEY_FILE"] = str(secret_file)
    result = _load_settings(env)
    assert result.returncode == 0, result.stderr


def test_unknown_environment_is_refused() -> None:
    result = _load_settings({"DJANGO_ENV": "staging"})
    assert result.returncode != 0
    assert "DJANGO_ENV must be one of" in result.stderr
