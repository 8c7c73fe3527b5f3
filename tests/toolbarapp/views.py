"""A view whose writes fire triggers, for the panel to show, and the toolbar's callback."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from tests.toolbarapp.models import ToolbarOrder


def place_orders(request: HttpRequest) -> HttpResponse:
    """Create two orders in one bulk_create, then set one total with update()."""
    ToolbarOrder.objects.bulk_create([ToolbarOrder(name="tea"), ToolbarOrder(name="cake")])
    ToolbarOrder.objects.filter(name="tea").update(total=12)
    page = f"<h1>Orders</h1><p>{ToolbarOrder.objects.count()} orders placed.</p>"
    if "open" in request.GET:
        page += _OPEN_PANEL
    return HttpResponse(
        f"<!DOCTYPE html><html><head><title>Orders</title></head><body>{page}</body></html>"
    )


async def aplace_orders(request: HttpRequest) -> HttpResponse:
    """Do what :func:`place_orders` does, through the async ORM, in an async view."""
    await ToolbarOrder.objects.abulk_create([ToolbarOrder(name="tea"), ToolbarOrder(name="cake")])
    await ToolbarOrder.objects.filter(name="tea").aupdate(total=12)
    return HttpResponse(
        "<!DOCTYPE html><html><head><title>Orders</title></head><body></body></html>"
    )


# For the screenshot: click the panel's button in the toolbar, as a user would, once the
# toolbar's own script has set up its handlers (in a shadow root by default), then show
# the queries of each call.
_OPEN_PANEL = """<script>
window.addEventListener("load", () => setTimeout(() => {
  const root = document.getElementById("djDebugRoot");
  const scope = root.shadowRoot || document;
  scope.querySelector("#djDebugPanelList a.TriggersPanel").click();
  setTimeout(() => scope.querySelectorAll("#TriggersPanel details").forEach((d) => {
    d.open = true;
  }), 1000);
}, 500));
</script>"""


def show_toolbar(request: HttpRequest) -> bool:
    """Show the toolbar on every request (the test settings leave DEBUG off)."""
    return True
