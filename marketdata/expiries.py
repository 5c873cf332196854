"""F&O expiries: listed ones from the instrument master, rule-based ones from the NSE calendar.

Rules (DOMAIN.md, "NSE calendar"):
- From 2025-09-01 NSE derivatives expire on Tuesday, before that on Thursday. The weekday in force
  is decided by the Monday of the expiry's week (weeklies) or the first day of its month (monthlies),
  so the switch reads: weekly 2025-08-28 (Thu) then 2025-09-02 (Tue); monthly August on the last
  Thursday, September on the last Tuesday.
- NIFTY has weekly expiries plus the monthly (last expiry weekday of the month). BANKNIFTY,
  FINNIFTY, MIDCPNIFTY and stocks are monthly only (their weeklies ended in November 2024; earlier
  per-index weekdays are not modelled).
- An expiry on a day without the regular session (a holiday, Muhurat-only days included) moves to
  the previous regular trading day.
- A listed expiry is monthly when a futures contract with the same expiry exists; otherwise when it
  equals the holiday-adjusted monthly rule date.
- A listed expiry whose date has since become a holiday (added in admin after the master was loaded)
  is reported on its effective date, the previous trading day, with `contract_expiry` keeping the
  master's date.
"""

from __future__ import annotations

import calendar as gregorian
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from django.utils import timezone

from marketdata.calendar import is_regular_trading_day, market_date, previous_trading_day
from marketdata.models import Instrument, InstrumentType
from tradeviz.errors import DataUnavailable, InvalidInput, NotFound

WEEKDAY_SWITCH_DATE = date(2025, 9, 1)
TUESDAY = 1
THURSDAY = 3
DAYS_PER_WEEK = 7
WEEKLY_UNDERLYINGS = frozenset({"NIFTY"})
MONTHLY_ONLY_INDEX_UNDERLYINGS = frozenset({"BANKNIFTY", "FINNIFTY", "MIDCPNIFTY"})
RULE_INDEX_UNDERLYINGS = WEEKLY_UNDERLYINGS | MONTHLY_ONLY_INDEX_UNDERLYINGS
# Index tradingsymbols of the cash segment and the underlying name their derivatives carry.
INDEX_UNDERLYING_OF_TRADINGSYMBOL = {
    "NIFTY 50": "NIFTY",
    "NIFTY BANK": "BANKNIFTY",
    "NIFTY FIN SERVICE": "FINNIFTY",
    "NIFTY MID SELECT": "MIDCPNIFTY",
}
DEFAULT_EXPIRY_EXCHANGE = "NFO"

LABEL_WEEKLY = "weekly"
LABEL_MONTHLY = "monthly"
SOURCE_LISTED = "listed"
SOURCE_RULE = "rule"
SOURCE_AUTO = "auto"
EXPIRY_SOURCES = (SOURCE_AUTO, SOURCE_LISTED, SOURCE_RULE)
DEFAULT_EXPIRY_LIMIT = 10
MAX_EXPIRY_LIMIT = 100
# Monthly contracts beyond the last listed futures expiry are not checked against the rule when an
# underlying has no futures at all: NSE lists three serial months, roughly this many days ahead.
SERIAL_MONTHS_HORIZON_DAYS = 93
# Weekly contracts are listed a few weeks ahead only; a "weekly" further out is a long-dated
# contract off the monthly rule, not the end of the weekly listing window.
WEEKLY_LISTING_HORIZON_DAYS = 42
OPTION_TYPES = (InstrumentType.CE, InstrumentType.PE)


@dataclass(frozen=True, slots=True)
class RuleExpiry:
    expiry: date
    label: str
    nominal: date  # the rule date before the holiday move


@dataclass(frozen=True, slots=True)
class ExpiryInfo:
    expiry: date
    label: str
    days_to_expiry: int
    source: str
    has_futures: bool
    contract_expiry: date | None


@dataclass(frozen=True, slots=True)
class ExpiryMismatch:
    expiry: date
    kind: str  # missing_from_listed | not_in_rule | label | moved_by_holiday
    detail: str


# --- rules ------------------------------------------------------------------------------------------


def expiry_weekday(reference: date) -> int:
    """The expiry weekday in force for a week or month starting at `reference` (Tuesday from 2025-09-01)."""
    return TUESDAY if reference >= WEEKDAY_SWITCH_DATE else THURSDAY


def holiday_adjusted(d: date, exchange: str = DEFAULT_EXPIRY_EXCHANGE) -> date:
    """`d` if it has the regular session, else the previous regular trading day."""
    if is_regular_trading_day(d, exchange):
        return d
    return previous_trading_day(d, exchange, regular_only=True)


def nominal_monthly_expiry(year: int, month: int) -> date:
    """The last expiry weekday of the month, before any holiday move."""
    weekday = expiry_weekday(date(year, month, 1))
    last_day = date(year, month, gregorian.monthrange(year, month)[1])
    return last_day - timedelta(days=(last_day.weekday() - weekday) % DAYS_PER_WEEK)


def monthly_expiry(year: int, month: int, exchange: str = DEFAULT_EXPIRY_EXCHANGE) -> date:
    """The holiday-adjusted monthly expiry of `year`-`month`."""
    return holiday_adjusted(nominal_monthly_expiry(year, month), exchange)


def _months(start: date, end: date) -> Iterable[tuple[int, int]]:
    year, month = start.year, start.month
    while (year, month) <= (end.year, end.month):
        yield year, month
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)


def generate_expiries(
    *, underlying: str, start: date, end: date, exchange: str = DEFAULT_EXPIRY_EXCHANGE
) -> list[RuleExpiry]:
    """Rule-based expiries of `underlying` whose (holiday-adjusted) date lies in [start, end], ascending.

    Raises DataUnavailable when a needed year has no holiday data.
    """
    underlying = underlying.strip().upper()
    found: dict[date, RuleExpiry] = {}
    if underlying in WEEKLY_UNDERLYINGS:
        monday = start - timedelta(days=start.weekday())
        # A nominal date after `end` can still move back into the range, hence the extra week.
        while monday <= end + timedelta(days=DAYS_PER_WEEK):
            nominal = monday + timedelta(days=expiry_weekday(monday))
            adjusted = holiday_adjusted(nominal, exchange)
            if start <= adjusted <= end:
                found[adjusted] = RuleExpiry(adjusted, LABEL_WEEKLY, nominal)
            monday += timedelta(days=DAYS_PER_WEEK)
    for year, month in _months(start, end):
        nominal = nominal_monthly_expiry(year, month)
        adjusted = holiday_adjusted(nominal, exchange)
        if start <= adjusted <= end:
            # The weekly of the month's last week is the monthly contract.
            found[adjusted] = RuleExpiry(adjusted, LABEL_MONTHLY, nominal)
    return [found[d] for d in sorted(found)]


def next_rule_expiries(
    *, underlying: str, as_of: date, count: int, exchange: str = DEFAULT_EXPIRY_EXCHANGE
) -> list[RuleExpiry]:
    """The `count` nearest rule-based expiries on or after `as_of`."""
    weekly = underlying.strip().upper() in WEEKLY_UNDERLYINGS
    # Wide enough for `count` expiries: one per week, or one per month (31 days) plus slack.
    span_days = (count + 2) * (DAYS_PER_WEEK if weekly else 31)
    return generate_expiries(
        underlying=underlying, start=as_of, end=as_of + timedelta(days=span_days), exchange=exchange
    )[:count]


# --- listed expiries --------------------------------------------------------------------------------


def underlying_for_instrument(instrument: Instrument) -> str:
    """The derivatives underlying name of an instrument (NIFTY for the NIFTY 50 index, RELIANCE for the stock)."""
    if instrument.underlying:
        return instrument.underlying.upper()
    tradingsymbol = instrument.tradingsymbol.upper()
    return INDEX_UNDERLYING_OF_TRADINGSYMBOL.get(tradingsymbol, tradingsymbol)


def is_known_underlying(underlying: str) -> bool:
    name = underlying.strip().upper()
    return name in RULE_INDEX_UNDERLYINGS or Instrument.objects.filter(underlying=name).exists()


def _futures_expiries(underlying: str) -> set[date]:
    return {
        expiry
        for expiry in Instrument.objects.filter(
            underlying=underlying, instrument_type=InstrumentType.FUT, expiry__isnull=False
        )
        .values_list("expiry", flat=True)
        .distinct()
        if expiry is not None
    }


def listed_option_expiries(*, underlying: str, as_of: date) -> list[date]:
    """Distinct expiries of the active CE/PE contracts of `underlying` on or after `as_of`, ascending."""
    expiries = (
        Instrument.objects.filter(
            underlying=underlying.strip().upper(),
            instrument_type__in=OPTION_TYPES,
            is_active=True,
            expiry__gte=as_of,
        )
        .values_list("expiry", flat=True)
        .distinct()
        .order_by("expiry")
    )
    return [expiry for expiry in expiries if expiry is not None]


def _effective(contract: date, exchange: str) -> date:
    try:
        return holiday_adjusted(contract, exchange)
    except DataUnavailable:
        # No holiday data that far ahead: the master's date is the best knowledge there is.
        return contract


def _label_listed(
    effective: date, has_futures: bool, month_last: dict[tuple[int, int], date], exchange: str
) -> str:
    if has_futures:
        return LABEL_MONTHLY
    try:
        rule = monthly_expiry(effective.year, effective.month, exchange)
    except DataUnavailable:
        # Without holiday data the monthly is the last listed expiry of its month.
        return LABEL_MONTHLY if month_last[(effective.year, effective.month)] == effective else LABEL_WEEKLY
    return LABEL_MONTHLY if effective == rule else LABEL_WEEKLY


def listed_expiries(
    *, underlying: str, as_of: date, exchange: str = DEFAULT_EXPIRY_EXCHANGE
) -> list[ExpiryInfo]:
    """Listed expiries of `underlying` (effective date ≥ as_of), labelled, nearest first."""
    name = underlying.strip().upper()
    futures = _futures_expiries(name)
    contracts = listed_option_expiries(underlying=name, as_of=as_of)
    effective = {contract: _effective(contract, exchange) for contract in contracts}
    month_last: dict[tuple[int, int], date] = {}
    for day in effective.values():
        key = (day.year, day.month)
        month_last[key] = max(month_last.get(key, day), day)
    result = [
        ExpiryInfo(
            expiry=effective[contract],
            label=_label_listed(effective[contract], contract in futures, month_last, exchange),
            days_to_expiry=(effective[contract] - as_of).days,
            source=SOURCE_LISTED,
            has_futures=contract in futures,
            contract_expiry=contract,
        )
        for contract in contracts
        if effective[contract] >= as_of
    ]
    return sorted(result, key=lambda info: info.expiry)


def today_market_date() -> date:
    return market_date(timezone.now())


def expiries_for_underlying(
    *,
    underlying: str,
    limit: int = DEFAULT_EXPIRY_LIMIT,
    as_of: date | None = None,
    source: str = SOURCE_AUTO,
    exchange: str = DEFAULT_EXPIRY_EXCHANGE,
) -> list[ExpiryInfo]:
    """The nearest `limit` expiries of `underlying`, nearest first.

    `auto` uses the instrument master when it lists options of the underlying, else the NSE rules;
    `listed` and `rule` force one. Raises NotFound for an underlying neither the master nor the
    rules know, DataUnavailable when rule dates need a year without holiday data.
    """
    name = underlying.strip().upper()
    if source not in EXPIRY_SOURCES:
        raise InvalidInput(f"Unknown expiry source {source!r}.", details={"source": list(EXPIRY_SOURCES)})
    if not 1 <= limit <= MAX_EXPIRY_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {MAX_EXPIRY_LIMIT}.")
    if not name or not is_known_underlying(name):
        raise NotFound(f"Unknown underlying {underlying!r}.")
    as_of = as_of or today_market_date()
    if source in (SOURCE_AUTO, SOURCE_LISTED):
        listed = listed_expiries(underlying=name, as_of=as_of, exchange=exchange)
        if listed or source == SOURCE_LISTED:
            return listed[:limit]
    futures = _futures_expiries(name)
    return [
        ExpiryInfo(
            expiry=rule.expiry,
            label=rule.label,
            days_to_expiry=(rule.expiry - as_of).days,
            source=SOURCE_RULE,
            has_futures=rule.expiry in futures,
            contract_expiry=None,
        )
        for rule in next_rule_expiries(underlying=name, as_of=as_of, count=limit, exchange=exchange)
    ]


def days_to_expiry(expiry: date, as_of: date | None = None) -> int:
    """Calendar days from `as_of` (today, IST) to `expiry`; 0 on expiry day, negative once past."""
    return (expiry - (as_of or today_market_date())).days


# --- consistency check ------------------------------------------------------------------------------


def check_listed_against_rule(
    *, underlying: str, as_of: date | None = None, exchange: str = DEFAULT_EXPIRY_EXCHANGE
) -> list[ExpiryMismatch]:
    """Compare listed expiries with the rules where both exist; returns the mismatches (empty: agree).

    Weekly rule dates are checked up to the last listed weekly of the next few weeks, monthly ones
    up to the last listed futures expiry (NSE lists three serial months); longer-dated listed
    contracts (quarterly, half-yearly) are only checked to fall on a monthly rule date.
    """
    name = underlying.strip().upper()
    as_of = as_of or today_market_date()
    listed = listed_expiries(underlying=name, as_of=as_of, exchange=exchange)
    if not listed:
        return []
    mismatches = [
        ExpiryMismatch(
            info.expiry,
            "moved_by_holiday",
            f"listed for {info.contract_expiry.isoformat()}, a holiday; effective {info.expiry.isoformat()}",
        )
        for info in listed
        if info.contract_expiry is not None and info.contract_expiry != info.expiry
    ]
    weekly_horizon = max(
        (
            i.expiry
            for i in listed
            if i.label == LABEL_WEEKLY and i.expiry <= as_of + timedelta(days=WEEKLY_LISTING_HORIZON_DAYS)
        ),
        default=None,
    )
    with_futures = [i.expiry for i in listed if i.has_futures]
    monthly_horizon = (
        max(with_futures)
        if with_futures
        else min(max(i.expiry for i in listed), as_of + timedelta(days=SERIAL_MONTHS_HORIZON_DAYS))
    )
    horizon = max(filter(None, (weekly_horizon, monthly_horizon)))
    rules = {
        r.expiry: r for r in generate_expiries(underlying=name, start=as_of, end=horizon, exchange=exchange)
    }
    listed_by_date = {i.expiry: i for i in listed}
    for day, rule in rules.items():
        limit = weekly_horizon if rule.label == LABEL_WEEKLY else monthly_horizon
        if limit is not None and day <= limit and day not in listed_by_date:
            mismatches.append(
                ExpiryMismatch(day, "missing_from_listed", f"rule {rule.label} expiry not listed")
            )
    for info in listed:
        if info.expiry <= horizon:
            matching = rules.get(info.expiry)
            if matching is None:
                mismatches.append(
                    ExpiryMismatch(info.expiry, "not_in_rule", f"listed {info.label} expiry off the rules")
                )
            elif matching.label != info.label:
                mismatches.append(
                    ExpiryMismatch(
                        info.expiry, "label", f"listed as {info.label}, rule says {matching.label}"
                    )
                )
        else:
            try:
                rule_monthly = monthly_expiry(info.expiry.year, info.expiry.month, exchange)
            except DataUnavailable:
                continue
            if info.expiry != rule_monthly:
                mismatches.append(
                    ExpiryMismatch(
                        info.expiry, "not_in_rule", "long-dated expiry is not the month's rule date"
                    )
                )
    return sorted(mismatches, key=lambda m: (m.expiry, m.kind))
