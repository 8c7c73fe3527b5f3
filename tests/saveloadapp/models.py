"""Models for the SAVE_OLD_FROM_LOAD tests (app label ``saveloadapp``)."""

from __future__ import annotations

from bulk_triggers import TriggerModelMixin
from tests.perfapp.models import PerfFields


class SlFields(TriggerModelMixin, PerfFields):
    """Every concrete field type Django ships, a custom and a generated field, with triggers."""
