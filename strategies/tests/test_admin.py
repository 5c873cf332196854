"""Strategies in the Django admin: created with legs inline, scoped to their owner for non-superusers,
activate / pause / close actions, closed strategies read-only."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from accounts.tests.trading_factories import make_account
from strategies.models import LegStatus, Strategy, StrategyStatus
from strategies.tests.factories import long_future, straddle

pytestmark = pytest.mark.django_db

ADD_URL = "/admin/strategies/strategy/add/"
LIST_URL = "/admin/strategies/strategy/"


@pytest.fixture
def admin_client_(django_user_model: Any) -> Client:
    admin = django_user_model.objects.create_superuser(username="root", password="root-pass-1")
    client = Client()
    client.force_login(admin)
    return client


@pytest.fixture
def staff_client(django_user_model: Any) -> tuple[Client, Any]:
    staff = django_user_model.objects.create_user(username="staffer", password="staff-pass-1", is_staff=True)
    staff.user_permissions.set(Permission.objects.filter(content_type__app_label__in=["strategies", "accounts",
                                                                                      "marketdata"]))
    client = Client()
    client.force_login(staff)
    return client, staff


def inline(prefix: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    data: dict[str, Any] = {f"{prefix}-TOTAL_FORMS": len(rows), f"{prefix}-INITIAL_FORMS": 0,
                            f"{prefix}-MIN_NUM_FORMS": 0, f"{prefix}-MAX_NUM_FORMS": 1000}
    for k, row in enumerate(rows):
        data.update({f"{prefix}-{k}-{name}": value for name, value in row.items()})
    return data


def leg_row(instrument: Any, side: str, lots: int, price: str, **extra: Any) -> dict[str, Any]:
    return {"instrument": instrument.pk, "side": side, "lots": lots, "entry_price": price,
            "entry_time_0": "2025-11-28", "entry_time_1": "09:30:00", **extra}


def test_an_admin_creates_a_strategy_with_legs_for_its_owner(admin_client_: Client, user: Any, other_client: Any,
                                                             auth_client: Any, instruments: Any) -> None:
    data = {"owner": user.pk, "name": "Admin straddle", "description": "", "tags": "", "status": "ACTIVE",
            **inline("legs", [leg_row(instruments["ce"], "SELL", 1, "200"),
                              leg_row(instruments["pe"], "SELL", 2, "180")])}
    response = admin_client_.post(ADD_URL, data)
    assert response.status_code == 302, response.context["errors"] if response.context else response
    strategy = Strategy.objects.get()
    assert (strategy.owner, strategy.name) == (user, "Admin straddle")
    assert list(strategy.legs.order_by("id").values_list("side", "lots", "quantity", "status")) == [
        ("SELL", 1, 75, LegStatus.OPEN), ("SELL", 2, 150, LegStatus.OPEN)]
    assert [s["name"] for s in auth_client.get("/api/v1/strategies/").json()] == ["Admin straddle"]
    assert other_client.get("/api/v1/strategies/").json() == []
    assert other_client.get(f"/api/v1/strategies/{strategy.pk}/").status_code == 404


def test_admin_legs_are_validated_like_the_api(admin_client_: Client, user: Any, instruments: Any) -> None:
    data = {"owner": user.pk, "name": "bad", "status": "ACTIVE",
            **inline("legs", [leg_row(instruments["ce"], "SELL", 1, "200", exit_price="210",
                                      exit_time_0="2025-11-27", exit_time_1="09:30:00")])}
    response = admin_client_.post(ADD_URL, data)
    assert response.status_code == 200
    assert "exit_time is before entry_time." in response.content.decode()
    zero = {"owner": user.pk, "name": "bad", "status": "ACTIVE",
            **inline("legs", [leg_row(instruments["ce"], "SELL", 0, "200")])}
    assert admin_client_.post(ADD_URL, zero).status_code == 200
    assert not Strategy.objects.exists()


def test_another_users_account_cannot_be_linked_in_admin(admin_client_: Client, user: Any, other_user: Any) -> None:
    theirs = make_account(other_user)
    data = {"owner": user.pk, "name": "x", "status": "ACTIVE", "trading_account": theirs.pk, **inline("legs", [])}
    response = admin_client_.post(ADD_URL, data)
    assert "This trading account belongs to another user." in response.content.decode()
    assert not Strategy.objects.exists()


def test_staff_see_and_change_only_their_own_strategies(staff_client: tuple[Client, Any], user: Any,
                                                        instruments: Any) -> None:
    client, staff = staff_client
    mine = long_future(staff, instruments, name="Mine")
    theirs = straddle(user, instruments, name="Theirs")
    listing = client.get(LIST_URL).content.decode()
    assert "Mine" in listing
    assert "Theirs" not in listing
    assert client.get(f"{LIST_URL}{theirs.pk}/change/").status_code == 302  # "doesn't exist" → index
    assert client.get(f"{LIST_URL}{mine.pk}/change/").status_code == 200
    # The add form offers only themselves as owner.
    form = client.get(ADD_URL).context["adminform"].form
    assert list(form.fields["owner"].queryset) == [staff]
    # Actions on someone else's id do nothing.
    client.post(LIST_URL, {"action": "pause", "_selected_action": [theirs.pk]})
    theirs.refresh_from_db()
    assert theirs.status == StrategyStatus.ACTIVE


def test_actions_activate_pause_close(admin_client_: Client, user: Any, instruments: Any) -> None:
    strategy = long_future(user, instruments)
    admin_client_.post(LIST_URL, {"action": "pause", "_selected_action": [strategy.pk]})
    strategy.refresh_from_db()
    assert strategy.status == StrategyStatus.PAUSED
    admin_client_.post(LIST_URL, {"action": "activate", "_selected_action": [strategy.pk]})
    strategy.refresh_from_db()
    assert strategy.status == StrategyStatus.ACTIVE
    admin_client_.post(LIST_URL, {"action": "close", "_selected_action": [strategy.pk]})
    strategy.refresh_from_db()
    assert strategy.status == StrategyStatus.CLOSED
    assert list(strategy.legs.values_list("status", "exit_price")) == [(LegStatus.CLOSED, strategy.legs.get().entry_price)]
    response = admin_client_.post(LIST_URL, {"action": "activate", "_selected_action": [strategy.pk]}, follow=True)
    assert "The strategy is closed; it can no longer be changed." in response.content.decode()


def test_a_closed_strategy_is_read_only_in_admin(admin_client_: Client, user: Any, instruments: Any) -> None:
    strategy = long_future(user, instruments)
    admin_client_.post(LIST_URL, {"action": "close", "_selected_action": [strategy.pk]})
    page = admin_client_.get(f"{LIST_URL}{strategy.pk}/change/")
    form = page.context["adminform"].form
    assert "name" not in form.fields
    inline_formset = page.context["inline_admin_formsets"][0]
    assert not inline_formset.has_add_permission
    assert not inline_formset.has_change_permission


def test_list_filters(admin_client_: Client, user: Any, instruments: Any) -> None:
    long_future(user, instruments, name="Alpha")
    paused = straddle(user, instruments, name="Beta")
    paused.status = StrategyStatus.PAUSED
    paused.save()
    page = admin_client_.get(f"{LIST_URL}?status__exact=PAUSED").content.decode()
    assert "Beta" in page
    assert "Alpha" not in page
    assert admin_client_.get(f"{LIST_URL}?owner__id__exact={user.pk}").status_code == 200
