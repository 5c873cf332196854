"""The project's exception family and the one JSON error shape for /api/ (UDF keeps its own protocol).

    {"error": {"code": "...", "message": "...", "details": ..., "correlation_id": "..."}}
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from tradeviz.observability.context import get_correlation_id

logger = logging.getLogger(__name__)


class DomainError(Exception):
    """Base of the errors that domain code raises; the API turns them into the error shape."""

    status_code = 400
    code = "bad_request"

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class InvalidInput(DomainError):
    status_code = 400
    code = "invalid"


class NotFound(DomainError):
    status_code = 404
    code = "not_found"


class Conflict(DomainError):
    status_code = 409
    code = "conflict"


class DataUnavailable(DomainError):
    """Reference data the answer depends on is missing (for example a year without holidays)."""

    status_code = 422
    code = "data_unavailable"


class UpstreamUnavailable(DomainError):
    status_code = 503
    code = "upstream_unavailable"


def error_body(*, code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {
        "error": {
            "code": code,
            "message": message,
            "details": details,
            "correlation_id": get_correlation_id(),
        }
    }


def _drf_code(exc: drf_exceptions.APIException) -> str:
    codes = exc.get_codes()
    if isinstance(codes, str):
        return codes
    return getattr(exc, "default_code", "error")


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's EXCEPTION_HANDLER: every API error leaves in one shape."""
    if isinstance(exc, DomainError):
        return Response(error_body(code=exc.code, message=exc.message, details=exc.details), status=exc.status_code)
    if isinstance(exc, Http404):
        exc = drf_exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = drf_exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None:
        logger.exception("unhandled error in API view", extra={"view": type(context.get("view")).__name__})
        return Response(
            error_body(code="server_error", message="An unexpected error occurred."), status=500
        )
    assert isinstance(exc, drf_exceptions.APIException)
    if isinstance(exc, drf_exceptions.ValidationError):
        message, details = "Invalid input.", response.data
    else:
        detail = response.data.get("detail", exc.detail) if isinstance(response.data, dict) else exc.detail
        message, details = str(detail), None
    response.data = error_body(code=_drf_code(exc), message=message, details=details)
    return response


def is_api_path(path: str) -> bool:
    return path.startswith("/api/") and not path.startswith("/api/v1/udf/")


def json_error_response(*, status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse(error_body(code=code, message=message), status=status)


def handler404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if request.path.startswith("/api/"):
        return json_error_response(status=404, code="not_found", message="No such endpoint.")
    from django.views.defaults import page_not_found

    return page_not_found(request, exception or Http404())


def handler500(request: HttpRequest) -> HttpResponse:
    if request.path.startswith("/api/"):
        return json_error_response(status=500, code="server_error", message="An unexpected error occurred.")
    from django.views.defaults import server_error

    return server_error(request)


class BodySizeLimitMiddleware:
    """Refuses oversized bodies up front with 413, before anything reads them."""

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return json_error_response(status=400, code="bad_request", message="Invalid Content-Length.")
        if limit is not None and length > limit:
            return json_error_response(
                status=413, code="payload_too_large", message=f"Request body exceeds {limit} bytes."
            )
        response: HttpResponse = self.get_response(request)
        return response
