"""URLs of the forms and admin tests."""

from __future__ import annotations

from django.contrib import admin
from django.urls import path

from tests.errorsapp import views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("tickets/<int:pk>/edit/", views.edit_ticket),
    path("tickets/<int:pk>/update/", views.TicketUpdate.as_view()),
]
