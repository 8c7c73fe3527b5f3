"""A view whose writes fire triggers, for the panel to show."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from tests.toolbarapp.models import ToolbarOrder


def place_orders(request: HttpRequest) -> HttpResponse:
    """Create two orders in one bulk_create, then raise their totals with update()."""
    ToolbarOrder.objects.bulk_create([ToolbarOrder(name="tea"), ToolbarOrder(name="cake")])
    ToolbarOrder.objects.filter(name="tea").update(total=12)
    page = f"<h1>Orders</h1><p>{ToolbarOrder.objects.count()} orders placed.</p>"
    return HttpResponse(
        f"<!DOCTYPE html><html><head><title>Orders</title></head><body>{page}</body></html>"
    )


def show_toolbar(request: HttpRequest) -> bool:
    """Show the toolbar on every request (the test settings leave DEBUG off)."""
    return True
