"""Reads of the trading side of accounts. Every read starts from the requesting user: a trading account
that is not theirs does not exist for them (NotFound), whatever its id."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import QuerySet

from accounts.models import FundsSnapshot, Holding, Order, OrderStatus, Position, TradingAccount, User
from marketdata.last_prices import read_last_prices
from tradeviz.errors import InvalidInput, NotFound

logger = logging.getLogger(__name__)

FUNDS_HISTORY_DEFAULT = 30
FUNDS_HISTORY_MAX = 500


def trading_accounts_for(*, user: User) -> QuerySet[TradingAccount]:
    return TradingAccount.objects.filter(owner=user).order_by("display_name", "id")


def trading_account_get(*, user: User, account_id: int) -> TradingAccount:
    account = TradingAccount.objects.filter(owner=user, pk=account_id).first()
    if account is None:
        raise NotFound("No such trading account.")
    return account


@dataclass(frozen=True)
class MarkedPosition:
    """A stored position marked at the newest known last price (live when Redis has one)."""

    position: Position
    last_price: Decimal | None
    unrealised_pnl: Decimal
    live: bool

    @property
    def total_pnl(self) -> Decimal:
        return self.position.realised_pnl + self.unrealised_pnl


def positions_for(*, account: TradingAccount) -> list[MarkedPosition]:
    """The account's positions with unrealised P&L at the live last price (Redis `tv:ltp`).

    Without Redis the stored marks are used and `live` is False: the page still shows positions.
    """
    positions = list(account.positions.select_related("instrument").order_by("instrument__tradingsymbol", "product"))
    tokens = [p.instrument.instrument_token for p in positions]
    try:
        prices = read_last_prices(tokens)
    except Exception:
        logger.warning("last prices unavailable; positions marked at stored prices", exc_info=True)
        prices = {}
    marked = []
    for p in positions:
        quote = prices.get(p.instrument.instrument_token)
        ltp = quote.get("ltp") if quote else None
        if isinstance(ltp, int | float) and ltp > 0:
            last = Decimal(str(ltp))
            unrealised = (p.quantity * (last - p.average_price)).quantize(Decimal(1).scaleb(-settings.PRICE_DECIMAL_PLACES))
            marked.append(MarkedPosition(p, last, unrealised if p.quantity else Decimal(0), True))
        else:
            marked.append(MarkedPosition(p, p.last_price, p.unrealised_pnl, False))
    return marked


def _market_tz() -> ZoneInfo:
    return ZoneInfo(settings.MARKET_TIME_ZONE)


def _parse_instant(value: str, name: str, *, end: bool) -> datetime:
    """An ISO datetime (aware, or naive = IST) or a date (its IST start; for `to`, the next day's start)."""
    text = value.strip()
    try:
        if len(text) == len("2025-12-01"):
            day = date.fromisoformat(text)
            return datetime.combine(day + timedelta(days=1) if end else day, time(0), _market_tz())
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidInput(f"{name} must be an ISO-8601 date or datetime", details={name: [value[:40]]}) from exc
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=_market_tz())


def orders_for(
    *, account: TradingAccount, statuses: list[str] | None = None, day: str | None = None,
    start: str | None = None, end: str | None = None,
) -> QuerySet[Order]:
    """Orders newest first, optionally by status (any of), IST trading `day`, or [start, end) on placement time."""
    queryset = account.orders.all()
    if statuses:
        unknown = sorted(set(statuses) - set(OrderStatus.values))
        if unknown:
            raise InvalidInput(
                f"unknown status {', '.join(unknown)[:60]}; expected any of {', '.join(OrderStatus.values)}",
                details={"status": unknown[:5]},
            )
        queryset = queryset.filter(status__in=statuses)
    if day:
        lo = _parse_instant(day, "date", end=False)
        if len(day.strip()) != len("2025-12-01"):
            raise InvalidInput("date must be YYYY-MM-DD (the IST trading date)", details={"date": [day[:40]]})
        queryset = queryset.filter(placed_at__gte=lo, placed_at__lt=lo + timedelta(days=1))
    if start:
        queryset = queryset.filter(placed_at__gte=_parse_instant(start, "from", end=False))
    if end:
        queryset = queryset.filter(placed_at__lt=_parse_instant(end, "to", end=True))
    return queryset.order_by("-placed_at", "-id")


def holdings_for(*, account: TradingAccount) -> QuerySet[Holding]:
    return account.holdings.order_by("tradingsymbol")


def funds_for(*, account: TradingAccount, limit: int = FUNDS_HISTORY_DEFAULT) -> dict[str, Any]:
    """The latest funds snapshot and the history before it (newest first)."""
    limit = max(1, min(limit, FUNDS_HISTORY_MAX))
    snapshots = list(FundsSnapshot.objects.filter(account=account).order_by("-taken_at")[:limit])
    return {"latest": snapshots[0] if snapshots else None, "history": snapshots}
