"""Market calendar reference data: trading holidays, special sessions, corporate actions, fetch runs.

Writes go through `marketdata.services.calendar` (holidays, sessions) and `marketdata.corporate_actions`
so that every change bumps the calendar cache version; `save()` stays plain.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from .instruments import Exchange, Instrument

# Adjustment factors are ratios such as 1/3, not prices: they need more places than the price precision.
FACTOR_MAX_DIGITS = 24
FACTOR_DECIMAL_PLACES = 12


class TradingHoliday(models.Model):
    """A weekday on which the exchange holds no regular session.

    `source` names where the row came from (`holidays 0.109 financial_holidays(XNSE)`, a fetch URL,
    or `admin:<username>`); automated refreshes never overwrite rows whose source starts with `admin`.
    A holiday that also has a SpecialSession (Diwali Laxmi Pujan with Muhurat trading) is a day
    without the regular session but with that special one.
    """

    exchange = models.CharField(max_length=8, choices=Exchange.choices, default=Exchange.NSE)
    date = models.DateField()
    description = models.CharField(max_length=128, blank=True)
    source = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("exchange", "date")
        constraints = [
            models.UniqueConstraint(fields=["exchange", "date"], name="holiday_exchange_date_uniq")
        ]

    def __str__(self) -> str:
        return f"{self.exchange} {self.date.isoformat()} {self.description}".strip()


class SpecialSession(models.Model):
    """A session that replaces the regular one on its date (Muhurat trading, a Saturday special session).

    Times are wall-clock times in the market time zone (Asia/Kolkata).
    """

    exchange = models.CharField(max_length=8, choices=Exchange.choices, default=Exchange.NSE)
    date = models.DateField()
    open_time = models.TimeField()
    close_time = models.TimeField()
    description = models.CharField(max_length=128, blank=True)
    source = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("exchange", "date")
        constraints = [
            models.UniqueConstraint(fields=["exchange", "date"], name="special_session_exchange_date_uniq"),
            models.CheckConstraint(
                condition=models.Q(open_time__lt=models.F("close_time")),
                name="special_session_open_before_close",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.exchange} {self.date.isoformat()} {self.open_time:%H:%M}-{self.close_time:%H:%M}"


class CorporateActionType(models.TextChoices):
    SPLIT = "split", "Split"
    BONUS = "bonus", "Bonus"
    CONSOLIDATION = "consolidation", "Consolidation (reverse split)"
    DIVIDEND = "dividend", "Dividend"
    RIGHTS = "rights", "Rights issue"
    DEMERGER = "demerger", "Demerger"
    OTHER = "other", "Other"


class CorporateAction(models.Model):
    """A corporate action of one underlying, effective from `ex_date`.

    Ratio conventions (`ratio_numerator`:`ratio_denominator`):
    - split: new shares : old shares (face value 10 → 2 is 5:1);
    - bonus: bonus shares : shares held (a 1:1 bonus doubles the holding);
    - consolidation: new shares : old shares (1:10 merges ten shares into one);
    - rights: rights shares : shares held, at `amount` per share.
    `amount` is the dividend per share or the rights issue price.

    `adjustment_factor` is the *price* factor: raw prices before the ex-date are multiplied by it and
    volumes divided by it (a 5:1 split has 0.2, a 1:1 bonus 0.5). It is computed for split, bonus and
    consolidation; dividends and rights need the previous close, so their factor is only set when the
    source supplies one (otherwise they appear as chart marks and do not adjust anything).
    """

    instrument = models.ForeignKey(
        Instrument, null=True, blank=True, on_delete=models.SET_NULL, related_name="corporate_actions"
    )
    underlying = models.CharField(
        max_length=64, db_index=True, help_text="Symbol as in the F&O master, e.g. RELIANCE"
    )
    action_type = models.CharField(max_length=16, choices=CorporateActionType.choices)
    ex_date = models.DateField()
    ratio_numerator = models.PositiveIntegerField(null=True, blank=True)
    ratio_denominator = models.PositiveIntegerField(null=True, blank=True)
    amount = models.DecimalField(
        max_digits=settings.PRICE_MAX_DIGITS,
        decimal_places=settings.PRICE_DECIMAL_PLACES,
        null=True,
        blank=True,
    )
    adjustment_factor = models.DecimalField(
        max_digits=FACTOR_MAX_DIGITS, decimal_places=FACTOR_DECIMAL_PLACES, null=True, blank=True
    )
    description = models.CharField(max_length=200, blank=True)
    source = models.CharField(max_length=200, blank=True)
    applied_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When strikes and lot sizes of the underlying's derivatives were adjusted",
    )
    applied_instruments = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("-ex_date", "underlying")
        constraints = [
            models.UniqueConstraint(
                fields=["underlying", "action_type", "ex_date"],
                name="corporate_action_underlying_type_ex_uniq",
            ),
            models.CheckConstraint(
                condition=models.Q(adjustment_factor__isnull=True) | models.Q(adjustment_factor__gt=0),
                name="corporate_action_factor_positive",
            ),
        ]
        indexes = [models.Index(fields=["underlying", "ex_date"], name="corp_action_und_ex_idx")]

    def __str__(self) -> str:
        return f"{self.underlying} {self.action_type} ex {self.ex_date.isoformat()}"


class FetchJob(models.TextChoices):
    HOLIDAYS = "holidays", "Holidays"
    CORPORATE_ACTIONS = "corporate_actions", "Corporate actions"
    SEED_HOLIDAYS = "seed_holidays", "Offline holiday seed"
    APPLY_CORPORATE_ACTIONS = "apply_corporate_actions", "Apply corporate actions"


class FetchStatus(models.TextChoices):
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    DISABLED = "disabled", "Disabled (no source configured)"


class CalendarFetchRun(models.Model):
    """One run of a calendar reference-data job and what it changed."""

    job = models.CharField(max_length=32, choices=FetchJob.choices)
    status = models.CharField(max_length=16, choices=FetchStatus.choices, default=FetchStatus.RUNNING)
    source_url = models.CharField(max_length=500, blank=True)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    rows_received = models.PositiveIntegerField(default=0)
    rows_inserted = models.PositiveIntegerField(default=0)
    rows_updated = models.PositiveIntegerField(default=0)
    rows_unchanged = models.PositiveIntegerField(default=0)
    rows_skipped = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ("-started_at",)
        indexes = [models.Index(fields=["job", "-started_at"], name="calfetch_job_started_idx")]

    def __str__(self) -> str:
        return f"{self.job} {self.started_at:%Y-%m-%d %H:%M} {self.status}"
