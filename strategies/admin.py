"""Django admin of strategies: legs inline, filters by status / owner / account, status actions.

Non-superusers see and pick only their own strategies and trading accounts (accounts.admin.OwnerScopedAdmin).
Legs are validated by the same rules as the API (strategies.services.leg_input); a CLOSED strategy
is read-only; status changes go through the actions, so closing always exits the open legs.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from accounts.admin import OwnerScopedAdmin
from strategies.models import InstrumentMark, Strategy, StrategyInstrument, StrategyStatus
from strategies.services import leg_input, strategy_set_status
from tradeviz.errors import InvalidInput


def _field_errors(exc: InvalidInput, fields: set[str]) -> ValidationError:
    details = exc.details if isinstance(exc.details, dict) else {}
    mapped = {("instrument" if name in ("instrument_token", "symbol") else name): messages_
              for name, messages_ in details.items()}
    errors = {name: msgs for name, msgs in mapped.items() if name in fields}
    return ValidationError(errors or exc.message)


class LegInlineForm(forms.ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = StrategyInstrument
        fields = ("instrument", "side", "lots", "entry_price", "entry_time", "exit_price", "exit_time")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["entry_time"].initial = timezone.now

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        instrument = data.get("instrument")
        if instrument is None or self.errors:
            return data
        try:
            validated = leg_input({
                "instrument_token": instrument.instrument_token,
                "side": data.get("side"),
                "lots": data.get("lots"),
                "entry_price": data.get("entry_price"),
                "entry_time": data.get("entry_time"),
                "exit_price": data.get("exit_price"),
                "exit_time": data.get("exit_time"),
            })
        except InvalidInput as exc:
            raise _field_errors(exc, set(self.fields)) from exc
        self.instance.quantity = validated.quantity
        self.instance.status = validated.status
        self.instance.entry_time = validated.entry_time
        self.instance.exit_time = validated.exit_time
        data["entry_time"], data["exit_time"] = validated.entry_time, validated.exit_time
        return data


class LegInline(admin.TabularInline):  # type: ignore[type-arg]
    model = StrategyInstrument
    form = LegInlineForm
    extra = 1
    fields = ("instrument", "side", "lots", "quantity", "entry_price", "entry_time", "exit_price", "exit_time", "status")
    readonly_fields = ("quantity", "status")
    autocomplete_fields = ("instrument",)

    def _closed(self, obj: Strategy | None) -> bool:
        return obj is not None and obj.status == StrategyStatus.CLOSED

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return not self._closed(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return not self._closed(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return not self._closed(obj) and super().has_delete_permission(request, obj)


class StrategyAdminForm(forms.ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = Strategy
        fields = ("owner", "trading_account", "name", "description", "tags", "status")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        owner, account = data.get("owner"), data.get("trading_account")
        if owner is not None and account is not None and account.owner_id != owner.pk:
            raise ValidationError({"trading_account": "This trading account belongs to another user."})
        status = data.get("status")
        if self.instance.pk is None and status == StrategyStatus.CLOSED:
            raise ValidationError({"status": "A new strategy is ACTIVE or PAUSED."})
        return data


@admin.register(Strategy)
class StrategyAdmin(OwnerScopedAdmin):
    form = StrategyAdminForm
    list_display = ("name", "owner", "trading_account", "status", "current_m2m", "realised_pnl", "stale_legs",
                    "m2m_updated_at", "created_at")
    list_filter = ("status", ("owner", admin.RelatedOnlyFieldListFilter),
                   ("trading_account", admin.RelatedOnlyFieldListFilter))
    search_fields = ("name", "description", "owner__username")
    list_select_related = ("owner", "trading_account")
    inlines = (LegInline,)
    actions = ("activate", "pause", "close")
    totals = ("current_m2m", "realised_pnl", "unrealised_pnl", "stale_legs", "m2m_updated_at", "closed_at",
              "created_at", "updated_at")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return self.totals
        if obj.status == StrategyStatus.CLOSED:
            return ("owner", "trading_account", "name", "description", "tags", "status", *self.totals)
        # Status changes go through the actions, so that closing exits the legs.
        return ("owner", "status", *self.totals)

    def _set_status(self, request: HttpRequest, queryset: QuerySet[Strategy], status: str) -> None:
        changed, refused = 0, []
        for strategy in queryset:
            try:
                strategy_set_status(strategy=strategy, status=status)
                changed += 1
            except InvalidInput as exc:
                refused.append(f"{strategy.name}: {exc.message}")
        if changed:
            self.message_user(request, f"{changed} strateg{'y' if changed == 1 else 'ies'} now {status}.")
        for text in refused:
            self.message_user(request, text, level=messages.WARNING)

    @admin.action(description="Activate selected strategies")
    def activate(self, request: HttpRequest, queryset: QuerySet[Strategy]) -> None:
        self._set_status(request, queryset, StrategyStatus.ACTIVE)

    @admin.action(description="Pause selected strategies")
    def pause(self, request: HttpRequest, queryset: QuerySet[Strategy]) -> None:
        self._set_status(request, queryset, StrategyStatus.PAUSED)

    @admin.action(description="Close selected strategies (exit open legs at the last price)")
    def close(self, request: HttpRequest, queryset: QuerySet[Strategy]) -> None:
        self._set_status(request, queryset, StrategyStatus.CLOSED)


@admin.register(InstrumentMark)
class InstrumentMarkAdmin(admin.ModelAdmin[InstrumentMark]):
    """The M2M job's last price per instrument (read-only; not user data)."""

    list_display = ("instrument", "price", "price_time", "source", "stale", "updated_at")
    list_filter = ("stale", "source")
    list_select_related = ("instrument",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

