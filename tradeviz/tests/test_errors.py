from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from django.test import override_settings

pytestmark = pytest.mark.django_db


def test_unknown_api_path_is_json_404(auth_client: Any) -> None:
    response = auth_client.get("/api/v1/no-such-thing/", HTTP_X_CORRELATION_ID="abc-1")
    assert response.status_code == 404
    assert response.json() == {
        "error": {"code": "not_found", "message": "No such endpoint.", "details": None, "correlation_id": "abc-1"}
    }


def test_correlation_id_is_generated_and_echoed(client: Any) -> None:
    response = client.get("/health/live")
    generated = response["X-Correlation-ID"]
    assert len(generated) == 32
    assert response["X-Process-Time"].endswith("ms")
    assert client.get("/health/live", HTTP_X_CORRELATION_ID="mine-42")["X-Correlation-ID"] == "mine-42"


def test_unsafe_correlation_id_is_replaced(client: Any) -> None:
    response = client.get("/health/live", HTTP_X_CORRELATION_ID="bad id\nwith newline")
    assert response["X-Correlation-ID"] != "bad id\nwith newline"
    assert len(response["X-Correlation-ID"]) == 32


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=100)
def test_oversized_body_is_413_and_nothing_is_created(auth_client: Any, user: Any) -> None:
    response = auth_client.post(
        "/api/v1/auth/api-keys/", data=json.dumps({"name": "x" * 500}), content_type="application/json"
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert user.api_keys.count() == 0


def test_malformed_json_is_400_in_error_shape(auth_client: Any) -> None:
    response = auth_client.post("/api/v1/auth/api-keys/", data="{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"


def test_log_lines_are_json_with_correlation_id(client: Any, caplog: Any) -> None:
    from tradeviz.observability.logs import CorrelationIdFilter, JsonFormatter

    formatter, corr = JsonFormatter(), CorrelationIdFilter()
    captured: list[str] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            corr.filter(record)
            captured.append(formatter.format(record))

    handler = Capture()
    logger = logging.getLogger("django.request")
    logger.addHandler(handler)
    try:
        client.get("/api/v1/auth/me/", HTTP_X_CORRELATION_ID="trace-7")
    finally:
        logger.removeHandler(handler)
    assert captured, "an unauthorised API call should be logged by django.request"
    line = json.loads(captured[-1])
    assert line["correlation_id"] == "trace-7"
    assert line["level"] == "WARNING"
    assert line["logger"] == "django.request"
    assert {"timestamp", "message"} <= line.keys()


def test_schema_and_docs_need_login(api_client: Any, auth_client: Any, client: Any, user: Any) -> None:
    assert api_client.get("/api/v1/schema/").status_code == 401
    schema = auth_client.get("/api/v1/schema/")
    assert schema.status_code == 200
    assert b"/api/v1/auth/api-keys/" in schema.content
    client.force_login(user)
    docs = client.get("/api/v1/docs/")
    assert docs.status_code == 200
    assert b"swagger-ui" in docs.content


def test_static_files_pass_through_the_middleware(client: Any) -> None:
    # WhiteNoise answers with a file (streaming) response; every middleware must accept it.
    response = client.get("/static/css/app.css")
    assert response.status_code == 200
    assert response["X-Correlation-ID"]
    assert b"--accent" in b"".join(response.streaming_content)


async def test_static_files_pass_through_the_asgi_stack(async_client: Any) -> None:
    response = await async_client.get("/static/css/app.css")
    assert response.status_code == 200
    assert response["X-Process-Time"].endswith("ms")
