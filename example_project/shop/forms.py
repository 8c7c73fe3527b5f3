"""Forms that show the refusals of the validating triggers as form errors.

A ``ValidationError`` raised by a trigger while a view saves is a server error, since
Django's forms validate before ``save()``. These forms run the same triggers first (a
trigger is plain Python), so the admin shows their messages on the form; the triggers
still guard the save itself, whoever writes.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from shop.models import Order, OrderLine
from shop.triggers import EnforceOrderWorkflow, ValidateOrderLines


class OrderForm(forms.ModelForm):  # type: ignore[type-arg]
    """Refuse, on the status field, a transition ``EnforceOrderWorkflow`` would refuse."""

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        status = cleaned.get("status")
        if self.instance.pk is not None and status and "status" in self.changed_data:
            stored = Order(pk=self.instance.pk, status=self.instance.status)
            try:
                EnforceOrderWorkflow().on_before_update(
                    [Order(pk=stored.pk, status=status)], [stored]
                )
            except ValidationError as refused:
                raise ValidationError({"status": refused.messages}) from None
        return cleaned


class OrderLineForm(forms.ModelForm):  # type: ignore[type-arg]
    """Refuse a quantity or price that ``ValidateOrderLines`` would refuse."""

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        quantity, unit_price = cleaned.get("quantity"), cleaned.get("unit_price")
        if quantity is not None and unit_price is not None:
            line = OrderLine(sku=cleaned.get("sku", ""), quantity=quantity, unit_price=unit_price)
            line.order_id = self.instance.order_id
            ValidateOrderLines().on_before_create([line])
        return cleaned
