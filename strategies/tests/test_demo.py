"""`make run`'s demo step: the demo admin's trading account (the simulator's broker account), seed orders
and the NIFTY strategies — created once, unchanged by a second run."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from accounts.models import Order, Position, TradingAccount
from marketdata.models import Bar
from strategies.demo import seed_demo_strategies
from strategies.models import Strategy
from strategies.tests.conftest import make_instrument

pytestmark = pytest.mark.django_db

TODAY = date(2025, 12, 1)
EXPIRY = date(2025, 12, 2)
AT = datetime(2025, 12, 1, 4, 0, tzinfo=UTC)


@pytest.fixture
def demo_admin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, django_user_model: Any) -> Any:
    path = tmp_path / "credentials.json"
    path.write_text(json.dumps({"username": "demo-admin", "password": "x"}))
    monkeypatch.setattr("tradeviz.demo.credentials_path", lambda: path)
    return django_user_model.objects.create_superuser(username="demo-admin", password="x")


@pytest.fixture
def nifty(db: Any) -> dict[str, Any]:
    rows = {
        "index": make_instrument(tradingsymbol="NIFTY 50", instrument_type="INDEX", exchange="NSE", lot_size=1,
                                 underlying="NIFTY"),
        "fut": make_instrument(tradingsymbol="NIFTY25DECFUT", instrument_type="FUT", underlying="NIFTY",
                               expiry=date(2025, 12, 30), lot_size=65),
    }
    for strike in (23950, 24000, 24050):
        for kind in ("CE", "PE"):
            rows[f"{strike}{kind}"] = make_instrument(
                tradingsymbol=f"NIFTY251202{strike}{kind}", instrument_type=kind, underlying="NIFTY", expiry=EXPIRY,
                strike=Decimal(strike), lot_size=65)
    closes = {"index": 24010, "fut": 24080, "24000CE": 95.5, "24000PE": 88.25}
    for key, close in closes.items():
        Bar.objects.create(instrument=rows[key], time=AT, open=close, high=close, low=close, close=close)
    return rows


def test_demo_account_orders_and_strategies(demo_admin: Any, nifty: dict[str, Any], settings: Any) -> None:
    settings.SIMULATOR_ACCOUNT_ID = "DEMO-TEST1"
    assert seed_demo_strategies(today=TODAY) == {"strategies": 2, "orders": 3}
    account = TradingAccount.objects.get()
    assert (account.owner, account.broker_account_id, account.broker) == (demo_admin, "DEMO-TEST1", "sim")
    straddle = Strategy.objects.get(name="NIFTY short straddle")
    assert straddle.trading_account == account
    assert list(straddle.legs.order_by("id").values_list("instrument__tradingsymbol", "side", "quantity",
                                                         "entry_price", "entry_time")) == [
        ("NIFTY25120224000CE", "SELL", 65, Decimal("95.5000"), AT + timedelta(minutes=1)),
        ("NIFTY25120224000PE", "SELL", 65, Decimal("88.2500"), AT + timedelta(minutes=1)),
    ]
    futures = Strategy.objects.get(name="NIFTY long futures")
    assert list(futures.legs.values_list("instrument__tradingsymbol", "side", "lots")) == [("NIFTY25DECFUT", "BUY", 1)]
    assert sorted(Order.objects.values_list("broker_order_id", "status")) == [
        ("SEED-1", "COMPLETE"), ("SEED-2", "COMPLETE"), ("SEED-3", "CANCELLED")]
    assert Position.objects.count() == 2

    before = (list(Strategy.objects.values()), list(Order.objects.values()))
    assert seed_demo_strategies(today=TODAY) == {"strategies": 0, "orders": 0}
    assert (list(Strategy.objects.values()), list(Order.objects.values())) == before


def test_without_listed_derivatives_nothing_is_created(demo_admin: Any, settings: Any) -> None:
    settings.SIMULATOR_ACCOUNT_ID = "DEMO-TEST2"
    assert seed_demo_strategies(today=TODAY) == {"strategies": 0, "orders": 0}
    assert TradingAccount.objects.get().broker_account_id == "DEMO-TEST2"
    assert not Strategy.objects.exists()
