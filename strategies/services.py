"""Writes of the strategies app: strategies, their legs and status changes.

Every write validates its input here (the API and the admin both call these), raises
`InvalidInput` with per-field `details` on bad input, and refuses any change to a CLOSED strategy.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.models import TradingAccount, User
from marketdata.last_prices import read_last_prices
from marketdata.models import Instrument
from marketdata.symbols import normalise
from strategies.models import (
    TAG_MAX_LENGTH,
    InstrumentMark,
    LegSide,
    LegStatus,
    Strategy,
    StrategyInstrument,
    StrategyStatus,
)
from tradeviz.errors import InvalidInput

logger = logging.getLogger(__name__)

MAX_LOTS = 100_000
MAX_TAGS = 20
MAX_LEGS = 50
# Clocks differ a little; an entry "now" from a browser may be a few seconds ahead of ours.
FUTURE_TOLERANCE = timedelta(minutes=1)
PRICE_QUANTUM = Decimal("0.0001")
MAX_PRICE = Decimal("1e13")

# Which status changes are allowed (CLOSED is final; closing goes through strategy_close).
TRANSITIONS = {
    StrategyStatus.ACTIVE: {StrategyStatus.PAUSED},
    StrategyStatus.PAUSED: {StrategyStatus.ACTIVE},
}


class StrategyClosed(InvalidInput):
    code = "strategy_closed"


def _invalid(field: str, message: str) -> InvalidInput:
    return InvalidInput(message, details={field: [message]})


def _ensure_open(strategy: Strategy) -> None:
    if strategy.status == StrategyStatus.CLOSED:
        raise StrategyClosed("The strategy is closed; it can no longer be changed.")


def _price(value: Any, field: str, *, allow_none: bool = False) -> Decimal | None:
    if value is None or value == "":
        if allow_none:
            return None
        raise _invalid(field, f"{field} is required.")
    if isinstance(value, bool):
        raise _invalid(field, f"{field} must be a number.")
    try:
        number = Decimal(str(value))
    except ArithmeticError as exc:
        raise _invalid(field, f"{field} must be a number.") from exc
    if not number.is_finite() or number <= 0 or number >= MAX_PRICE:
        raise _invalid(field, f"{field} must be a positive price.")
    return number.quantize(PRICE_QUANTUM)


def _moment(value: Any, field: str, *, now: datetime) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError as exc:
            raise _invalid(field, f"{field} must be an ISO-8601 date-time.") from exc
    if moment.tzinfo is None:
        raise _invalid(field, f"{field} must include a time zone offset.")
    if moment > now + FUTURE_TOLERANCE:
        raise _invalid(field, f"{field} is in the future.")
    return moment


def _lots(value: Any) -> int:
    if isinstance(value, bool) or value is None or value == "":
        raise _invalid("lots", "lots must be a positive whole number.")
    try:
        lots = int(str(value))
    except ValueError as exc:
        raise _invalid("lots", "lots must be a positive whole number.") from exc
    if lots <= 0:
        raise _invalid("lots", "lots must be greater than zero.")
    if lots > MAX_LOTS:
        raise _invalid("lots", f"lots must be at most {MAX_LOTS}.")
    return lots


def resolve_instrument(*, token: Any = None, symbol: Any = None) -> Instrument:
    """An active instrument by token or `EXCHANGE:TRADINGSYMBOL`; a 400 naming the field otherwise."""
    instrument = None
    if token not in (None, ""):
        if isinstance(token, bool) or not str(token).isdigit():
            raise _invalid("instrument_token", "instrument_token must be a number.")
        instrument = Instrument.objects.filter(instrument_token=int(str(token))).first()
        if instrument is None:
            raise _invalid("instrument_token", f"Unknown instrument token {str(token)[:20]}.")
    elif symbol not in (None, ""):
        text = str(symbol)[:80]
        instrument = Instrument.objects.filter(symbol=normalise(text)).first()
        if instrument is None:
            raise _invalid("symbol", f"Unknown instrument {text!r}.")
    else:
        raise _invalid("instrument", "An instrument is required (instrument_token or symbol).")
    if not instrument.is_active:
        raise _invalid("instrument", f"{instrument.symbol} is not an active instrument.")
    return instrument


@dataclass(frozen=True)
class LegInput:
    """A validated leg, ready to store."""

    instrument: Instrument
    side: str
    lots: int
    entry_price: Decimal
    entry_time: datetime
    exit_price: Decimal | None
    exit_time: datetime | None

    @property
    def quantity(self) -> int:
        return self.lots * self.instrument.lot_size

    @property
    def status(self) -> str:
        return LegStatus.CLOSED if self.exit_price is not None else LegStatus.OPEN


def leg_input(data: Mapping[str, Any], *, now: datetime | None = None, current: StrategyInstrument | None = None) -> LegInput:
    """Validate a leg (a new one, or `current` with `data` changing some of its fields)."""
    now = now or timezone.now()

    def pick(name: str, default: Any) -> Any:
        return data.get(name, default)

    if current is not None and not ({"instrument_token", "symbol"} & data.keys()):
        instrument = current.instrument
    else:
        instrument = resolve_instrument(token=data.get("instrument_token"), symbol=data.get("symbol"))
    side = str(pick("side", current.side if current else "") or "").upper()
    if side not in LegSide.values:
        raise _invalid("side", "side must be BUY or SELL.")
    lots = _lots(pick("lots", current.lots if current else None))
    entry_price = _price(pick("entry_price", current.entry_price if current else None), "entry_price")
    assert entry_price is not None
    entry_time = _moment(pick("entry_time", current.entry_time if current else None), "entry_time", now=now) or now
    exit_price = _price(pick("exit_price", current.exit_price if current else None), "exit_price", allow_none=True)
    exit_time = _moment(pick("exit_time", current.exit_time if current else None), "exit_time", now=now)
    if exit_time is not None and exit_price is None:
        raise _invalid("exit_price", "exit_price is required when exit_time is given.")
    if exit_price is not None and exit_time is None:
        exit_time = now
    if exit_time is not None and exit_time < entry_time:
        raise _invalid("exit_time", "exit_time is before entry_time.")
    return LegInput(instrument, side, lots, entry_price, entry_time, exit_price, exit_time)


def _tags(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list | tuple) or not all(isinstance(t, str) for t in value):
        raise _invalid("tags", "tags must be a list of strings.")
    tags = sorted({t.strip() for t in value if t.strip()})
    if len(tags) > MAX_TAGS or any(len(t) > TAG_MAX_LENGTH for t in tags):
        raise _invalid("tags", f"At most {MAX_TAGS} tags of at most {TAG_MAX_LENGTH} characters.")
    return tags


def _account(owner: User, account_id: Any) -> TradingAccount | None:
    if account_id in (None, ""):
        return None
    if isinstance(account_id, bool) or not str(account_id).isdigit():
        raise _invalid("trading_account", "trading_account must be the id of one of your trading accounts.")
    account = TradingAccount.objects.filter(owner=owner, pk=int(str(account_id))).first()
    if account is None:
        raise _invalid("trading_account", "No such trading account.")
    return account


def _name(value: Any) -> str:
    name = str(value or "").strip()
    if not name:
        raise _invalid("name", "name is required.")
    if len(name) > 100:
        raise _invalid("name", "name must be at most 100 characters.")
    return name


def _new_leg(strategy: Strategy, leg: LegInput) -> StrategyInstrument:
    return StrategyInstrument(
        strategy=strategy, instrument=leg.instrument, side=leg.side, lots=leg.lots, quantity=leg.quantity,
        entry_price=leg.entry_price, entry_time=leg.entry_time, exit_price=leg.exit_price, exit_time=leg.exit_time,
        status=leg.status,
    )


def strategy_create(
    *, owner: User, name: str, description: str = "", tags: Any = None, trading_account_id: Any = None,
    status: str = StrategyStatus.ACTIVE, legs: Sequence[Mapping[str, Any]] = (),
) -> Strategy:
    """A new strategy, with its legs if given (all or nothing: one bad leg rejects the whole request,
    and its error names the leg's index)."""
    if status not in (StrategyStatus.ACTIVE, StrategyStatus.PAUSED):
        raise _invalid("status", "A new strategy is ACTIVE or PAUSED.")
    if len(legs) > MAX_LEGS:
        raise _invalid("instruments", f"At most {MAX_LEGS} legs.")
    now = timezone.now()
    validated = []
    for index, data in enumerate(legs):
        try:
            validated.append(leg_input(data, now=now))
        except InvalidInput as exc:
            raise InvalidInput(f"Leg {index + 1}: {exc.message}", details={"instruments": {index: exc.details}}) from exc
    strategy = Strategy(
        owner=owner, name=_name(name), description=str(description or ""), tags=_tags(tags),
        trading_account=_account(owner, trading_account_id), status=status,
    )
    with transaction.atomic():
        strategy.save()
        StrategyInstrument.objects.bulk_create([_new_leg(strategy, leg) for leg in validated])
    return strategy


def strategy_update(*, strategy: Strategy, data: Mapping[str, Any]) -> Strategy:
    """Change name, description, tags, trading account or status (ACTIVE ↔ PAUSED; CLOSED via close)."""
    _ensure_open(strategy)
    fields: list[str] = []
    if "name" in data:
        strategy.name = _name(data["name"])
        fields.append("name")
    if "description" in data:
        strategy.description = str(data["description"] or "")
        fields.append("description")
    if "tags" in data:
        strategy.tags = _tags(data["tags"])
        fields.append("tags")
    if "trading_account" in data:
        strategy.trading_account = _account(strategy.owner, data["trading_account"])
        fields.append("trading_account")
    if "status" in data and data["status"] != strategy.status:
        target = str(data["status"] or "").upper()
        if target == StrategyStatus.CLOSED:
            return strategy_close(strategy=strategy) if not fields else _save_then_close(strategy, fields)
        if target not in TRANSITIONS.get(StrategyStatus(strategy.status), set()):
            raise _invalid("status", f"Cannot change status from {strategy.status} to {target[:16]}.")
        strategy.status = target
        fields.append("status")
    if fields:
        strategy.save(update_fields=[*fields, "updated_at"])
    return strategy


def _save_then_close(strategy: Strategy, fields: list[str]) -> Strategy:
    with transaction.atomic():
        strategy.save(update_fields=[*fields, "updated_at"])
        return strategy_close(strategy=strategy)


def strategy_set_status(*, strategy: Strategy, status: str) -> Strategy:
    """Activate, pause or close (admin actions and the API)."""
    if status == StrategyStatus.CLOSED:
        return strategy_close(strategy=strategy)
    return strategy_update(strategy=strategy, data={"status": status})


def _exit_prices(instruments: Sequence[Instrument]) -> dict[int, Decimal]:
    """Instrument id → the price open legs are closed at: the live last price, else the last mark."""
    prices: dict[int, Decimal] = {}
    try:
        live = read_last_prices([i.instrument_token for i in instruments])
    except Exception:
        logger.warning("closing a strategy without live prices; using the last marks", exc_info=True)
        live = {}
    for instrument in instruments:
        ltp = (live.get(instrument.instrument_token) or {}).get("ltp")
        if isinstance(ltp, int | float) and not isinstance(ltp, bool) and ltp > 0:
            prices[instrument.pk] = Decimal(str(ltp)).quantize(PRICE_QUANTUM)
    missing = [i.pk for i in instruments if i.pk not in prices]
    for mark in InstrumentMark.objects.filter(instrument_id__in=missing):
        prices[mark.instrument_id] = mark.price
    return prices


def strategy_close(*, strategy: Strategy) -> Strategy:
    """Close for good: open legs exit now at the live price (else the last mark, else their entry),
    totals become final (all realised). The row is locked so two closes cannot both run."""
    with transaction.atomic():
        locked = Strategy.objects.select_for_update().get(pk=strategy.pk)
        _ensure_open(locked)
        now = timezone.now()
        open_legs = list(locked.legs.select_related("instrument").filter(status=LegStatus.OPEN))
        prices = _exit_prices([leg.instrument for leg in open_legs])
        for leg in open_legs:
            leg.exit_price = prices.get(leg.instrument_id, leg.entry_price)
            leg.exit_time = max(now, leg.entry_time)
            leg.status = LegStatus.CLOSED
        StrategyInstrument.objects.bulk_update(open_legs, ["exit_price", "exit_time", "status", "updated_at"])
        realised = sum(
            ((leg.exit_price - leg.entry_price) * leg.quantity * (1 if leg.side == LegSide.BUY else -1)
             for leg in locked.legs.all() if leg.exit_price is not None),
            Decimal(0),
        )
        locked.status = StrategyStatus.CLOSED
        locked.closed_at = now
        locked.realised_pnl = realised
        locked.unrealised_pnl = Decimal(0)
        locked.current_m2m = realised
        locked.stale_legs = 0
        locked.save(update_fields=["status", "closed_at", "realised_pnl", "unrealised_pnl", "current_m2m",
                                   "stale_legs", "updated_at"])
    strategy.refresh_from_db()
    return strategy


def strategy_delete(*, strategy: Strategy) -> None:
    """Delete a strategy, its legs and candles."""
    strategy.delete()


def leg_add(*, strategy: Strategy, data: Mapping[str, Any]) -> StrategyInstrument:
    _ensure_open(strategy)
    if strategy.legs.count() >= MAX_LEGS:
        raise _invalid("instruments", f"At most {MAX_LEGS} legs.")
    leg = _new_leg(strategy, leg_input(data))
    leg.save()
    return leg


def leg_update(*, leg: StrategyInstrument, data: Mapping[str, Any]) -> StrategyInstrument:
    """Change a leg (exit it by giving exit_price; lots recompute the units from the lot size)."""
    _ensure_open(leg.strategy)
    validated = leg_input(data, current=leg)
    for name in ("instrument", "side", "lots", "entry_price", "entry_time", "exit_price", "exit_time"):
        setattr(leg, name, getattr(validated, name))
    leg.quantity = validated.quantity
    leg.status = validated.status
    leg.save()
    return leg


def leg_delete(*, leg: StrategyInstrument) -> None:
    _ensure_open(leg.strategy)
    leg.delete()
