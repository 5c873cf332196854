from __future__ import annotations

from typing import Any

import pytest
from django.test import override_settings

pytestmark = pytest.mark.django_db


def test_metrics_open_to_allowed_network(client: Any) -> None:
    response = client.get("/metrics", REMOTE_ADDR="127.0.0.1")
    assert response.status_code == 200
    assert b"tradeviz_api_key_auth_total" in response.content or b"django_http_requests" in response.content


@override_settings(METRICS_ALLOWED_NETWORKS=["10.0.0.0/8"], METRICS_BEARER_TOKEN="scrape-token")
def test_metrics_closed_to_others_unless_token(client: Any) -> None:
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9").status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    ok = client.get("/metrics", REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Bearer scrape-token")
    assert ok.status_code == 200
    assert b"tradeviz_ws_connections" in ok.content
