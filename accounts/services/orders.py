"""Applying order updates from the broker's order stream, and deriving positions from the fills.

The stream is at-least-once and unordered across retries: an update may come twice, and an older
update may arrive after a newer one. Both are harmless here:

* An order row changes only when the incoming update is newer than the stored one, ordered by
  (update time, lifecycle rank of the status, filled quantity). The comparison happens inside one
  `INSERT … ON CONFLICT DO UPDATE … WHERE` statement, so two writers can never both "check, then
  write" (no check-then-act race).
* Lifecycle timestamps (`open_at`, `completed_at`, …) keep the earliest time each status was seen,
  so a late OPEN still records when the order opened without rolling its status back.
* Positions are recomputed from *all* stored fills of (account, instrument, product) rather than
  adjusted by deltas, so they are right whatever order the updates came in and however often.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import connection, transaction

from accounts.models import OrderStatus, Product, Side, TradingAccount, TradingAccountStatus
from marketdata.models import Instrument
from tradeviz.errors import InvalidInput

logger = logging.getLogger(__name__)

# Broker statuses on their way to one of ours: all still working at the exchange, so OPEN.
TRANSITIONAL_STATUSES = frozenset(
    {
        "OPEN PENDING", "VALIDATION PENDING", "PUT ORDER REQ RECEIVED", "MODIFY PENDING", "MODIFY VALIDATION PENDING",
        "MODIFIED", "CANCEL PENDING", "AMO REQ RECEIVED", "TRIGGERED", "UPDATE",
    }
)
# Ties on the update time are broken by how far along the lifecycle a status is.
STATUS_RANK = {
    OrderStatus.OPEN: 1,
    OrderStatus.TRIGGER_PENDING: 2,
    OrderStatus.COMPLETE: 3,
    OrderStatus.CANCELLED: 3,
    OrderStatus.REJECTED: 3,
}
LIFECYCLE_COLUMN = {
    OrderStatus.OPEN: "open_at",
    OrderStatus.TRIGGER_PENDING: "trigger_pending_at",
    OrderStatus.COMPLETE: "completed_at",
    OrderStatus.CANCELLED: "cancelled_at",
    OrderStatus.REJECTED: "rejected_at",
}
LIFECYCLE_COLUMNS = tuple(LIFECYCLE_COLUMN.values())
MAX_QUANTITY = 2**31 - 1
MAX_TEXT = {"order_id": 64, "tradingsymbol": 64, "tag": 32, "status_message": 255, "account": 64}
# Epoch-millisecond bounds accepted for `ts`: 2000-01-01 … 2100-01-01.
MIN_TS_MS = 946_684_800_000
MAX_TS_MS = 4_102_444_800_000


def normalise_status(raw: object) -> str:
    text = " ".join(str(raw or "").replace("_", " ").upper().split())
    if text in TRANSITIONAL_STATUSES:
        return OrderStatus.OPEN
    candidate = text.replace(" ", "_")
    if candidate in OrderStatus.values:
        return candidate
    raise InvalidInput(f"unknown order status {str(raw)[:32]!r}")


def _text(raw: Mapping[str, Any], name: str, *, required: bool = True) -> str:
    value = raw.get(name)
    if value is None or value == "":
        if required:
            raise InvalidInput(f"order update without {name}")
        return ""
    text = str(value).strip()
    limit = MAX_TEXT.get(name)
    if limit is not None and len(text) > limit:
        if name in ("tag", "status_message"):
            return text[:limit]
        raise InvalidInput(f"order update {name} longer than {limit} characters")
    return text


def _int(raw: Mapping[str, Any], name: str, *, default: int | None = None) -> int:
    value = raw.get(name, default)
    if isinstance(value, bool) or value is None:
        raise InvalidInput(f"order update {name} must be an integer")
    try:
        number = int(value)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"order update {name} must be an integer") from exc
    if number != value and not isinstance(value, str):
        raise InvalidInput(f"order update {name} must be an integer")
    return number


def _decimal(raw: Mapping[str, Any], name: str) -> Decimal:
    value = raw.get(name)
    if value is None or value == "":
        return Decimal(0)
    if isinstance(value, bool):
        raise InvalidInput(f"order update {name} must be a number")
    try:
        number = Decimal(str(value))
    except InvalidOperation as exc:
        raise InvalidInput(f"order update {name} must be a number") from exc
    if not number.is_finite() or number < 0:
        raise InvalidInput(f"order update {name} must be a non-negative number")
    return number


@dataclass(frozen=True)
class OrderUpdate:
    """One validated message of the order stream (contract: ARCHITECTURE.md, "Order stream")."""

    account: str
    order_id: str
    status: str
    token: int
    tradingsymbol: str
    side: str
    quantity: int
    filled_quantity: int
    price: Decimal
    average_price: Decimal
    ts: datetime
    product: str = Product.NRML
    tag: str = ""
    status_message: str = ""

    @classmethod
    def parse(cls, raw: object) -> OrderUpdate:
        """Validate a decoded message; InvalidInput says what is wrong with it."""
        if not isinstance(raw, Mapping):
            raise InvalidInput("order update must be a JSON object")
        side = _text(raw, "side").upper()
        if side not in Side.values:
            raise InvalidInput(f"order update side must be BUY or SELL, not {side[:8]!r}")
        quantity = _int(raw, "quantity")
        filled = _int(raw, "filled_quantity", default=0)
        if not 0 < quantity <= MAX_QUANTITY:
            raise InvalidInput("order update quantity must be positive")
        if not 0 <= filled <= quantity:
            raise InvalidInput("order update filled_quantity must be between 0 and quantity")
        ts_ms = _int(raw, "ts")
        if not MIN_TS_MS <= ts_ms < MAX_TS_MS:
            raise InvalidInput("order update ts must be epoch milliseconds")
        product = _text(raw, "product", required=False).upper() or Product.NRML
        if product not in Product.values:
            raise InvalidInput(f"order update product {product[:8]!r} is not one of {', '.join(Product.values)}")
        return cls(
            account=_text(raw, "account"),
            order_id=_text(raw, "order_id"),
            status=normalise_status(raw.get("status")),
            token=_int(raw, "token"),
            tradingsymbol=_text(raw, "tradingsymbol"),
            side=side,
            quantity=quantity,
            filled_quantity=filled,
            price=_decimal(raw, "price"),
            average_price=_decimal(raw, "average_price"),
            ts=datetime.fromtimestamp(ts_ms / 1000, tz=UTC),
            product=product,
            tag=_text(raw, "tag", required=False),
            status_message=_text(raw, "status_message", required=False),
        )

    @property
    def order_key(self) -> tuple[datetime, int, int]:
        """How updates of one order are ordered: newest time, then furthest status, then most filled."""
        return (self.ts, STATUS_RANK[OrderStatus(self.status)], self.filled_quantity)


@dataclass
class _Row:
    """The merged incoming state of one order in a batch."""

    account_id: int
    instrument_id: int | None
    update: OrderUpdate
    placed_at: datetime
    lifecycle: dict[str, datetime] = field(default_factory=dict)

    def merge(self, other: OrderUpdate) -> None:
        if other.order_key > self.update.order_key:
            self.update = other
        self.placed_at = min(self.placed_at, other.ts)
        column = LIFECYCLE_COLUMN[OrderStatus(other.status)]
        known = self.lifecycle.get(column)
        self.lifecycle[column] = other.ts if known is None else min(known, other.ts)


@dataclass(frozen=True)
class AppliedUpdates:
    """What a batch changed: order and position rows as stored afterwards, and what was skipped."""

    orders: list[dict[str, Any]]
    positions: list[dict[str, Any]]
    owners: dict[int, int]  # account id → owner id, for the accounts touched
    unknown_accounts: int = 0
    unknown_instruments: int = 0


_ORDER_VALUE_COLUMNS = (
    "instrument_id", "instrument_token", "tradingsymbol", "product", "side", "status", "quantity",
    "filled_quantity", "price", "average_price", "tag", "status_message", "exchange_updated_at",
)


def _rank_sql(column: str) -> str:
    cases = " ".join(f"WHEN '{status}' THEN {rank}" for status, rank in STATUS_RANK.items())
    return f"(CASE {column} {cases} ELSE 0 END)"


_NEWER = (
    f"(EXCLUDED.exchange_updated_at, {_rank_sql('EXCLUDED.status')}, EXCLUDED.filled_quantity)"
    f" > (o.exchange_updated_at, {_rank_sql('o.status')}, o.filled_quantity)"
)
_EARLIEST = {c: f"LEAST(o.{c}, EXCLUDED.{c})" for c in (*LIFECYCLE_COLUMNS, "placed_at")}

# Only module constants are interpolated below; values travel as parameters.
_UPSERT_ORDERS_SQL = f"""
INSERT INTO accounts_order AS o (
    account_id, broker_order_id, {", ".join(_ORDER_VALUE_COLUMNS)}, placed_at, {", ".join(LIFECYCLE_COLUMNS)},
    created_at, updated_at
)
SELECT t.*, now(), now() FROM unnest(
    %(account_id)s::bigint[], %(broker_order_id)s::text[], %(instrument_id)s::bigint[], %(token)s::bigint[],
    %(tradingsymbol)s::text[], %(product)s::text[], %(side)s::text[], %(status)s::text[], %(quantity)s::int[],
    %(filled_quantity)s::int[], %(price)s::numeric[], %(average_price)s::numeric[], %(tag)s::text[],
    %(status_message)s::text[], %(ts)s::timestamptz[], %(placed_at)s::timestamptz[],
    %(open_at)s::timestamptz[], %(trigger_pending_at)s::timestamptz[], %(completed_at)s::timestamptz[],
    %(cancelled_at)s::timestamptz[], %(rejected_at)s::timestamptz[]
) AS t
ON CONFLICT (account_id, broker_order_id) DO UPDATE SET
    {", ".join(f"{c} = CASE WHEN {_NEWER} THEN EXCLUDED.{c} ELSE o.{c} END" for c in _ORDER_VALUE_COLUMNS)},
    {", ".join(f"{c} = {expr}" for c, expr in _EARLIEST.items())},
    updated_at = now()
WHERE {_NEWER}
   OR ({", ".join(f"o.{c}" for c in _EARLIEST)}) IS DISTINCT FROM ({", ".join(_EARLIEST.values())})
RETURNING o.*
"""  # noqa: S608

# Net position from every fill of (account, instrument, product); see Position's docstring.
_RECOMPUTE_POSITIONS_SQL = """
WITH keys AS (
    SELECT * FROM unnest(%(account_id)s::bigint[], %(instrument_id)s::bigint[], %(product)s::text[])
        AS k(account_id, instrument_id, product)
), fills AS (
    SELECT k.account_id, k.instrument_id, k.product,
           coalesce(sum(o.filled_quantity) FILTER (WHERE o.side = 'BUY'), 0) AS bq,
           coalesce(sum(o.filled_quantity * o.average_price) FILTER (WHERE o.side = 'BUY'), 0) AS bv,
           coalesce(sum(o.filled_quantity) FILTER (WHERE o.side = 'SELL'), 0) AS sq,
           coalesce(sum(o.filled_quantity * o.average_price) FILTER (WHERE o.side = 'SELL'), 0) AS sv
    FROM keys k
    LEFT JOIN accounts_order o
      ON o.account_id = k.account_id AND o.instrument_id = k.instrument_id AND o.product = k.product
         AND o.filled_quantity > 0
    GROUP BY k.account_id, k.instrument_id, k.product
), figures AS (
    SELECT f.*, f.bq - f.sq AS net,
           CASE WHEN f.bq > f.sq THEN f.bv / f.bq WHEN f.sq > f.bq THEN f.sv / f.sq ELSE 0 END AS avg_open,
           CASE WHEN least(f.bq, f.sq) > 0 THEN least(f.bq, f.sq) * (f.sv / f.sq - f.bv / f.bq) ELSE 0 END
               AS realised
    FROM fills f
)
INSERT INTO accounts_position AS p (
    account_id, instrument_id, product, quantity, average_price, buy_quantity, buy_value, sell_quantity,
    sell_value, realised_pnl, unrealised_pnl, last_price, updated_at
)
SELECT account_id, instrument_id, product, net, avg_open, bq, bv, sq, sv, realised, 0, NULL, now()
FROM figures f
-- No row for an instrument that never filled (a rejected or unfilled cancelled order).
WHERE f.bq > 0 OR f.sq > 0 OR EXISTS (
    SELECT 1 FROM accounts_position x
    WHERE x.account_id = f.account_id AND x.instrument_id = f.instrument_id AND x.product = f.product
)
ORDER BY account_id, instrument_id, product
ON CONFLICT (account_id, instrument_id, product) DO UPDATE SET
    quantity = EXCLUDED.quantity, average_price = EXCLUDED.average_price,
    buy_quantity = EXCLUDED.buy_quantity, buy_value = EXCLUDED.buy_value,
    sell_quantity = EXCLUDED.sell_quantity, sell_value = EXCLUDED.sell_value,
    realised_pnl = EXCLUDED.realised_pnl,
    unrealised_pnl = CASE WHEN p.last_price IS NULL THEN 0
                          ELSE EXCLUDED.quantity * (p.last_price - EXCLUDED.average_price) END,
    updated_at = now()
RETURNING p.*
"""


def _fetch_dicts(cursor: Any) -> list[dict[str, Any]]:
    columns = [c.name for c in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def _position_lock_key(account_id: int, instrument_id: int, product: str) -> str:
    return f"accounts.position:{account_id}:{instrument_id}:{product}"


def order_updates_apply(*, updates: Sequence[OrderUpdate]) -> AppliedUpdates:
    """Store a batch of order updates and recompute the positions they touch, in one transaction.

    Idempotent and order-insensitive (module docstring). Updates for unknown or disabled accounts
    are skipped (counted, logged); an unknown instrument token still records the order but cannot
    make a position. Returns the rows that actually changed, for pushing to subscribers.
    """
    if not updates:
        return AppliedUpdates(orders=[], positions=[], owners={})
    accounts = {
        broker_id: (pk, owner_id)
        for broker_id, pk, owner_id in TradingAccount.objects.filter(
            broker_account_id__in={u.account for u in updates}, status=TradingAccountStatus.ACTIVE
        ).values_list("broker_account_id", "pk", "owner_id")
    }
    instruments = dict(
        Instrument.objects.filter(instrument_token__in={u.token for u in updates}).values_list("instrument_token", "pk")
    )
    rows: dict[tuple[int, str], _Row] = {}
    unknown_accounts = unknown_instruments = 0
    for update in updates:
        account = accounts.get(update.account)
        if account is None:
            unknown_accounts += 1
            continue
        instrument_id = instruments.get(update.token)
        if instrument_id is None:
            unknown_instruments += 1
        key = (account[0], update.order_id)
        row = rows.get(key)
        if row is None:
            row = _Row(account_id=account[0], instrument_id=instrument_id, update=update, placed_at=update.ts)
            row.lifecycle[LIFECYCLE_COLUMN[OrderStatus(update.status)]] = update.ts
            rows[key] = row
        else:
            row.merge(update)
    if unknown_accounts:
        logger.warning("order updates for unknown or disabled accounts skipped", extra={"count": unknown_accounts})
    if unknown_instruments:
        logger.warning("order updates for unknown instrument tokens (no position)", extra={"count": unknown_instruments})
    owners = dict(accounts.values())
    if not rows:
        return AppliedUpdates([], [], owners, unknown_accounts, unknown_instruments)

    # Sorted, so concurrent batches lock order rows (and position keys below) in one global order.
    ordered = [rows[key] for key in sorted(rows)]
    params: dict[str, list[Any]] = {
        "account_id": [r.account_id for r in ordered],
        "broker_order_id": [r.update.order_id for r in ordered],
        "instrument_id": [r.instrument_id for r in ordered],
        "token": [r.update.token for r in ordered],
        "tradingsymbol": [r.update.tradingsymbol for r in ordered],
        "product": [r.update.product for r in ordered],
        "side": [r.update.side for r in ordered],
        "status": [r.update.status for r in ordered],
        "quantity": [r.update.quantity for r in ordered],
        "filled_quantity": [r.update.filled_quantity for r in ordered],
        "price": [r.update.price for r in ordered],
        "average_price": [r.update.average_price for r in ordered],
        "tag": [r.update.tag for r in ordered],
        "status_message": [r.update.status_message for r in ordered],
        "ts": [r.update.ts for r in ordered],
        "placed_at": [r.placed_at for r in ordered],
        **{column: [r.lifecycle.get(column) for r in ordered] for column in LIFECYCLE_COLUMNS},
    }
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_UPSERT_ORDERS_SQL, params)
        changed_orders = _fetch_dicts(cursor)
        keys = sorted(
            {(o["account_id"], o["instrument_id"], o["product"]) for o in changed_orders if o["instrument_id"]}
        )
        positions = _recompute_positions(cursor, keys)
    return AppliedUpdates(changed_orders, positions, owners, unknown_accounts, unknown_instruments)


def _recompute_positions(cursor: Any, keys: Iterable[tuple[int, int, str]]) -> list[dict[str, Any]]:
    keys = list(keys)
    if not keys:
        return []
    # A concurrent batch touching the same position commits before we read its fills: each
    # statement below takes a fresh snapshot (READ COMMITTED) after the lock is ours.
    cursor.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended(k, 0)) FROM unnest(%s::text[]) AS k",
        [[_position_lock_key(*key) for key in keys]],
    )
    cursor.execute(
        _RECOMPUTE_POSITIONS_SQL,
        {
            "account_id": [k[0] for k in keys],
            "instrument_id": [k[1] for k in keys],
            "product": [k[2] for k in keys],
        },
    )
    return _fetch_dicts(cursor)


def positions_recompute(*, account: TradingAccount) -> int:
    """Rebuild every position of an account from its stored fills (repairs; after a bulk import)."""
    keys = (
        account.orders.filter(instrument__isnull=False, filled_quantity__gt=0)
        .values_list("account_id", "instrument_id", "product")
        .distinct()
    )
    with transaction.atomic(), connection.cursor() as cursor:
        return len(_recompute_positions(cursor, sorted(keys)))  # type: ignore[arg-type]
