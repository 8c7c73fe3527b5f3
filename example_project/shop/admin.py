"""Admin for the shop. Saves, inline edits and "delete selected" all run the triggers."""

from __future__ import annotations

from typing import Any

from django.contrib import admin

from shop.forms import OrderForm, OrderLineForm
from shop.models import Account, AuditEntry, Order, OrderLine, Product


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["name", "balance", "status"]
    list_filter = ["status"]
    search_fields = ["name"]
    readonly_fields = ["status"]  # Kept in step with the balance by a trigger.


class OrderLineInline(admin.TabularInline):  # type: ignore[type-arg]
    model = OrderLine
    form = OrderLineForm
    extra = 1


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    form = OrderForm
    list_display = ["pk", "account", "status", "total", "shipped_at"]
    list_filter = ["status"]
    list_select_related = ["account"]
    readonly_fields = ["total", "shipped_at"]  # Set by triggers.
    inlines = [OrderLineInline]


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["sku", "name", "price"]
    search_fields = ["sku", "name"]


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["created_at", "action", "model", "object_pk"]
    list_filter = ["action", "model"]
    search_fields = ["object_pk"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request: Any) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False
