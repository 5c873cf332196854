"""WebSocket authentication and origin checks, through the project's real ASGI application."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from tradeviz.asgi import application
from tradeviz.tests.ws_support import channel_layer, communicator, jwt_for
from tradeviz.ws.consumers import CLOSE_UNAUTHENTICATED

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.redis]
__all__ = ["channel_layer"]

TICKS = "/ws/ticks"


async def _refused(client: Any) -> None:
    connected, code = await client.connect()
    assert (connected, code) == (False, CLOSE_UNAUTHENTICATED)
    await client.disconnect()


async def _accepted(client: Any) -> None:
    connected, _ = await client.connect()
    assert connected
    await client.send_json_to({"action": "ping"})
    assert await client.receive_json_from() == {"type": "pong"}
    await client.disconnect()


async def test_anonymous_connection_is_refused_before_accept(channel_layer: Any) -> None:
    await _refused(communicator(application, TICKS))


@pytest.mark.parametrize("token", ["garbage", "a.b.c", ""])
async def test_invalid_token_is_refused(channel_layer: Any, token: str) -> None:
    await _refused(communicator(application, TICKS, token=token))


async def test_expired_token_is_refused(channel_layer: Any, user: Any) -> None:
    token = AccessToken.for_user(user)
    token.set_exp(lifetime=-timedelta(seconds=1))
    await _refused(communicator(application, TICKS, token=str(token)))


async def test_refresh_token_is_not_an_access_token(channel_layer: Any, user: Any) -> None:
    await _refused(communicator(application, TICKS, token=str(RefreshToken.for_user(user))))


async def test_token_of_an_inactive_user_is_refused(channel_layer: Any, user: Any) -> None:
    token = jwt_for(user)
    user.is_active = False
    await user.asave(update_fields=["is_active"])
    await _refused(communicator(application, TICKS, token=token))


async def test_jwt_access_token_in_query_is_accepted(channel_layer: Any, user: Any) -> None:
    await _accepted(communicator(application, TICKS, token=jwt_for(user)))


def _session_cookie(user: Any) -> str:
    browser = Client()
    browser.force_login(user)
    return f"sessionid={browser.cookies['sessionid'].value}"


async def test_session_cookie_is_accepted(channel_layer: Any, user: Any) -> None:
    from asgiref.sync import sync_to_async

    cookie = await sync_to_async(_session_cookie)(user)
    await _accepted(communicator(application, TICKS, cookie=cookie))


async def test_unknown_session_cookie_is_refused(channel_layer: Any) -> None:
    await _refused(communicator(application, TICKS, cookie="sessionid=not-a-session"))


async def test_bad_token_does_not_fall_back_to_the_session(channel_layer: Any, user: Any) -> None:
    from asgiref.sync import sync_to_async

    cookie = await sync_to_async(_session_cookie)(user)
    await _refused(communicator(application, TICKS, cookie=cookie, token="garbage"))


async def test_foreign_origin_is_refused(channel_layer: Any, user: Any) -> None:
    client = communicator(application, TICKS, token=jwt_for(user), origin=b"https://evil.example")
    connected, _ = await client.connect()
    assert connected is False
    await client.disconnect()


async def test_own_origin_is_accepted(channel_layer: Any, user: Any) -> None:
    await _accepted(communicator(application, TICKS, token=jwt_for(user), origin=b"http://127.0.0.1:8000"))


async def test_client_without_origin_passes_the_origin_check_but_still_needs_credentials(
    channel_layer: Any, user: Any
) -> None:
    await _accepted(communicator(application, TICKS, token=jwt_for(user), origin=None))
    await _refused(communicator(application, TICKS, origin=None))
