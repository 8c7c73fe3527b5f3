"""Models of one shape: ``PlainItem`` (plain Django), ``TriggerItem`` (bulk_triggers) and peers.

The benchmark compares operations on them; a trigger configuration is a set of triggers
registered on ``TriggerItem``, none by default. ``LifecycleItem`` (django-lifecycle) and
``BulkHooksItem`` (django-bulk-hooks) carry the peers' equivalent of the before+after
configuration, empty hooks on the same watched field (``benchmarks/app/peers.py``); each
is defined only when its library imports, and ``PEER_PROBLEMS`` says why one is missing.
"""

from __future__ import annotations

from django.db import models

from bulk_triggers.models import TriggerModelMixin


class Customer(models.Model):
    name = models.CharField(max_length=100)


class ItemFields(models.Model):
    """The shared shape: text, a watched integer, a decimal, a foreign key and JSON."""

    name = models.CharField(max_length=100)
    status = models.CharField(max_length=20)
    amount = models.IntegerField()
    price = models.DecimalField(max_digits=10, decimal_places=2)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    data = models.JSONField(default=dict)

    class Meta:
        abstract = True


class PlainItem(ItemFields):
    objects = models.Manager()


class TriggerItem(TriggerModelMixin, ItemFields):
    pass


class SeedItem(ItemFields):
    """The starting rows, written once per run; tables are reset by copying from here."""

    objects = models.Manager()


PEER_PROBLEMS: dict[str, str] = {}
"""Why a peer's model is not defined, by distribution name (reported, never skipped silently)."""
PEER_MODELS: list[type[models.Model]] = []
"""The peers' models that are defined, whose tables the benchmark creates."""
WATCHED = "amount"
"""The field the peers' update hooks watch, as ``configs.WATCHED`` for bulk_triggers."""

try:
    from django_lifecycle import AFTER_UPDATE, BEFORE_UPDATE, LifecycleModelMixin, hook
    from django_lifecycle.conditions import WhenFieldHasChanged
except Exception as exc:  # Missing, or broken on this Django: reported, not fatal.
    PEER_PROBLEMS["django-lifecycle"] = (
        f"not importable (pip install -e '.[bench]'): {type(exc).__name__}: {exc}"
    )
else:

    class LifecycleItem(LifecycleModelMixin, ItemFields):  # type: ignore[misc]
        """django-lifecycle's model: a before and an after update hook on the watched field.

        django-lifecycle keeps the values as loaded on the instance, so that its ``save()``
        needs no query to compare them.
        """

        objects = models.Manager()

        @hook(BEFORE_UPDATE, condition=WhenFieldHasChanged(WATCHED, has_changed=True))  # type: ignore[misc]
        def before_update(self) -> None:
            return None

        @hook(AFTER_UPDATE, condition=WhenFieldHasChanged(WATCHED, has_changed=True))  # type: ignore[misc]
        def after_update(self) -> None:
            return None

    PEER_MODELS.append(LifecycleItem)


try:
    from django_bulk_hooks.models import HookModelMixin
except Exception as exc:  # Missing, or broken on this Django: reported, not fatal.
    PEER_PROBLEMS["django-bulk-hooks"] = (
        "not importable (django-bulk-hooks 0.4 needs Django < 6.0 and Python ≥ 3.11; `make bench` "
        f"installs it where it fits): {type(exc).__name__}: {exc}"
    )
else:

    class BulkHooksItem(HookModelMixin, ItemFields):  # type: ignore[misc]
        """django-bulk-hooks' model: its manager runs the hooks of ``peers.py``."""

    PEER_MODELS.append(BulkHooksItem)

    from benchmarks.app import peers  # noqa: F401  (registers BulkHooksItem's hooks)
