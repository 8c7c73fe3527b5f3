"""App config of the example shop."""

from __future__ import annotations

from django.apps import AppConfig


class ShopConfig(AppConfig):
    """The shop; bulk_triggers imports its ``triggers`` module in its own ``ready()``."""

    name = "shop"
    default_auto_field = "django.db.models.BigAutoField"
