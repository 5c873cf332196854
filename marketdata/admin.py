"""Django admin of the marketdata app."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from marketdata.corporate_actions import (
    APPLIED_TERMS,
    CorporateActionRow,
    apply_corporate_action,
    corporate_action_save,
    corporate_action_values,
)
from marketdata.models import CalendarFetchRun, CorporateAction, Instrument, SpecialSession, TradingHoliday
from marketdata.services.calendar import (
    admin_source,
    special_session_delete,
    special_session_save,
    special_sessions_delete,
    trading_holiday_delete,
    trading_holiday_save,
    trading_holidays_delete,
)
from tradeviz.errors import DomainError

# === Calendar ========================================================================================
# Saves and deletes go through the calendar services so every process's calendar cache is
# invalidated (no signals). An admin's edit marks the row `admin:<username>`: automated refreshes
# then leave it alone.


class YearListFilter(admin.SimpleListFilter):
    title = "year"
    parameter_name = "year"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        years = model_admin.get_queryset(request).dates("date", "year", order="DESC")
        return [(str(d.year), str(d.year)) for d in years]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if value and value.isdigit():
            return queryset.filter(date__year=int(value))
        return queryset


def _editor(request: HttpRequest) -> str:
    return admin_source(request.user.get_username())


@admin.register(TradingHoliday)
class TradingHolidayAdmin(admin.ModelAdmin[TradingHoliday]):
    list_display = ("date", "weekday", "exchange", "description", "source", "updated_at")
    list_display_links = ("date",)
    list_editable = ("description",)
    list_filter = ("exchange", YearListFilter, "source")
    search_fields = ("description", "source")
    date_hierarchy = "date"
    ordering = ("exchange", "date")
    fields = ("exchange", "date", "description", "source", "created_at", "updated_at")
    readonly_fields = ("source", "created_at", "updated_at")

    @admin.display(description="weekday")
    def weekday(self, obj: TradingHoliday) -> str:
        return obj.date.strftime("%a")

    def save_model(self, request: HttpRequest, obj: TradingHoliday, form: Any, change: bool) -> None:
        trading_holiday_save(holiday=obj, source=_editor(request))

    def delete_model(self, request: HttpRequest, obj: TradingHoliday) -> None:
        trading_holiday_delete(holiday=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[TradingHoliday]) -> None:
        trading_holidays_delete(queryset=queryset)


@admin.register(SpecialSession)
class SpecialSessionAdmin(admin.ModelAdmin[SpecialSession]):
    list_display = ("date", "exchange", "open_time", "close_time", "description", "source")
    list_filter = ("exchange", YearListFilter)
    search_fields = ("description",)
    date_hierarchy = "date"
    fields = (
        "exchange",
        "date",
        "open_time",
        "close_time",
        "description",
        "source",
        "created_at",
        "updated_at",
    )
    readonly_fields = ("source", "created_at", "updated_at")

    def save_model(self, request: HttpRequest, obj: SpecialSession, form: Any, change: bool) -> None:
        special_session_save(session=obj, source=_editor(request))

    def delete_model(self, request: HttpRequest, obj: SpecialSession) -> None:
        special_session_delete(session=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[SpecialSession]) -> None:
        special_sessions_delete(queryset=queryset)


class CorporateActionForm(forms.ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = CorporateAction
        fields = (
            "underlying",
            "instrument",
            "action_type",
            "ex_date",
            "ratio_numerator",
            "ratio_denominator",
            "amount",
            "adjustment_factor",
            "description",
        )

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        if self.errors:
            return cleaned
        instance = self.instance
        if instance.pk is not None and instance.applied_at is not None:
            stored = CorporateAction.objects.get(pk=instance.pk)
            if any(getattr(stored, name) != cleaned.get(name) for name in APPLIED_TERMS):
                raise forms.ValidationError("Already applied to derivatives: its terms can no longer change.")
        try:
            corporate_action_values(
                CorporateActionRow(
                    underlying=cleaned.get("underlying") or "",
                    action_type=cleaned.get("action_type") or "",
                    ex_date=cleaned["ex_date"],
                    ratio_numerator=cleaned.get("ratio_numerator"),
                    ratio_denominator=cleaned.get("ratio_denominator"),
                    amount=cleaned.get("amount"),
                    adjustment_factor=cleaned.get("adjustment_factor"),
                )
            )
        except DomainError as exc:
            raise forms.ValidationError(exc.message) from exc
        return cleaned


@admin.register(CorporateAction)
class CorporateActionAdmin(admin.ModelAdmin[CorporateAction]):
    form = CorporateActionForm
    list_display = (
        "ex_date",
        "underlying",
        "action_type",
        "ratio_numerator",
        "ratio_denominator",
        "amount",
        "adjustment_factor",
        "applied_at",
        "source",
    )
    list_filter = ("action_type", "applied_at")
    search_fields = ("underlying", "description")
    date_hierarchy = "ex_date"
    raw_id_fields = ("instrument",)
    readonly_fields = ("source", "applied_at", "applied_instruments", "created_at", "updated_at")
    actions = ("apply_to_derivatives",)

    def save_model(self, request: HttpRequest, obj: CorporateAction, form: Any, change: bool) -> None:
        corporate_action_save(action=obj, source=_editor(request))

    @admin.action(description="Apply to derivatives (adjust strikes and lot sizes from the ex-date)")
    def apply_to_derivatives(self, request: HttpRequest, queryset: QuerySet[CorporateAction]) -> None:
        for action in queryset:
            try:
                applied = apply_corporate_action(action_id=action.pk)
            except DomainError as exc:
                self.message_user(request, f"{action}: {exc.message}", level=messages.WARNING)
                continue
            self.message_user(request, f"{applied}: {applied.applied_instruments} contract(s) adjusted.")


@admin.register(CalendarFetchRun)
class CalendarFetchRunAdmin(admin.ModelAdmin[CalendarFetchRun]):
    list_display = (
        "started_at",
        "job",
        "status",
        "rows_received",
        "rows_inserted",
        "rows_updated",
        "rows_unchanged",
        "rows_skipped",
        "source_url",
    )
    list_filter = ("job", "status")
    date_hierarchy = "started_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: CalendarFetchRun | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: CalendarFetchRun | None = None) -> bool:
        return False


# === Instruments =====================================================================================


@admin.register(Instrument)
class InstrumentAdmin(admin.ModelAdmin[Instrument]):
    """The instrument master is loaded from the broker CSV (load_instruments); admins fix single rows."""

    list_display = ("symbol", "instrument_token", "instrument_type", "underlying", "expiry", "strike", "lot_size",
                    "tick_size", "is_active")
    list_filter = ("exchange", "instrument_type", "is_active")
    search_fields = ("tradingsymbol", "name", "underlying", "=instrument_token")
    readonly_fields = ("symbol", "updated_at")
    ordering = ("exchange", "tradingsymbol")
    list_per_page = 100
    actions = ("deactivate", "activate")

    @admin.action(description="Deactivate selected instruments")
    def deactivate(self, request: HttpRequest, queryset: QuerySet[Instrument]) -> None:
        self.message_user(request, f"Deactivated {queryset.update(is_active=False)} instrument(s).")

    @admin.action(description="Activate selected instruments")
    def activate(self, request: HttpRequest, queryset: QuerySet[Instrument]) -> None:
        self.message_user(request, f"Activated {queryset.update(is_active=True)} instrument(s).")
