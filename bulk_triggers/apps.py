"""App configs: the default one imports every installed app's ``triggers`` module."""

from __future__ import annotations

from django.apps import AppConfig, apps
from django.utils.module_loading import autodiscover_modules


class SimpleBulkTriggersConfig(AppConfig):
    """bulk_triggers without autodiscovery: import your trigger modules yourself."""

    name = "bulk_triggers"
    verbose_name = "Bulk triggers"
    default_auto_field = "django.db.models.AutoField"

    def ready(self) -> None:
        from django.core import checks

        from bulk_triggers.checks import check_triggers
        from bulk_triggers.conf import check_settings
        from bulk_triggers.models import use_trigger_managers

        checks.register(check_triggers, checks.Tags.models)
        checks.register(check_settings)
        # Models of apps listed before bulk_triggers were prepared before it could watch.
        for model in apps.get_models(include_auto_created=True):
            use_trigger_managers(model)


class BulkTriggersConfig(SimpleBulkTriggersConfig):
    """The default config: import ``<app>.triggers`` for every installed app in ``ready()``.

    An app without a ``triggers`` module is fine; one whose module fails to import
    fails loudly with the original exception.
    """

    default = True

    def ready(self) -> None:
        super().ready()
        autodiscover_modules("triggers")
