"""The admin of the cascade tests: deleting a root through the delete view or action."""

from __future__ import annotations

from django.contrib import admin

from tests.cascadesapp.models import CascRoot

admin.site.register(CascRoot)
