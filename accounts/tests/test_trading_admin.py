"""Trading accounts in the admin: staff see only their own accounts and orders; orders are read-only."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from accounts.models import Order
from accounts.services.orders import order_updates_apply
from accounts.tests.trading_factories import make_account, make_instrument, parsed, update

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(django_user_model: Any) -> Any:
    staff = django_user_model.objects.create_user(username="staffer", password="staff-pass-1", is_staff=True)
    staff.user_permissions.set(Permission.objects.filter(content_type__app_label="accounts"))
    return staff


@pytest.fixture
def staff_client(staff: Any) -> Client:
    client = Client()
    client.force_login(staff)
    return client


def test_staff_see_only_their_accounts_orders_and_positions(staff_client: Client, staff: Any, user: Any) -> None:
    future = make_instrument()
    mine = make_account(staff, display_name="Staff book")
    theirs = make_account(user, display_name="Trader book")
    order_updates_apply(updates=parsed(update(mine, future, order_id="MINE-1", status="COMPLETE", filled=75,
                                              average="10"),
                                       update(theirs, future, order_id="THEIRS-1", status="COMPLETE", filled=75,
                                              average="10")))
    accounts_page = staff_client.get("/admin/accounts/tradingaccount/").content.decode()
    assert "Staff book" in accounts_page
    assert "Trader book" not in accounts_page
    orders_page = staff_client.get("/admin/accounts/order/").content.decode()
    assert "MINE-1" in orders_page
    assert "THEIRS-1" not in orders_page
    # The account filter offers only accounts in their (scoped) list.
    assert "Trader book" not in orders_page
    theirs_order = Order.objects.get(broker_order_id="THEIRS-1")
    assert staff_client.get(f"/admin/accounts/order/{theirs_order.pk}/change/").status_code == 302
    assert staff_client.get(f"/admin/accounts/tradingaccount/{theirs.pk}/change/").status_code == 302
    positions = staff_client.get("/admin/accounts/position/").context["cl"].queryset
    assert [p.account_id for p in positions] == [mine.pk]


def test_orders_are_read_only(staff_client: Client, staff: Any) -> None:
    account = make_account(staff)
    order_updates_apply(updates=parsed(update(account, make_instrument(), order_id="RO")))
    order = Order.objects.get()
    assert staff_client.get("/admin/accounts/order/add/").status_code == 403
    page = staff_client.get(f"/admin/accounts/order/{order.pk}/change/")
    assert page.status_code == 200
    assert not page.context["has_change_permission"]
    assert not page.context["has_delete_permission"]
    staff_client.post(f"/admin/accounts/order/{order.pk}/change/", {"status": "CANCELLED"})
    order.refresh_from_db()
    assert order.status == "OPEN"


def test_superusers_see_everyone(django_user_model: Any, user: Any, staff: Any) -> None:
    root = django_user_model.objects.create_superuser(username="root", password="root-pass-1")
    client = Client()
    client.force_login(root)
    make_account(user, display_name="Trader book")
    make_account(staff, display_name="Staff book")
    page = client.get("/admin/accounts/tradingaccount/").content.decode()
    assert "Trader book" in page
    assert "Staff book" in page
