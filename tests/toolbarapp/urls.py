"""URLs of the debug-toolbar panel's tests: one view, and the toolbar's own."""

from __future__ import annotations

from django.urls import include, path

from tests.toolbarapp import views

urlpatterns = [
    path("orders/place/", views.place_orders),
    path("orders/aplace/", views.aplace_orders),
    path("__debug__/", include("debug_toolbar.urls")),
]
