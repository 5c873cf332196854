from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    """The project's user. Kept custom from the first migration so fields can be added later."""

    class Meta:
        db_table = "accounts_user"


class ApiKey(models.Model):
    """A long-lived credential for scripts and chart clients.

    The full key is shown once at creation; only its SHA-256 is stored. `prefix` is the public,
    identifiable part (also shown in admin) used to find the row without scanning.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    hashed_key = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at",)
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


# === Trading accounts ================================================================================
# A user's broker accounts and what the broker reports for them: positions, orders, holdings and
# funds. Orders arrive on the order stream (accounts.orderstream); positions are derived from the
# orders' fills (accounts.services.orders) and, when broker sync is configured, replaced by the
# broker's own book (accounts.services.broker_sync).


def _price(**kwargs: object) -> models.DecimalField:  # type: ignore[type-arg]
    return models.DecimalField(
        max_digits=settings.PRICE_MAX_DIGITS, decimal_places=settings.PRICE_DECIMAL_PLACES, **kwargs  # type: ignore[arg-type]
    )


class TradingAccountStatus(models.TextChoices):
    ACTIVE = "ACTIVE", "Active"
    DISABLED = "DISABLED", "Disabled"


class TradingAccount(models.Model):
    """One broker account of a user.

    `broker_account_id` is unique on its own (not per broker): the order stream identifies accounts
    by it alone, so two rows sharing it would make its updates ambiguous.
    """

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="trading_accounts")
    broker = models.CharField(max_length=32, default="sim")
    broker_account_id = models.CharField(max_length=64, unique=True)
    display_name = models.CharField(max_length=100, blank=True)
    status = models.CharField(max_length=16, choices=TradingAccountStatus.choices, default=TradingAccountStatus.ACTIVE)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    last_synced_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ("owner_id", "display_name", "id")

    def __str__(self) -> str:
        return self.display_name or f"{self.broker}:{self.broker_account_id}"


class Product(models.TextChoices):
    CNC = "CNC", "Delivery (CNC)"
    MIS = "MIS", "Intraday (MIS)"
    NRML = "NRML", "Carry forward (NRML)"


class Side(models.TextChoices):
    BUY = "BUY", "Buy"
    SELL = "SELL", "Sell"


class Position(models.Model):
    """A net position of an account in one instrument and product.

    Derived from the account's order fills: buy and sell quantities and values accumulate, the
    net quantity is their difference, `average_price` is the average of the side still open, and
    `realised_pnl` is the closed quantity times (average sell - average buy). `unrealised_pnl` is
    the open quantity marked at `last_price`.
    """

    account = models.ForeignKey(TradingAccount, on_delete=models.CASCADE, related_name="positions")
    instrument = models.ForeignKey("marketdata.Instrument", on_delete=models.PROTECT, related_name="+")
    product = models.CharField(max_length=8, choices=Product.choices, default=Product.NRML)
    quantity = models.IntegerField(default=0)
    average_price = _price(default=0)
    buy_quantity = models.BigIntegerField(default=0)
    buy_value = _price(default=0)
    sell_quantity = models.BigIntegerField(default=0)
    sell_value = _price(default=0)
    realised_pnl = _price(default=0)
    unrealised_pnl = _price(default=0)
    last_price = _price(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("account_id", "instrument_id", "product")
        constraints = [
            models.UniqueConstraint(fields=["account", "instrument", "product"], name="position_account_instrument_product")
        ]

    def __str__(self) -> str:
        return f"{self.account_id} {self.instrument_id} {self.product} {self.quantity}"


class OrderStatus(models.TextChoices):
    OPEN = "OPEN", "Open"
    TRIGGER_PENDING = "TRIGGER_PENDING", "Trigger pending"
    COMPLETE = "COMPLETE", "Complete"
    CANCELLED = "CANCELLED", "Cancelled"
    REJECTED = "REJECTED", "Rejected"


TERMINAL_ORDER_STATUSES = (OrderStatus.COMPLETE, OrderStatus.CANCELLED, OrderStatus.REJECTED)


class Order(models.Model):
    """An order as the broker last reported it.

    `exchange_updated_at` is the broker's time of the update this row reflects; updates are applied
    only when newer (accounts.services.orders), so a late or repeated update never rolls it back.
    The `*_at` lifecycle columns hold when each status was first seen, whatever order updates came in.
    """

    account = models.ForeignKey(TradingAccount, on_delete=models.CASCADE, related_name="orders")
    broker_order_id = models.CharField(max_length=64)
    instrument = models.ForeignKey(
        "marketdata.Instrument", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    instrument_token = models.BigIntegerField()
    tradingsymbol = models.CharField(max_length=64)
    product = models.CharField(max_length=8, choices=Product.choices, default=Product.NRML)
    side = models.CharField(max_length=4, choices=Side.choices)
    status = models.CharField(max_length=16, choices=OrderStatus.choices)
    quantity = models.IntegerField()
    filled_quantity = models.IntegerField(default=0)
    price = _price(default=0)
    average_price = _price(default=0)
    tag = models.CharField(max_length=32, blank=True)
    status_message = models.CharField(max_length=255, blank=True)
    placed_at = models.DateTimeField()
    exchange_updated_at = models.DateTimeField()
    open_at = models.DateTimeField(null=True, blank=True)
    trigger_pending_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    rejected_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("-placed_at", "-id")
        constraints = [
            models.UniqueConstraint(fields=["account", "broker_order_id"], name="order_account_broker_order_id")
        ]
        indexes = [models.Index(fields=["account", "-placed_at"], name="order_account_placed_idx")]

    def __str__(self) -> str:
        return f"{self.broker_order_id} {self.side} {self.quantity} {self.tradingsymbol} {self.status}"


class Holding(models.Model):
    """A delivery holding (demat) of an account, as the broker last reported it."""

    account = models.ForeignKey(TradingAccount, on_delete=models.CASCADE, related_name="holdings")
    instrument = models.ForeignKey(
        "marketdata.Instrument", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    instrument_token = models.BigIntegerField()
    tradingsymbol = models.CharField(max_length=64)
    isin = models.CharField(max_length=16, blank=True)
    quantity = models.IntegerField(default=0)
    t1_quantity = models.IntegerField(default=0)
    average_price = _price(default=0)
    last_price = _price(null=True, blank=True)
    pnl = _price(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("account_id", "tradingsymbol")
        constraints = [
            models.UniqueConstraint(fields=["account", "instrument_token"], name="holding_account_token")
        ]

    def __str__(self) -> str:
        return f"{self.account_id} {self.tradingsymbol} {self.quantity}"


class FundsSnapshot(models.Model):
    """The account's funds and margins at one moment (one row per sync; the newest is current)."""

    account = models.ForeignKey(TradingAccount, on_delete=models.CASCADE, related_name="funds_snapshots")
    taken_at = models.DateTimeField()
    opening_balance = _price(default=0)
    available_cash = _price(default=0)
    used_margin = _price(default=0)
    available_margin = _price(default=0)
    collateral = _price(default=0)

    class Meta:
        ordering = ("account_id", "-taken_at")
        get_latest_by = "taken_at"
        indexes = [models.Index(fields=["account", "-taken_at"], name="funds_account_taken_idx")]

    def __str__(self) -> str:
        return f"{self.account_id} {self.taken_at:%Y-%m-%d %H:%M}"
