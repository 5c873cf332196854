"""Pulling positions, holdings and funds from the ticker service's broker endpoints.

Enabled by `BROKER_SYNC_ENABLED=true` with `TICKER_SERVICE_URL` set; otherwise the beat task logs
that it is disabled and returns without touching anything. Endpoints (relative to the ticker
service URL), each answering `{"data": …}`:

    GET /broker/accounts/<broker_account_id>/positions   [{token, tradingsymbol, product, quantity,
                                                          average_price, last_price, realised, unrealised}]
    GET /broker/accounts/<broker_account_id>/holdings    [{token, tradingsymbol, isin, quantity,
                                                          t1_quantity, average_price, last_price, pnl}]
    GET /broker/accounts/<broker_account_id>/margins     {opening_balance, available_cash, used_margin,
                                                          available_margin, collateral}

The broker's book is authoritative: an account's positions and holdings are replaced by what the
broker reports (rows it no longer reports are deleted), in one transaction per account.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any
from urllib.parse import quote

import httpx
import pybreaker
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from tenacity import retry, retry_if_exception, stop_after_attempt, wait_exponential

from accounts.models import FundsSnapshot, Holding, Position, Product, TradingAccount, TradingAccountStatus
from marketdata.models import Instrument
from tradeviz.errors import InvalidInput, UpstreamUnavailable
from tradeviz.observability.metrics import BROKER_SYNC_RUNS

logger = logging.getLogger(__name__)

BREAKER_FAIL_MAX = 5
BREAKER_RESET_SECONDS = 60


class BrokerSyncError(UpstreamUnavailable):
    """The broker endpoints failed, timed out, answered garbage, or the breaker is open."""


def broker_sync_enabled() -> bool:
    return bool(getattr(settings, "BROKER_SYNC_ENABLED", False)) and bool(settings.TICKER_SERVICE_URL)


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, httpx.HTTPStatusError):
        return exc.response.status_code >= 500 or exc.response.status_code == 429
    return isinstance(exc, httpx.TransportError)


class BrokerClient:
    def __init__(self, base_url: str, *, timeout: float, retries: int, breaker: pybreaker.CircuitBreaker) -> None:
        self._http = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout)
        self._retries = retries
        self._breaker = breaker

    def _data(self, path: str) -> Any:
        @retry(
            retry=retry_if_exception(_retryable),
            stop=stop_after_attempt(self._retries),
            wait=wait_exponential(multiplier=0.2, max=2.0),
            reraise=True,
        )
        def attempt() -> Any:
            response = self._http.get(path)
            response.raise_for_status()
            return response.json()

        try:
            body = self._breaker.call(attempt)
        except pybreaker.CircuitBreakerError as exc:
            raise BrokerSyncError("broker endpoints unavailable (circuit open)") from exc
        except (httpx.HTTPError, ValueError) as exc:
            raise BrokerSyncError(f"broker endpoint {path} failed: {exc}") from exc
        if not isinstance(body, Mapping) or "data" not in body:
            raise BrokerSyncError(f"broker endpoint {path} answered without data")
        return body["data"]

    def _account_path(self, broker_account_id: str, what: str) -> str:
        return f"/broker/accounts/{quote(broker_account_id, safe='')}/{what}"

    def positions(self, broker_account_id: str) -> list[Mapping[str, Any]]:
        return _rows(self._data(self._account_path(broker_account_id, "positions")), "positions")

    def holdings(self, broker_account_id: str) -> list[Mapping[str, Any]]:
        return _rows(self._data(self._account_path(broker_account_id, "holdings")), "holdings")

    def margins(self, broker_account_id: str) -> Mapping[str, Any]:
        data = self._data(self._account_path(broker_account_id, "margins"))
        if not isinstance(data, Mapping):
            raise BrokerSyncError("broker margins answer is not an object")
        return data


def _rows(data: Any, what: str) -> list[Mapping[str, Any]]:
    if not isinstance(data, list) or not all(isinstance(r, Mapping) for r in data):
        raise BrokerSyncError(f"broker {what} answer is not a list of objects")
    return data


_breaker = pybreaker.CircuitBreaker(fail_max=BREAKER_FAIL_MAX, reset_timeout=BREAKER_RESET_SECONDS, name="broker-sync")


@lru_cache(maxsize=1)
def broker_client() -> BrokerClient:
    return BrokerClient(
        settings.TICKER_SERVICE_URL,
        timeout=settings.TICKER_TIMEOUT_SECONDS,
        retries=settings.TICKER_RETRIES,
        breaker=_breaker,
    )


def _money(row: Mapping[str, Any], name: str, *, allow_negative: bool = True, default: str = "0") -> Decimal:
    value = row.get(name)
    try:
        number = Decimal(str(value if value is not None else default))
    except InvalidOperation as exc:
        raise InvalidInput(f"{name} is not a number") from exc
    if not number.is_finite() or (not allow_negative and number < 0):
        raise InvalidInput(f"{name} is out of range")
    return number


@dataclass(frozen=True)
class SyncResult:
    account_id: int
    positions: int
    holdings: int
    skipped_rows: int


def account_sync(*, account: TradingAccount, client: BrokerClient | None = None) -> SyncResult:
    """Replace one account's positions, holdings and funds with the broker's (one transaction).

    Everything is fetched before anything is written, so a failing endpoint leaves the account as
    it was. Rows naming an instrument token not in the master are skipped and counted.
    """
    client = client or broker_client()
    positions = client.positions(account.broker_account_id)
    holdings = client.holdings(account.broker_account_id)
    margins = client.margins(account.broker_account_id)
    tokens = {int(r.get("token") or 0) for r in (*positions, *holdings)}
    instruments = dict(Instrument.objects.filter(instrument_token__in=tokens).values_list("instrument_token", "pk"))
    now = timezone.now()
    skipped = 0
    position_rows: dict[tuple[int, str], Position] = {}
    for row in positions:
        try:
            instrument_id = instruments.get(int(row.get("token") or 0))
            product = str(row.get("product") or Product.NRML).upper()
            if instrument_id is None or product not in Product.values:
                raise InvalidInput("unknown instrument or product")
            position_rows[(instrument_id, product)] = Position(
                account=account, instrument_id=instrument_id, product=product, quantity=int(row.get("quantity") or 0),
                average_price=_money(row, "average_price", allow_negative=False),
                last_price=_money(row, "last_price", allow_negative=False) if row.get("last_price") is not None else None,
                realised_pnl=_money(row, "realised"), unrealised_pnl=_money(row, "unrealised"),
            )
        except (InvalidInput, TypeError, ValueError):
            skipped += 1
    holding_rows: list[Holding] = []
    for row in holdings:
        try:
            token = int(row.get("token") or 0)
            holding_rows.append(
                Holding(
                    account=account, instrument_id=instruments.get(token), instrument_token=token,
                    tradingsymbol=str(row.get("tradingsymbol") or "")[:64], isin=str(row.get("isin") or "")[:16],
                    quantity=int(row.get("quantity") or 0), t1_quantity=int(row.get("t1_quantity") or 0),
                    average_price=_money(row, "average_price", allow_negative=False),
                    last_price=_money(row, "last_price", allow_negative=False) if row.get("last_price") is not None else None,
                    pnl=_money(row, "pnl"),
                )
            )
        except (InvalidInput, TypeError, ValueError):
            skipped += 1
    funds = FundsSnapshot(
        account=account, taken_at=now,
        **{f: _money(margins, f) for f in ("opening_balance", "available_cash", "used_margin", "available_margin", "collateral")},
    )
    with transaction.atomic():
        TradingAccount.objects.select_for_update().filter(pk=account.pk).update(last_synced_at=now)
        reported = Q(pk__in=[])
        for instrument_id, product in position_rows:
            reported |= Q(instrument_id=instrument_id, product=product)
        account.positions.exclude(reported).delete()
        Position.objects.bulk_create(
            list(position_rows.values()),
            update_conflicts=True,
            unique_fields=["account", "instrument", "product"],
            update_fields=["quantity", "average_price", "last_price", "realised_pnl", "unrealised_pnl", "updated_at"],
        )
        account.holdings.exclude(instrument_token__in=[h.instrument_token for h in holding_rows]).delete()
        Holding.objects.bulk_create(
            holding_rows,
            update_conflicts=True,
            unique_fields=["account", "instrument_token"],
            update_fields=["instrument", "tradingsymbol", "isin", "quantity", "t1_quantity", "average_price",
                           "last_price", "pnl", "updated_at"],
        )
        funds.save()
    if skipped:
        logger.warning("broker sync skipped rows", extra={"account": account.pk, "skipped": skipped})
    return SyncResult(account.pk, len(position_rows), len(holding_rows), skipped)


def accounts_sync_all(*, client: BrokerClient | None = None) -> dict[str, Any]:
    """Sync every active account; one failing account is logged and the others still sync."""
    if not broker_sync_enabled():
        logger.info("broker sync disabled (set BROKER_SYNC_ENABLED and TICKER_SERVICE_URL to enable)")
        BROKER_SYNC_RUNS.labels(outcome="disabled").inc()
        return {"status": "disabled", "synced": 0, "failed": 0}
    synced: list[SyncResult] = []
    failed: list[int] = []
    accounts: Sequence[TradingAccount] = list(TradingAccount.objects.filter(status=TradingAccountStatus.ACTIVE))
    for account in accounts:
        try:
            synced.append(account_sync(account=account, client=client))
        except BrokerSyncError as exc:
            failed.append(account.pk)
            logger.warning("broker sync failed", extra={"account": account.pk, "error": str(exc)[:300]})
    BROKER_SYNC_RUNS.labels(outcome="failed" if failed else "ok").inc()
    return {"status": "ok" if not failed else "partial", "synced": len(synced), "failed": len(failed)}
