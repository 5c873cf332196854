"""Corporate actions: price factors, adjusting stock derivatives, and UDF timescale marks.

Price adjustment is done on read: raw bars stay untouched and `adjustment_factors` tells UDF history
by how much to multiply prices (and divide volumes) before each ex-date. `apply_corporate_action`
adjusts the strikes and lot sizes of the underlying's live derivatives once, from the ex-date.

The timescale-mark builders for holidays and expiries live here too, so UDF `timescale_marks` reads
one module: `corporate_action_marks`, `holiday_marks`, `expiry_marks`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

import numpy as np
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from marketdata.calendar import MARKET_TZ, calendar_exchange, market_date
from marketdata.expiries import (
    DEFAULT_EXPIRY_EXCHANGE,
    generate_expiries,
    listed_expiries,
    underlying_for_instrument,
)
from marketdata.models import (
    CorporateAction,
    CorporateActionType,
    Instrument,
    InstrumentType,
    SpecialSession,
    TradingHoliday,
)
from marketdata.models.calendar import FACTOR_DECIMAL_PLACES
from marketdata.services.calendar import SOURCE_MAX_LENGTH, UpsertCounts, is_admin_source
from marketdata.symbols import split_symbol
from tradeviz.errors import Conflict, DataUnavailable, InvalidInput, NotFound

FACTOR_QUANTUM = Decimal(1).scaleb(-FACTOR_DECIMAL_PLACES)
PRICE_QUANTUM = Decimal(1).scaleb(-settings.PRICE_DECIMAL_PLACES)
ONE = Decimal(1)
# Types whose price factor follows from the ratio alone; the others need the previous close.
RATIO_FACTOR_TYPES = frozenset(
    {CorporateActionType.SPLIT, CorporateActionType.BONUS, CorporateActionType.CONSOLIDATION}
)
RATIO_REQUIRED_TYPES = RATIO_FACTOR_TYPES | {CorporateActionType.RIGHTS}
AMOUNT_REQUIRED_TYPES = frozenset({CorporateActionType.DIVIDEND})
DERIVATIVE_TYPES = (InstrumentType.FUT, InstrumentType.CE, InstrumentType.PE)
# Once applied to derivatives, these terms are frozen: strikes were adjusted with them.
APPLIED_TERMS = (
    "underlying",
    "action_type",
    "ex_date",
    "ratio_numerator",
    "ratio_denominator",
    "amount",
    "adjustment_factor",
)

# UDF timescale marks: colours and one-letter labels.
HOLIDAY_MARK_COLOR = "#9E9E9E"
SPECIAL_SESSION_MARK_COLOR = "#FFB300"
EXPIRY_MARK_COLOR = {"weekly": "#42A5F5", "monthly": "#1565C0"}
EXPIRY_MARK_LABEL = {"weekly": "W", "monthly": "M"}
CORPORATE_ACTION_MARK_COLOR = "#8E24AA"
CORPORATE_ACTION_MARK_LABEL = {
    CorporateActionType.SPLIT: "S",
    CorporateActionType.BONUS: "B",
    CorporateActionType.CONSOLIDATION: "C",
    CorporateActionType.DIVIDEND: "D",
    CorporateActionType.RIGHTS: "R",
    CorporateActionType.DEMERGER: "X",
    CorporateActionType.OTHER: "A",
}


# --- factors ----------------------------------------------------------------------------------------


def compute_price_factor(
    *, action_type: str, ratio_numerator: int | None, ratio_denominator: int | None
) -> Decimal | None:
    """The price factor implied by a ratio (see CorporateAction for the conventions), or None.

    split n:d (n new for d old) → d/n; bonus n:d (n free for d held) → d/(n+d);
    consolidation n:d (n new for d old) → d/n. Dividends and rights need a price: None.
    """
    if action_type not in RATIO_FACTOR_TYPES:
        return None
    if not ratio_numerator or not ratio_denominator:
        raise InvalidInput(f"A {action_type} needs a positive ratio numerator and denominator.")
    numerator, denominator = Decimal(ratio_numerator), Decimal(ratio_denominator)
    if action_type == CorporateActionType.BONUS:
        factor = denominator / (numerator + denominator)
    else:
        factor = denominator / numerator
    return factor.quantize(FACTOR_QUANTUM)


@dataclass(frozen=True, slots=True)
class CorporateActionRow:
    underlying: str
    action_type: str
    ex_date: date
    ratio_numerator: int | None = None
    ratio_denominator: int | None = None
    amount: Decimal | None = None
    adjustment_factor: Decimal | None = None
    description: str = ""


def corporate_action_values(row: CorporateActionRow) -> dict[str, Any]:
    if row.action_type not in CorporateActionType.values:
        raise InvalidInput(f"Unknown corporate action type {row.action_type!r}.")
    if row.action_type in RATIO_REQUIRED_TYPES and not (row.ratio_numerator and row.ratio_denominator):
        raise InvalidInput(
            f"A {row.action_type} of {row.underlying} needs ratio_numerator and ratio_denominator."
        )
    if row.action_type in AMOUNT_REQUIRED_TYPES and row.amount is None:
        raise InvalidInput(f"A {row.action_type} of {row.underlying} needs an amount.")
    if row.adjustment_factor is not None and row.adjustment_factor <= 0:
        raise InvalidInput("adjustment_factor must be positive.")
    factor = row.adjustment_factor
    if factor is None:
        factor = compute_price_factor(
            action_type=row.action_type,
            ratio_numerator=row.ratio_numerator,
            ratio_denominator=row.ratio_denominator,
        )
    return {
        "ratio_numerator": row.ratio_numerator,
        "ratio_denominator": row.ratio_denominator,
        "amount": row.amount.quantize(PRICE_QUANTUM) if row.amount is not None else None,
        "adjustment_factor": factor.quantize(FACTOR_QUANTUM) if factor is not None else None,
        "description": row.description[:200],
    }


def _instrument_for_underlying(underlying: str) -> Instrument | None:
    return (
        Instrument.objects.filter(tradingsymbol=underlying, instrument_type=InstrumentType.EQ)
        .order_by("exchange")
        .first()
    )


def corporate_actions_upsert(*, rows: Sequence[CorporateActionRow], source: str) -> UpsertCounts:
    """Insert or refresh corporate actions keyed by (underlying, type, ex_date); never deletes.

    All rows are validated before anything is written. Rows corrected by an admin are kept, and so
    are the price terms of an action already applied to derivatives (changing them afterwards would
    leave strikes adjusted by the old factor); those rows count as `kept_admin` / unchanged.
    """
    prepared = []
    for row in rows:
        underlying = row.underlying.strip().upper()
        if not underlying:
            raise InvalidInput("A corporate action needs an underlying symbol.")
        prepared.append((underlying, row, corporate_action_values(row)))
    counts = UpsertCounts()
    source = source[:SOURCE_MAX_LENGTH]
    with transaction.atomic():
        for underlying, row, values in prepared:
            values["source"] = source
            current = (
                CorporateAction.objects.select_for_update()
                .filter(underlying=underlying, action_type=row.action_type, ex_date=row.ex_date)
                .first()
            )
            label = f"{underlying} {row.action_type} {row.ex_date.isoformat()}"
            if current is None:
                CorporateAction.objects.create(
                    underlying=underlying,
                    action_type=row.action_type,
                    ex_date=row.ex_date,
                    instrument=_instrument_for_underlying(underlying),
                    **values,
                )
                counts.inserted += 1
                counts.changed.append(f"+{label}")
                continue
            if is_admin_source(current.source):
                counts.kept_admin += 1
                continue
            if current.applied_at is not None:
                for name in ("ratio_numerator", "ratio_denominator", "amount", "adjustment_factor"):
                    values.pop(name)
            if all(getattr(current, name) == value for name, value in values.items()):
                counts.unchanged += 1
                continue
            for name, value in values.items():
                setattr(current, name, value)
            current.save()
            counts.updated += 1
            counts.changed.append(f"~{label}")
    return counts


def corporate_action_save(*, action: CorporateAction, source: str) -> CorporateAction:
    """Create or update one action (the admin's save): recomputes the factor unless one is given."""
    if action.pk is not None:
        stored = CorporateAction.objects.get(pk=action.pk)
        if stored.applied_at is not None and any(
            getattr(stored, t) != getattr(action, t) for t in APPLIED_TERMS
        ):
            raise Conflict("This action was already applied to derivatives; its terms can no longer change.")
    action.underlying = action.underlying.strip().upper()
    values = corporate_action_values(
        CorporateActionRow(
            underlying=action.underlying,
            action_type=action.action_type,
            ex_date=action.ex_date,
            ratio_numerator=action.ratio_numerator,
            ratio_denominator=action.ratio_denominator,
            amount=action.amount,
            adjustment_factor=action.adjustment_factor
            if action.action_type not in RATIO_FACTOR_TYPES
            else None,
            description=action.description,
        )
    )
    for name, value in values.items():
        setattr(action, name, value)
    action.source = source[:SOURCE_MAX_LENGTH]
    if action.instrument_id is None:
        action.instrument = _instrument_for_underlying(action.underlying)
    action.full_clean()
    action.save()
    return action


def _as_market_date(value: date) -> date:
    return market_date(value) if isinstance(value, datetime) else value


def _actions_for(instrument: Instrument) -> Any:
    from django.db.models import Q

    return CorporateAction.objects.filter(
        Q(underlying=underlying_for_instrument(instrument)) | Q(instrument=instrument),
        adjustment_factor__isnull=False,
    ).exclude(adjustment_factor=ONE)


def adjustment_factors(*, instrument: Instrument, start: date, end: date) -> list[tuple[date, Decimal]]:
    """Price factors for back-adjusting the bars of `instrument` in [start, end], ascending by ex-date.

    Each entry (ex_date, factor): a raw bar whose market (IST) date is before `ex_date` and not
    before the previous entry's ex_date is multiplied by `factor` (prices) and divided by it
    (volumes); bars on or after the last ex-date are raw. Factors are cumulative up to today, so a
    range adjusts consistently with any later range. Entries cover every ex-date that can touch the
    range: those after `start`, up to and including the first one after `end`. Empty: no adjustment.
    """
    start_day, end_day = _as_market_date(start), _as_market_date(end)
    per_date: dict[date, Decimal] = {}
    for ex_date, factor in (
        _actions_for(instrument).filter(ex_date__gt=start_day).values_list("ex_date", "adjustment_factor")
    ):
        per_date[ex_date] = per_date.get(ex_date, ONE) * factor
    result: list[tuple[date, Decimal]] = []
    cumulative = ONE
    for ex_date in sorted(per_date, reverse=True):
        cumulative *= per_date[ex_date]
        result.append((ex_date, cumulative.quantize(FACTOR_QUANTUM)))
    result.reverse()
    first_after_end = next((i for i, (ex_date, _) in enumerate(result) if ex_date > end_day), None)
    return result if first_after_end is None else result[: first_after_end + 1]


def factor_multipliers(*, times: np.ndarray, factors: Sequence[tuple[date, Decimal]]) -> np.ndarray:
    """Per-bar multipliers for bar open times `times` (Unix seconds, UTC) from `adjustment_factors`.

    prices * multipliers, volumes / multipliers. Bars are dated by their IST market date.
    """
    if not factors or len(times) == 0:
        return np.ones(len(times), dtype=np.float64)
    # An ex-date starts at 00:00 IST: bars before that instant belong to earlier market dates.
    boundaries = np.array(
        [datetime.combine(ex_date, time.min, tzinfo=MARKET_TZ).timestamp() for ex_date, _ in factors]
    )
    values = np.array([float(factor) for _, factor in factors] + [1.0])
    return values[np.searchsorted(boundaries, np.asarray(times, dtype=np.float64), side="right")]


# --- applying to derivatives ------------------------------------------------------------------------


def apply_corporate_action(*, action_id: int, as_of: date | None = None) -> CorporateAction:
    """Adjust strikes (x factor) and lot sizes (/ factor) of the underlying's derivatives, once.

    Only contracts expiring on/after the ex-date and last loaded before it are touched: a master
    loaded on or after the ex-date already carries the exchange's adjusted terms. Raw bars are not
    touched. Idempotent: the action records `applied_at`, and a second call changes nothing.
    Raises Conflict before the ex-date.
    """
    as_of = as_of or market_date(timezone.now())
    with transaction.atomic():
        action = CorporateAction.objects.select_for_update().filter(pk=action_id).first()
        if action is None:
            raise NotFound(f"No corporate action {action_id}.")
        if action.applied_at is not None:
            return action
        if as_of < action.ex_date:
            raise Conflict(f"{action} is not effective before {action.ex_date.isoformat()}.")
        factor = action.adjustment_factor
        changed: list[Instrument] = []
        if factor is not None and factor != ONE:
            ex_start = datetime.combine(action.ex_date, time.min, tzinfo=MARKET_TZ)
            contracts = Instrument.objects.select_for_update().filter(
                underlying=action.underlying,
                instrument_type__in=DERIVATIVE_TYPES,
                expiry__gte=action.ex_date,
                updated_at__lt=ex_start,
            )
            now = timezone.now()
            for contract in contracts:
                if contract.strike is not None and contract.instrument_type != InstrumentType.FUT:
                    contract.strike = (contract.strike * factor).quantize(PRICE_QUANTUM)
                contract.lot_size = max(1, int((Decimal(contract.lot_size) / factor).to_integral_value()))
                contract.updated_at = now
                changed.append(contract)
            Instrument.objects.bulk_update(changed, ["strike", "lot_size", "updated_at"])
        action.applied_at = timezone.now()
        action.applied_instruments = len(changed)
        action.save(update_fields=["applied_at", "applied_instruments", "updated_at"])
    return action


def apply_due_corporate_actions(*, as_of: date | None = None) -> list[int]:
    """Apply every action whose ex-date has come and that is not applied yet; returns their ids."""
    as_of = as_of or market_date(timezone.now())
    due = list(
        CorporateAction.objects.filter(applied_at__isnull=True, ex_date__lte=as_of)
        .order_by("ex_date", "pk")
        .values_list("pk", flat=True)
    )
    for action_id in due:
        apply_corporate_action(action_id=action_id, as_of=as_of)
    return due


# --- UDF timescale marks ----------------------------------------------------------------------------


def _mark_time(day: date) -> int:
    """Timescale marks sit at 00:00 UTC of their date, like daily bars."""
    return int(datetime.combine(day, time.min, tzinfo=UTC).timestamp())


def _mark(*, mark_id: str, day: date, color: str, label: str, tooltip: list[str]) -> dict[str, Any]:
    return {"id": mark_id, "time": _mark_time(day), "color": color, "label": label, "tooltip": tooltip}


def _underlying_of_symbol(symbol: str) -> str:
    exchange, tradingsymbol = split_symbol(symbol)
    instrument = Instrument.objects.filter(exchange=exchange, tradingsymbol=tradingsymbol).first()
    return underlying_for_instrument(instrument) if instrument is not None else tradingsymbol


def _describe_action(action: CorporateAction) -> str:
    kind = CorporateActionType(action.action_type).label
    if action.ratio_numerator and action.ratio_denominator:
        return f"{kind} {action.ratio_numerator}:{action.ratio_denominator}"
    if action.amount is not None:
        return f"{kind} ₹{action.amount.normalize():f}"
    return kind


def corporate_action_marks(*, symbol: str, start: date, end: date) -> list[dict[str, Any]]:
    """Timescale marks for the corporate actions of `symbol` (EXCH:SYM or an underlying) in [start, end]."""
    underlying = _underlying_of_symbol(symbol)
    actions = CorporateAction.objects.filter(
        underlying=underlying, ex_date__gte=_as_market_date(start), ex_date__lte=_as_market_date(end)
    ).order_by("ex_date", "action_type")
    marks = []
    for action in actions:
        tooltip = [f"{underlying}: {_describe_action(action)}", f"Ex-date {action.ex_date.isoformat()}"]
        if action.adjustment_factor is not None and action.adjustment_factor != ONE:
            tooltip.append(f"Price factor {action.adjustment_factor.normalize():f}")
        if action.description:
            tooltip.append(action.description)
        marks.append(
            _mark(
                mark_id=f"ca-{action.pk}",
                day=action.ex_date,
                color=CORPORATE_ACTION_MARK_COLOR,
                label=CORPORATE_ACTION_MARK_LABEL.get(CorporateActionType(action.action_type), "A"),
                tooltip=tooltip,
            )
        )
    return marks


def holiday_marks(*, exchange: str, start: date, end: date) -> list[dict[str, Any]]:
    """Timescale marks for the recorded holidays and special sessions in [start, end] (none for SIM).

    Marks describe what is recorded; a range reaching into a year without holiday data simply has
    no marks there (they are decoration, not a statement that the market is open).
    """
    cal = calendar_exchange(exchange)
    start_day, end_day = _as_market_date(start), _as_market_date(end)
    marks = [
        _mark(
            mark_id=f"holiday-{cal}-{h.date:%Y%m%d}",
            day=h.date,
            color=HOLIDAY_MARK_COLOR,
            label="H",
            tooltip=[f"{cal} holiday: {h.description}".rstrip(": "), h.date.isoformat()],
        )
        for h in TradingHoliday.objects.filter(exchange=cal, date__gte=start_day, date__lte=end_day)
    ]
    marks += [
        _mark(
            mark_id=f"session-{cal}-{s.date:%Y%m%d}",
            day=s.date,
            color=SPECIAL_SESSION_MARK_COLOR,
            label="T",
            tooltip=[
                f"{cal} special session: {s.description}".rstrip(": "),
                f"{s.open_time:%H:%M}-{s.close_time:%H:%M} IST",
            ],
        )
        for s in SpecialSession.objects.filter(exchange=cal, date__gte=start_day, date__lte=end_day)
    ]
    return sorted(marks, key=lambda m: (m["time"], m["id"]))


def expiry_marks(
    *, underlying: str, start: date, end: date, exchange: str = DEFAULT_EXPIRY_EXCHANGE
) -> list[dict[str, Any]]:
    """Timescale marks for the expiries of `underlying` in [start, end].

    Past and future expiries come from the rules (years without holiday data are skipped); listed
    future expiries from the master are added and win on labels.
    """
    name = underlying.strip().upper()
    start_day, end_day = _as_market_date(start), _as_market_date(end)
    labels: dict[date, str] = {}
    for year in range(start_day.year, end_day.year + 1):
        window_start, window_end = max(start_day, date(year, 1, 1)), min(end_day, date(year, 12, 31))
        try:
            rules = generate_expiries(underlying=name, start=window_start, end=window_end, exchange=exchange)
        except DataUnavailable:
            continue
        for rule in rules:
            labels[rule.expiry] = rule.label
    for info in listed_expiries(underlying=name, as_of=start_day, exchange=exchange):
        if info.expiry <= end_day:
            labels[info.expiry] = info.label
    return [
        _mark(
            mark_id=f"expiry-{name}-{day:%Y%m%d}",
            day=day,
            color=EXPIRY_MARK_COLOR[label],
            label=EXPIRY_MARK_LABEL[label],
            tooltip=[f"{name} {label} expiry", day.isoformat()],
        )
        for day, label in sorted(labels.items())
    ]
