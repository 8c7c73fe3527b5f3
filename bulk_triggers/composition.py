"""Composing ``TriggerQuerySet`` with other querysets: refuse the order that cannot work.

With triggers, ``TriggerQuerySet``'s write methods validate their arguments, build the
rows triggers see and write through Django's own ``QuerySet``. A queryset placed after
it in the method resolution order, whose write method rewrites its arguments or changes
what a write does (django-model-utils' soft delete turns ``delete()`` into
``update(is_removed=True)``), would be skipped: its rewritten arguments are only known
once it calls ``super()``, after the library needed them. Placed before
``TriggerQuerySet``, it runs first and its ``super()`` call reaches the library with the
write it means, which dispatches once.
"""

from __future__ import annotations

from django.db import models

__all__ = ["WRITE_METHODS", "check_composition"]

# The TriggerQuerySet methods that, with triggers, write without calling super().
WRITE_METHODS = ("bulk_create", "bulk_update", "create", "delete", "update")


def check_composition(cls: type, trigger_queryset: type) -> None:
    """Raise TypeError if a queryset after ``trigger_queryset`` in ``cls``'s MRO writes.

    Args:
        cls: A new subclass of ``trigger_queryset``.
        trigger_queryset: ``TriggerQuerySet`` (passed in: this module is imported by it).
    """
    mro = cls.__mro__
    django = set(models.QuerySet.__mro__)
    for base in mro[mro.index(trigger_queryset) + 1 :]:
        if base in django:
            continue
        overridden = [name for name in WRITE_METHODS if name in vars(base)]
        if overridden:
            listed = next(b for b in cls.__bases__ if issubclass(b, base))
            methods = ", ".join(f"{name}()" for name in overridden)
            raise TypeError(
                f"{cls.__module__}.{cls.__qualname__} lists TriggerQuerySet before "
                f"{base.__module__}.{base.__qualname__}, which overrides {methods}: with "
                f"triggers, the library writes through Django's QuerySet and would skip "
                f"{base.__qualname__}'s {methods}. Put TriggerQuerySet after it, as in "
                f"class {cls.__name__}({listed.__name__}, TriggerQuerySet), so that its "
                "writes run first and reach the triggers once."
            )
