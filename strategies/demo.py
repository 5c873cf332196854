"""Demo data of `make run` (tradeviz.demo DEMO_STEPS): the demo admin's trading account — the broker
account the simulator publishes order updates for — with a few orders, and demo strategies whose
M2M moves with the simulated market.

* NIFTY (NSE): a short ATM straddle on the nearest expiry and a long near-month future. Their M2M
  candles grow every minute of the NSE session.
* SIMNIFTY (the simulator's 24x7 SIM exchange), the same pair, so the demo also moves outside NSE
  hours.

Idempotent: the account, the seed orders and each strategy are created once; a second run changes
nothing.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone

from accounts.models import TradingAccount
from accounts.services.orders import OrderUpdate, order_updates_apply
from marketdata.models import Instrument, InstrumentType
from strategies.models import Strategy
from strategies.services import strategy_create

logger = logging.getLogger(__name__)

DEMO_ACCOUNT_NAME = "Demo (simulator)"
DEFAULT_ACCOUNT_ID = "DEMO-ZX1234"
SEED_ORDER_PREFIX = "SEED-"


@dataclass(frozen=True)
class DemoUnderlying:
    underlying: str
    label: str


UNDERLYINGS = (DemoUnderlying("NIFTY", "NIFTY"), DemoUnderlying("SIMNIFTY", "SIMNIFTY (24x7)"))


def _demo_user() -> Any:
    from tradeviz.demo import DEMO_ADMIN_USERNAME, credentials_path

    path = credentials_path()
    username = json.loads(path.read_text())["username"] if path.is_file() else DEMO_ADMIN_USERNAME
    return get_user_model().objects.filter(username=username).first()


def _last_price(instrument: Instrument) -> tuple[Decimal, datetime] | None:
    """The instrument's newest minute close, else its master last price."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT close, time FROM marketdata_bar WHERE instrument_id = %s ORDER BY time DESC LIMIT 1",
            [instrument.pk],
        )
        row = cursor.fetchone()
    if row is not None:
        return Decimal(row[0]), row[1] + timedelta(minutes=1)
    if instrument.last_price:
        return instrument.last_price, timezone.now()
    return None


def _spot_instrument(underlying: str) -> Instrument | None:
    return Instrument.objects.filter(underlying=underlying, instrument_type=InstrumentType.INDEX).first() or (
        Instrument.objects.filter(underlying=underlying, instrument_type=InstrumentType.EQ).first()
    )


def _nearest_future(underlying: str, today: date) -> Instrument | None:
    return (
        Instrument.objects.filter(underlying=underlying, instrument_type=InstrumentType.FUT, expiry__gte=today,
                                  is_active=True)
        .order_by("expiry")
        .first()
    )


def _atm_pair(underlying: str, spot: Decimal, today: date) -> tuple[Instrument, Instrument] | None:
    options = Instrument.objects.filter(underlying=underlying, instrument_type__in=[InstrumentType.CE, InstrumentType.PE],
                                        expiry__gte=today, is_active=True)
    expiry = options.order_by("expiry").values_list("expiry", flat=True).first()
    if expiry is None:
        return None
    chain = list(options.filter(expiry=expiry))
    strikes = sorted({o.strike for o in chain if o.strike is not None}, key=lambda k: abs(k - spot))
    for strike in strikes:
        calls = [o for o in chain if o.strike == strike and o.instrument_type == InstrumentType.CE]
        puts = [o for o in chain if o.strike == strike and o.instrument_type == InstrumentType.PE]
        if calls and puts:
            return calls[0], puts[0]
    return None


def _leg(instrument: Instrument, side: str, lots: int) -> dict[str, Any] | None:
    last = _last_price(instrument)
    if last is None:
        return None
    price, at = last
    entry_time = min(at, timezone.now())
    return {"instrument_token": instrument.instrument_token, "side": side, "lots": lots, "entry_price": price,
            "entry_time": entry_time}


def _ensure_strategy(*, owner: Any, account: TradingAccount | None, name: str, description: str, tags: list[str],
                     legs: list[dict[str, Any] | None]) -> bool:
    if Strategy.objects.filter(owner=owner, name=name).exists():
        return False
    if not legs or any(leg is None for leg in legs):
        logger.warning("demo strategy %r skipped: a leg has no price", name)
        return False
    strategy_create(owner=owner, name=name, description=description, tags=tags,
                    trading_account_id=account.pk if account else None, legs=[leg for leg in legs if leg])
    return True


def _seed_orders(account: TradingAccount, instruments: list[Instrument]) -> int:
    """A few finished orders so the accounts page has history before the simulator's first update."""
    if account.orders.exists():
        return 0
    now_ms = int(timezone.now().timestamp() * 1000)
    updates = []
    for k, (instrument, side, status) in enumerate(
        zip(instruments, ("BUY", "SELL", "BUY"), ("COMPLETE", "COMPLETE", "CANCELLED"), strict=False)
    ):
        last = _last_price(instrument)
        if last is None:
            continue
        price = float(last[0])
        quantity = instrument.lot_size
        filled = quantity if status == "COMPLETE" else 0
        base = {"account": account.broker_account_id, "order_id": f"{SEED_ORDER_PREFIX}{k + 1}",
                "token": instrument.instrument_token, "tradingsymbol": instrument.tradingsymbol, "side": side,
                "quantity": quantity, "price": price, "product": "NRML", "tag": "demo"}
        opened = now_ms - (10 - k) * 60_000
        updates.append(OrderUpdate.parse({**base, "status": "OPEN", "filled_quantity": 0, "average_price": 0,
                                          "ts": opened}))
        updates.append(OrderUpdate.parse({**base, "status": status, "filled_quantity": filled,
                                          "average_price": price if filled else 0, "ts": opened + 2_000}))
    return len(order_updates_apply(updates=updates).orders)


def seed_demo_strategies(*, today: date | None = None) -> dict[str, int]:
    """The demo account, its seed orders and the demo strategies (module docstring)."""
    today = today or datetime.now(tz=UTC).date()
    owner = _demo_user()
    if owner is None:
        logger.warning("demo strategies skipped: no demo admin user")
        return {"strategies": 0, "orders": 0}
    account_id = getattr(settings, "SIMULATOR_ACCOUNT_ID", DEFAULT_ACCOUNT_ID)
    account, _ = TradingAccount.objects.get_or_create(
        broker_account_id=account_id,
        defaults={"owner": owner, "broker": "sim", "display_name": DEMO_ACCOUNT_NAME},
    )
    if account.owner_id != owner.pk:
        logger.warning("demo account %s belongs to another user; strategies are not linked to it", account_id)
        account = None  # type: ignore[assignment]

    created = 0
    order_instruments: list[Instrument] = []
    for demo in UNDERLYINGS:
        spot_instrument = _spot_instrument(demo.underlying)
        spot = _last_price(spot_instrument) if spot_instrument else None
        future = _nearest_future(demo.underlying, today)
        pair = _atm_pair(demo.underlying, spot[0], today) if spot else None
        if future is None or pair is None:
            logger.info("demo strategies for %s skipped: no futures or options listed", demo.underlying)
            continue
        created += _ensure_strategy(
            owner=owner, account=account, name=f"{demo.label} short straddle",
            description=f"Sell the at-the-money {pair[0].expiry} straddle ({pair[0].strike:.0f} CE + PE).",
            tags=["demo", demo.underlying.lower(), "short-vol"],
            legs=[_leg(pair[0], "SELL", 1), _leg(pair[1], "SELL", 1)],
        )
        created += _ensure_strategy(
            owner=owner, account=account, name=f"{demo.label} long futures",
            description=f"Long one lot of {future.tradingsymbol}.", tags=["demo", demo.underlying.lower()],
            legs=[_leg(future, "BUY", 1)],
        )
        if demo.underlying == "NIFTY":
            order_instruments = [future, pair[0], pair[1]]
    orders = _seed_orders(account, order_instruments) if account is not None and order_instruments else 0
    logger.info("demo strategies seeded", extra={"strategies": created, "orders": orders, "account": account_id})
    return {"strategies": created, "orders": orders}
