"""The admin the forms/admin tests drive: the mixin on a plain ``ModelAdmin``."""

from __future__ import annotations

from django.contrib import admin

from bulk_triggers.contrib.admin import TriggerErrorsAdminMixin
from tests.errorsapp.models import ErrOwner, ErrTicket


class ErrTicketInline(admin.TabularInline):  # type: ignore[type-arg]
    model = ErrTicket
    fields = ["title", "points"]
    extra = 0


@admin.register(ErrTicket)
class ErrTicketAdmin(TriggerErrorsAdminMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["title", "status", "points"]
    list_editable = ["status", "points"]
    fields = ["title", "status", "points", "reference"]


@admin.register(ErrOwner)
class ErrOwnerAdmin(TriggerErrorsAdminMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    inlines = [ErrTicketInline]
