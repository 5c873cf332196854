from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import override_settings

from tradeviz.devstack.embedded import EmbeddedRedis, free_port_near, port_is_open
from tradeviz.health import BEAT_HEARTBEAT_KEY, record_beat_heartbeat
from tradeviz.redis_client import get_redis

pytestmark = pytest.mark.django_db


def test_live_needs_no_dependencies(client: Any) -> None:
    with override_settings(REDIS_URL="redis://127.0.0.1:1/0"):
        get_redis.cache_clear()
        try:
            response = client.get("/health/live")
        finally:
            get_redis.cache_clear()
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_ready_names_every_check(client: Any) -> None:
    response = client.get("/health/ready")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["failing"] == []
    assert set(body["checks"]) >= {"database", "redis", "channel_layer", "celery_beat"}
    assert all(check["status"] == "ok" for check in body["checks"].values())


def test_ready_requires_fresh_beat_heartbeat_when_configured(client: Any) -> None:
    redis = get_redis()
    redis.delete(BEAT_HEARTBEAT_KEY)
    with override_settings(HEALTH_REQUIRE_BEAT=True, HEALTH_BEAT_MAX_AGE_SECONDS=60):
        missing = client.get("/health/ready")
        assert missing.status_code == 503
        assert missing.json()["failing"] == ["celery_beat"]

        record_beat_heartbeat()
        assert client.get("/health/ready").status_code == 200

        redis.set(BEAT_HEARTBEAT_KEY, str(time.time() - 120))
        stale = client.get("/health/ready").json()
        assert stale["failing"] == ["celery_beat"]
        assert "limit 60s" in stale["checks"]["celery_beat"]["error"]
    redis.delete(BEAT_HEARTBEAT_KEY)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    """A Redis server of this test's own, so the test can stop and restart it."""
    server = EmbeddedRedis(tmp_path, port=free_port_near(46379))
    server.start()
    yield server
    server.stop()


def _layers_for(url: str) -> dict[str, Any]:
    return {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [url]}}}


@pytest.mark.skipif(not shutil.which("redis-server") and not EmbeddedRedis.executable(), reason="no redis-server")
def test_redis_outage_makes_ready_503_and_recovers_without_restart(
    client: Any, private_redis: EmbeddedRedis
) -> None:
    url = private_redis.url
    with override_settings(REDIS_URL=url, CHANNEL_LAYERS=_layers_for(url)):
        get_redis.cache_clear()
        try:
            assert client.get("/health/ready").status_code == 200

            private_redis.stop()
            assert not port_is_open(private_redis.port)
            down = client.get("/health/ready")
            assert down.status_code == 503
            body = down.json()
            assert "redis" in body["failing"]
            assert body["checks"]["redis"]["status"] == "fail"
            assert client.get("/health/live").status_code == 200

            private_redis.start()
            deadline = time.monotonic() + 10
            while client.get("/health/ready").status_code != 200:
                assert time.monotonic() < deadline, "readiness did not recover after Redis came back"
                time.sleep(0.2)
        finally:
            get_redis.cache_clear()


def test_ready_is_503_naming_database_when_it_is_unreachable(client: Any) -> None:
    from django.db import connection

    real = connection.settings_dict["PORT"]
    # A port nothing listens on: the check must fail fast and name the database.
    connection.close()
    connection.settings_dict["PORT"] = str(free_port_near(47000))
    try:
        response = client.get("/health/ready")
    finally:
        connection.close()
        connection.settings_dict["PORT"] = real
    assert response.status_code == 503
    assert response.json()["failing"] == ["database"]


def test_redis_server_binary_is_available() -> None:
    out = subprocess.run([EmbeddedRedis.executable(), "--version"], capture_output=True, text=True, check=True)
    assert "Redis server" in out.stdout
