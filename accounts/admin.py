from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from .apikeys import api_key_create
from .models import ApiKey, FundsSnapshot, Holding, Order, Position, TradingAccount, User

admin.site.register(User, UserAdmin)


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin[ApiKey]):
    list_display = ("name", "user", "prefix", "created_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("name", "prefix", "user__username")
    readonly_fields = ("prefix", "created_at", "last_used_at")
    actions = ("revoke",)

    def get_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> Any:
        if obj is None:
            return ["user", "name"]
        return ["user", "name", "prefix", "created_at", "last_used_at", "revoked_at"]

    def save_model(self, request: HttpRequest, obj: ApiKey, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        issued = api_key_create(user=obj.user, name=obj.name)  # type: ignore[arg-type]
        obj.pk = issued.api_key.pk
        obj.prefix = issued.api_key.prefix
        self.message_user(
            request,
            f"API key created. Copy it now, it will not be shown again: {issued.raw_key}",
            level=messages.WARNING,
        )

    @admin.action(description="Revoke selected keys")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        count = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        self.message_user(request, f"Revoked {count} key(s).")


# === Trading accounts =================================================================================
# Non-superusers (staff) see and pick only their own rows, everywhere: lists, forms, inlines.


class OwnerScopedAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Rows visible to a non-superuser are those whose `owner_lookup` is them."""

    owner_lookup = "owner"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(**{self.owner_lookup: request.user})

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        user = request.user
        if not user.is_superuser:
            if db_field.related_model is User:
                kwargs["queryset"] = User.objects.filter(pk=user.pk or 0)
            elif db_field.related_model is TradingAccount:
                kwargs["queryset"] = TradingAccount.objects.filter(owner_id=user.pk or 0)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_list_filter(self, request: HttpRequest) -> Any:
        """Related filters list only values present in the (scoped) queryset; the owner filter is
        pointless for someone who only sees their own rows."""
        filters = super().get_list_filter(request)
        if request.user.is_superuser:
            return filters
        return tuple(f for f in filters if (f[0] if isinstance(f, tuple) else f) != "owner")


class PositionInline(admin.TabularInline):  # type: ignore[type-arg]
    model = Position
    extra = 0
    can_delete = False
    fields = ("instrument", "product", "quantity", "average_price", "last_price", "realised_pnl", "unrealised_pnl",
              "updated_at")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(TradingAccount)
class TradingAccountAdmin(OwnerScopedAdmin):
    list_display = ("__str__", "owner", "broker", "broker_account_id", "status", "last_synced_at")
    list_filter = ("status", "broker", ("owner", admin.RelatedOnlyFieldListFilter))
    search_fields = ("display_name", "broker_account_id", "owner__username")
    readonly_fields = ("created_at", "updated_at", "last_synced_at")
    inlines = (PositionInline,)


class ReadOnlyAdmin(OwnerScopedAdmin):
    owner_lookup = "account__owner"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Order)
class OrderAdmin(ReadOnlyAdmin):
    """Orders are the broker's record: read-only here (they change only through the order stream)."""

    list_display = ("broker_order_id", "account", "tradingsymbol", "side", "quantity", "filled_quantity", "status",
                    "average_price", "placed_at", "exchange_updated_at")
    list_filter = ("status", "side", "product", ("account", admin.RelatedOnlyFieldListFilter))
    search_fields = ("broker_order_id", "tradingsymbol", "tag")
    date_hierarchy = "placed_at"


@admin.register(Position)
class PositionAdmin(ReadOnlyAdmin):
    list_display = ("account", "instrument", "product", "quantity", "average_price", "realised_pnl",
                    "unrealised_pnl", "updated_at")
    list_filter = ("product", ("account", admin.RelatedOnlyFieldListFilter))
    list_select_related = ("account", "instrument")


@admin.register(Holding)
class HoldingAdmin(ReadOnlyAdmin):
    list_display = ("account", "tradingsymbol", "quantity", "average_price", "last_price", "pnl", "updated_at")
    list_filter = (("account", admin.RelatedOnlyFieldListFilter),)


@admin.register(FundsSnapshot)
class FundsSnapshotAdmin(ReadOnlyAdmin):
    list_display = ("account", "taken_at", "available_cash", "used_margin", "available_margin")
    list_filter = (("account", admin.RelatedOnlyFieldListFilter),)
    date_hierarchy = "taken_at"
