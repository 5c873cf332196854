"""Loading the broker instrument master (the CSV contract in docs/architecture.md)."""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import connection, transaction

from marketdata.models import Instrument, InstrumentType
from marketdata.symbols import make_symbol

logger = logging.getLogger(__name__)

REQUIRED_COLUMNS = (
    "instrument_token",
    "exchange_token",
    "tradingsymbol",
    "name",
    "last_price",
    "expiry",
    "strike",
    "tick_size",
    "lot_size",
    "instrument_type",
    "segment",
    "exchange",
)
INDEX_SEGMENT = "INDICES"
# Index names in the master → the underlying name their derivatives carry.
INDEX_UNDERLYINGS = {
    "NIFTY 50": "NIFTY",
    "NIFTY BANK": "BANKNIFTY",
    "NIFTY FIN SERVICE": "FINNIFTY",
    "NIFTY MID SELECT": "MIDCPNIFTY",
    "SENSEX": "SENSEX",
}
UPDATE_FIELDS = (
    "exchange_token",
    "tradingsymbol",
    "name",
    "exchange",
    "segment",
    "instrument_type",
    "symbol",
    "underlying",
    "expiry",
    "strike",
    "lot_size",
    "tick_size",
    "last_price",
    "is_active",
)


class InstrumentFileError(ValueError):
    """The file as a whole cannot be loaded (missing columns, not CSV)."""


@dataclass
class LoadReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)

    @property
    def loaded(self) -> int:
        return self.created + self.updated + self.unchanged


def _decimal(value: str, column: str) -> Decimal | None:
    value = value.strip()
    if not value:
        return None
    try:
        number = Decimal(value)
    except InvalidOperation as exc:
        raise ValueError(f"{column} is not a number: {value!r}") from exc
    if not number.is_finite():
        raise ValueError(f"{column} is not finite: {value!r}")
    return number


def _instrument_type(raw: str, segment: str) -> str:
    if segment.upper() == INDEX_SEGMENT:
        return InstrumentType.INDEX
    value = raw.strip().upper()
    if value not in (InstrumentType.EQ, InstrumentType.FUT, InstrumentType.CE, InstrumentType.PE):
        raise ValueError(f"instrument_type must be EQ, FUT, CE or PE, not {raw!r}")
    return value


def parse_row(row: dict[str, str]) -> Instrument:
    """One CSV row → an unsaved Instrument; ValueError says what is wrong with the row."""
    try:
        token = int(row["instrument_token"])
    except (TypeError, ValueError) as exc:
        raise ValueError(f"instrument_token is not an integer: {row.get('instrument_token')!r}") from exc
    if token <= 0:
        raise ValueError("instrument_token must be positive")
    tradingsymbol = (row.get("tradingsymbol") or "").strip().upper()
    exchange = (row.get("exchange") or "").strip().upper()
    if not tradingsymbol or not exchange:
        raise ValueError("tradingsymbol and exchange are required")
    segment = (row.get("segment") or "").strip().upper()
    kind = _instrument_type(row.get("instrument_type") or "", segment)
    name = (row.get("name") or "").strip().upper()
    expiry_text = (row.get("expiry") or "").strip()
    expiry = date.fromisoformat(expiry_text) if expiry_text else None
    strike = _decimal(row.get("strike") or "", "strike")
    if kind in (InstrumentType.CE, InstrumentType.PE) and (expiry is None or not strike or strike <= 0):
        raise ValueError("options need an expiry and a positive strike")
    if kind == InstrumentType.FUT and expiry is None:
        raise ValueError("futures need an expiry")
    lot_text = (row.get("lot_size") or "1").strip() or "1"
    try:
        lot_size = int(Decimal(lot_text))
    except InvalidOperation as exc:
        raise ValueError(f"lot_size is not a number: {lot_text!r}") from exc
    if kind == InstrumentType.INDEX and lot_size == 0:
        lot_size = 1  # broker masters list indices with lot size 0: they are not traded
    if lot_size <= 0:
        raise ValueError("lot_size must be positive")
    tick_size = _decimal(row.get("tick_size") or "", "tick_size") or Decimal("0.05")
    if tick_size <= 0:
        raise ValueError("tick_size must be positive")
    exchange_token_text = (row.get("exchange_token") or "").strip()
    if kind == InstrumentType.INDEX:
        underlying = INDEX_UNDERLYINGS.get(tradingsymbol, name or tradingsymbol)
    elif kind == InstrumentType.EQ:
        underlying = tradingsymbol
    else:
        underlying = name
    return Instrument(
        instrument_token=token,
        exchange_token=int(exchange_token_text) if exchange_token_text.isdigit() else None,
        tradingsymbol=tradingsymbol,
        name=name,
        exchange=exchange,
        segment=segment,
        instrument_type=kind,
        symbol=make_symbol(exchange, tradingsymbol),
        underlying=underlying,
        expiry=expiry,
        strike=strike if kind in (InstrumentType.CE, InstrumentType.PE) else None,
        lot_size=lot_size,
        tick_size=tick_size,
        last_price=_decimal(row.get("last_price") or "", "last_price"),
        is_active=expiry is None or expiry >= date.today(),  # noqa: DTZ011 - a calendar date, not an instant
    )


def _fingerprint(values: Iterable[Any]) -> tuple[Any, ...]:
    return tuple(v.normalize() if isinstance(v, Decimal) else v for v in values)


def load_instruments(*, text: str) -> LoadReport:
    """Upsert every valid row keyed by instrument_token; invalid rows are reported, never half-written.

    Idempotent: loading the same file again reports every row unchanged and writes nothing.
    """
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise InstrumentFileError(f"missing columns: {', '.join(missing)}")
    report = LoadReport()
    parsed: dict[int, Instrument] = {}
    symbols: dict[str, int] = {}
    for line_no, row in enumerate(reader, start=2):
        try:
            instrument = parse_row(row)
        except (ValueError, KeyError) as exc:
            report.rejected.append((line_no, str(exc)))
            continue
        other = symbols.get(instrument.symbol)
        if other is not None and other != instrument.instrument_token:
            report.rejected.append((line_no, f"{instrument.symbol} already used by token {other} in this file"))
            continue
        symbols[instrument.symbol] = instrument.instrument_token
        parsed[instrument.instrument_token] = instrument

    existing = {
        row[0]: _fingerprint(row[1:])
        for row in Instrument.objects.filter(instrument_token__in=list(parsed)).values_list(
            "instrument_token", *UPDATE_FIELDS
        )
    }
    to_write = []
    for token, instrument in parsed.items():
        fingerprint = _fingerprint(getattr(instrument, f) for f in UPDATE_FIELDS)
        if token not in existing:
            report.created += 1
        elif existing[token] != fingerprint:
            report.updated += 1
        else:
            report.unchanged += 1
            continue
        to_write.append(instrument)
    with transaction.atomic():
        Instrument.objects.bulk_create(
            to_write,
            batch_size=2000,
            update_conflicts=True,
            unique_fields=["instrument_token"],
            update_fields=[*UPDATE_FIELDS, "updated_at"],
        )
        if to_write:
            transaction.on_commit(_notify_instruments_changed)
    logger.info(
        "instruments loaded",
        extra={"instruments_created": report.created, "instruments_updated": report.updated,
               "instruments_unchanged": report.unchanged,
               "instruments_rejected": len(report.rejected)},
    )
    return report


INSTRUMENTS_VERSION_KEY = "tv:instruments:version"


def _notify_instruments_changed() -> None:
    """Long-running processes (the tick consumer) watch this counter to reload their token maps."""
    from tradeviz.redis_client import get_redis

    try:
        get_redis().incr(INSTRUMENTS_VERSION_KEY)
    except Exception:
        logger.warning("could not bump the instruments version in Redis", exc_info=True)
    connection.close_if_unusable_or_obsolete()
