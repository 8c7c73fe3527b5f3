"""A model with a custom field holding lists, for values changed in place (app ``mutableapp``).

``PackedField`` (from the exactness tests' app) is a ``TextField`` that stores a list of
words as one comma-separated string: a custom field whose values are mutable although
its internal type is not a container's.
"""

from __future__ import annotations

from django.db import models

from bulk_triggers import TriggerModelMixin
from tests.perfapp.models import PackedField


class Phrase(TriggerModelMixin):
    """Rows whose ``words`` may be NULL on one row and a list on the next."""

    n = models.IntegerField(default=0)
    words = PackedField(null=True)
