from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponseBase

from .context import accept_or_new, set_correlation_id

HEADER = "X-Correlation-ID"


class CorrelationIdMiddleware:
    """Accepts or generates X-Correlation-ID, binds it for logs, echoes it, and adds X-Process-Time.

    The id is not unbound on the way out: Django logs 4xx/5xx responses (django.request) after the
    middleware chain returns, and those lines must carry it too. Each request binds its own id first.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase | Awaitable[HttpResponseBase]]) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def _begin(self, request: HttpRequest) -> tuple[str, float]:
        cid = accept_or_new(request.headers.get(HEADER))
        set_correlation_id(cid)
        request.correlation_id = cid  # type: ignore[attr-defined]
        return cid, time.perf_counter()

    @staticmethod
    def _finish(response: HttpResponseBase, cid: str, started: float) -> HttpResponseBase:
        response[HEADER] = cid
        response["X-Process-Time"] = f"{(time.perf_counter() - started) * 1000:.2f}ms"
        return response

    def __call__(self, request: HttpRequest) -> HttpResponseBase | Awaitable[HttpResponseBase]:
        if self.is_async:
            return self.__acall__(request)
        cid, started = self._begin(request)
        response = self.get_response(request)
        # Streaming and file responses (static files from WhiteNoise) are not HttpResponse subclasses.
        assert isinstance(response, HttpResponseBase)
        return self._finish(response, cid, started)

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        cid, started = self._begin(request)
        response = await self.get_response(request)  # type: ignore[misc]
        return self._finish(response, cid, started)
