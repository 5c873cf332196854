"""Writes to the market calendar: holidays and special sessions, one by one (admin) or in bulk (seed, fetch).

Every write bumps the calendar cache version once it is committed, so every process sees it within
`marketdata.calendar.VERSION_CHECK_INTERVAL_SECONDS`. Bulk upserts never delete and never overwrite a
row an admin corrected (source starting with `admin`).

`seed_exchange_holidays` also runs inside a data migration: it then receives the migration's
historical models and touches nothing but their default manager.
"""

from __future__ import annotations

import importlib.metadata
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, time
from typing import Any

from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from marketdata.calendar import FIRST_WEEKEND_DAY, bump_calendar_version, calendar_exchange
from marketdata.models import SpecialSession, TradingHoliday
from tradeviz.errors import InvalidInput

logger = logging.getLogger(__name__)

ADMIN_SOURCE_PREFIX = "admin"
SOURCE_MAX_LENGTH = 200
DESCRIPTION_MAX_LENGTH = 128
# Serialises bulk calendar upserts across processes (a fetch and a seed at once) so that
# check-then-insert stays exact; transaction-scoped, so it cannot leak.
CALENDAR_WRITE_LOCK_ID = 0x7476_C41E

OFFLINE_SOURCE_HOLIDAYS = "holidays"
OFFLINE_SOURCE_PMC = "pandas_market_calendars"
OFFLINE_SOURCE_MERGED = "merged"
OFFLINE_SOURCES = (OFFLINE_SOURCE_MERGED, OFFLINE_SOURCE_HOLIDAYS, OFFLINE_SOURCE_PMC)
DEFAULT_OFFLINE_SOURCE = OFFLINE_SOURCE_MERGED
# Years the first migration seeds: the span checked against the exchange circulars (docs/calendar.md).
DEFAULT_SEED_YEARS = range(2024, 2028)

# Market identifiers of each calendar in the two offline packages.
HOLIDAYS_PACKAGE_MARKET = {"NSE": "XNSE", "BSE": "XBOM"}
PMC_CALENDAR = {"NSE": "XNSE", "BSE": "BSE"}
# pandas_market_calendars lists ad-hoc closures by date only; these are the ones it adds on top of
# the annual circulars in the seeded years, named after the exchange notices.
AD_HOC_CLOSURE_DESCRIPTIONS = {
    date(2024, 1, 22): "Special holiday (Shri Ram Lalla Pran Pratishtha)",
    date(2024, 5, 20): "Lok Sabha general election (Mumbai)",
    date(2024, 11, 20): "Maharashtra Legislative Assembly election",
    date(2026, 1, 15): "Maharashtra municipal corporation elections",
}
AD_HOC_CLOSURE_FALLBACK = "Exchange-declared closure"
MUHURAT_DESCRIPTION = "Muhurat trading (Diwali)"


@dataclass(frozen=True, slots=True)
class HolidayRow:
    exchange: str
    date: date
    description: str
    source: str


@dataclass(frozen=True, slots=True)
class SpecialSessionRow:
    exchange: str
    date: date
    open_time: time
    close_time: time
    description: str
    source: str


@dataclass(slots=True)
class UpsertCounts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    kept_admin: int = 0
    skipped_weekend: int = 0
    changed: list[str] = field(default_factory=list)

    def add(self, other: UpsertCounts) -> None:
        self.inserted += other.inserted
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.kept_admin += other.kept_admin
        self.skipped_weekend += other.skipped_weekend
        self.changed.extend(other.changed)

    @property
    def total_changed(self) -> int:
        return self.inserted + self.updated


def admin_source(username: str) -> str:
    return f"{ADMIN_SOURCE_PREFIX}:{username}"[:SOURCE_MAX_LENGTH]


def is_admin_source(source: str) -> bool:
    return source.startswith(ADMIN_SOURCE_PREFIX)


def _bump_after_commit() -> None:
    transaction.on_commit(bump_calendar_version)


# --- single-row writes (admin) ----------------------------------------------------------------------


def trading_holiday_save(*, holiday: TradingHoliday, source: str) -> TradingHoliday:
    """Create or update one holiday (the admin's save). Marks it with `source` (usually admin:<user>)."""
    holiday.exchange = calendar_exchange(holiday.exchange)
    holiday.source = source[:SOURCE_MAX_LENGTH]
    holiday.full_clean()
    with transaction.atomic():
        holiday.save()
        _bump_after_commit()
    return holiday


def trading_holiday_delete(*, holiday: TradingHoliday) -> None:
    with transaction.atomic():
        holiday.delete()
        _bump_after_commit()


def trading_holidays_delete(*, queryset: QuerySet[TradingHoliday]) -> int:
    with transaction.atomic():
        deleted, _ = queryset.delete()
        _bump_after_commit()
    return deleted


def special_session_save(*, session: SpecialSession, source: str) -> SpecialSession:
    """Create or update one special session; its times are IST wall-clock times."""
    session.exchange = calendar_exchange(session.exchange)
    session.source = source[:SOURCE_MAX_LENGTH]
    if session.open_time >= session.close_time:
        raise InvalidInput("A special session must open before it closes.")
    session.full_clean()
    with transaction.atomic():
        session.save()
        _bump_after_commit()
    return session


def special_session_delete(*, session: SpecialSession) -> None:
    with transaction.atomic():
        session.delete()
        _bump_after_commit()


def special_sessions_delete(*, queryset: QuerySet[SpecialSession]) -> int:
    with transaction.atomic():
        deleted, _ = queryset.delete()
        _bump_after_commit()
    return deleted


# --- bulk upserts (seed, fetch) ---------------------------------------------------------------------


def _lock_calendar_writes() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CALENDAR_WRITE_LOCK_ID])


def holidays_upsert(*, rows: Sequence[HolidayRow], model: Any = None) -> UpsertCounts:
    """Insert missing holidays and refresh description/source of existing ones; never deletes.

    Weekend dates are skipped (the calendar closes weekends anyway). Rows whose current source is an
    admin's are kept as they are. Idempotent: a second call with the same rows changes nothing.
    `model` is the TradingHoliday class to use (a migration passes its historical model).
    """
    model = model or TradingHoliday
    counts = UpsertCounts()
    wanted: dict[tuple[str, date], HolidayRow] = {}
    for row in rows:
        if row.date.weekday() >= FIRST_WEEKEND_DAY:
            counts.skipped_weekend += 1
            continue
        wanted[(row.exchange, row.date)] = row
    if not wanted:
        return counts
    with transaction.atomic():
        _lock_calendar_writes()
        existing = {
            (h.exchange, h.date): h
            for h in model.objects.filter(
                exchange__in={k[0] for k in wanted}, date__in={k[1] for k in wanted}
            )
        }
        now = timezone.now()
        to_create, to_update = [], []
        for key, row in sorted(wanted.items()):
            description = row.description[:DESCRIPTION_MAX_LENGTH]
            source = row.source[:SOURCE_MAX_LENGTH]
            current = existing.get(key)
            if current is None:
                to_create.append(
                    model(exchange=row.exchange, date=row.date, description=description, source=source)
                )
                counts.inserted += 1
                counts.changed.append(f"+{row.exchange} {row.date.isoformat()} {description}")
            elif is_admin_source(current.source):
                counts.kept_admin += 1
            elif (current.description, current.source) != (description, source):
                current.description, current.source, current.updated_at = description, source, now
                to_update.append(current)
                counts.updated += 1
                counts.changed.append(f"~{row.exchange} {row.date.isoformat()} {description}")
            else:
                counts.unchanged += 1
        model.objects.bulk_create(to_create)
        model.objects.bulk_update(to_update, ["description", "source", "updated_at"])
        if counts.total_changed:
            _bump_after_commit()
    return counts


def special_sessions_upsert(*, rows: Sequence[SpecialSessionRow], model: Any = None) -> UpsertCounts:
    """Insert or refresh special sessions keyed by (exchange, date); never deletes; keeps admin rows."""
    model = model or SpecialSession
    counts = UpsertCounts()
    wanted = {(row.exchange, row.date): row for row in rows}
    for row in wanted.values():
        if row.open_time >= row.close_time:
            raise InvalidInput(
                f"Special session {row.exchange} {row.date.isoformat()} opens after it closes."
            )
    if not wanted:
        return counts
    with transaction.atomic():
        _lock_calendar_writes()
        existing = {
            (s.exchange, s.date): s
            for s in model.objects.filter(
                exchange__in={k[0] for k in wanted}, date__in={k[1] for k in wanted}
            )
        }
        now = timezone.now()
        to_create, to_update = [], []
        for key, row in sorted(wanted.items()):
            values = {
                "open_time": row.open_time,
                "close_time": row.close_time,
                "description": row.description[:DESCRIPTION_MAX_LENGTH],
                "source": row.source[:SOURCE_MAX_LENGTH],
            }
            current = existing.get(key)
            label = f"{row.exchange} {row.date.isoformat()} {row.open_time:%H:%M}-{row.close_time:%H:%M}"
            if current is None:
                to_create.append(model(exchange=row.exchange, date=row.date, **values))
                counts.inserted += 1
                counts.changed.append(f"+session {label}")
            elif is_admin_source(current.source):
                counts.kept_admin += 1
            elif any(getattr(current, name) != value for name, value in values.items()):
                for name, value in values.items():
                    setattr(current, name, value)
                current.updated_at = now
                to_update.append(current)
                counts.updated += 1
                counts.changed.append(f"~session {label}")
            else:
                counts.unchanged += 1
        model.objects.bulk_create(to_create)
        model.objects.bulk_update(
            to_update, ["open_time", "close_time", "description", "source", "updated_at"]
        )
        if counts.total_changed:
            _bump_after_commit()
    return counts


# --- offline seed -----------------------------------------------------------------------------------


def _package_label(distribution: str, detail: str) -> str:
    try:
        version = importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        version = "?"
    return f"{distribution} {version} {detail}"


def _holidays_package_rows(exchange: str, years: Sequence[int]) -> list[HolidayRow]:
    import holidays as holidays_package

    market = HOLIDAYS_PACKAGE_MARKET[exchange]
    source = _package_label("holidays", f"financial_holidays({market})")
    calendar = holidays_package.financial_holidays(market, years=years)
    return [
        HolidayRow(exchange=exchange, date=day, description=str(name), source=source)
        for day, name in sorted(calendar.items())
        if day.year in years
    ]


def _pmc_calendar(exchange: str) -> Any:
    import pandas_market_calendars as mcal

    return mcal.get_calendar(PMC_CALENDAR[exchange])


def _pmc_rows(exchange: str, years: Sequence[int]) -> tuple[list[HolidayRow], list[SpecialSessionRow]]:
    import pandas as pd

    calendar = _pmc_calendar(exchange)
    source = _package_label("pandas_market_calendars", PMC_CALENDAR[exchange])
    closed = sorted(
        {pd.Timestamp(day).date() for day in calendar.adhoc_holidays} | _pmc_regular_holidays(calendar, years)
    )
    holiday_rows = [
        HolidayRow(
            exchange=exchange,
            date=day,
            description=AD_HOC_CLOSURE_DESCRIPTIONS.get(day, AD_HOC_CLOSURE_FALLBACK),
            source=source,
        )
        for day in closed
        if day.year in years
    ]
    # Muhurat sessions are the dates with both a special open and a special close in the same year set.
    opens = _pmc_special_times(calendar.special_opens_adhoc, years)
    closes = _pmc_special_times(calendar.special_closes_adhoc, years)
    session_rows = [
        SpecialSessionRow(
            exchange=exchange,
            date=day,
            open_time=opens[day],
            close_time=closes[day],
            description=MUHURAT_DESCRIPTION,
            source=source,
        )
        for day in sorted(opens.keys() & closes.keys())
        if opens[day] < closes[day]
    ]
    return holiday_rows, session_rows


def _pmc_regular_holidays(calendar: Any, years: Sequence[int]) -> set[date]:
    import pandas as pd

    rules = calendar.regular_holidays
    if rules is None:
        return set()
    start, end = f"{min(years)}-01-01", f"{max(years)}-12-31"
    return {pd.Timestamp(day).date() for day in rules.holidays(start, end)}


def _pmc_special_times(entries: Iterable[tuple[time, list[str]]], years: Sequence[int]) -> dict[date, time]:
    found: dict[date, time] = {}
    for wall, days in entries:
        for raw in days:
            day = date.fromisoformat(raw)
            if day.year in years:
                found[day] = wall
    return found


def offline_calendar_rows(
    *, exchange: str, years: Iterable[int], source: str = DEFAULT_OFFLINE_SOURCE
) -> tuple[list[HolidayRow], list[SpecialSessionRow]]:
    """Holidays and special sessions of the offline packages, for `years`, without writing anything.

    `merged` (the default, see docs/calendar.md): the `holidays` package's list (matches the NSE
    annual circulars, Diwali Laxmi Pujan included as a holiday), plus the closures that only
    pandas_market_calendars knows (ad-hoc election days), plus its Muhurat session times.
    """
    cal = calendar_exchange(exchange)
    if cal not in HOLIDAYS_PACKAGE_MARKET:
        raise InvalidInput(f"No offline holiday source for exchange {cal}.")
    if source not in OFFLINE_SOURCES:
        raise InvalidInput(f"Unknown offline source {source!r}.", details={"source": list(OFFLINE_SOURCES)})
    wanted_years = sorted(set(years))
    if not wanted_years:
        return [], []
    if source == OFFLINE_SOURCE_HOLIDAYS:
        return _holidays_package_rows(cal, wanted_years), []
    pmc_holidays, pmc_sessions = _pmc_rows(cal, wanted_years)
    if source == OFFLINE_SOURCE_PMC:
        return pmc_holidays, pmc_sessions
    primary = _holidays_package_rows(cal, wanted_years)
    known = {row.date for row in primary}
    extra = [row for row in pmc_holidays if row.date not in known]
    return sorted(primary + extra, key=lambda row: row.date), pmc_sessions


def seed_exchange_holidays(
    *,
    exchange: str,
    years: Iterable[int],
    source: str = DEFAULT_OFFLINE_SOURCE,
    holiday_model: Any = None,
    session_model: Any = None,
) -> UpsertCounts:
    """Idempotently upsert the offline holidays (weekdays only) and special sessions of `years`.

    Used by migration 0003 (with its historical models) and `manage.py seed_holidays`. Never deletes;
    admin corrections are kept.
    """
    holiday_rows, session_rows = offline_calendar_rows(exchange=exchange, years=years, source=source)
    counts = holidays_upsert(rows=holiday_rows, model=holiday_model)
    counts.add(special_sessions_upsert(rows=session_rows, model=session_model))
    logger.info(
        "calendar: seeded holidays",
        extra={
            "exchange": exchange,
            "source": source,
            "inserted": counts.inserted,
            "updated": counts.updated,
            "unchanged": counts.unchanged,
        },
    )
    return counts
