"""Models for condition paths, comparisons and preloading (app label ``condsapp``)."""

from __future__ import annotations

from typing import Any

from django.db import models
from model_utils.managers import SoftDeletableQuerySet

from bulk_triggers import TriggerModelMixin, TriggerQuerySet


class CondOwner(TriggerModelMixin):
    """The owner of accounts: the second hop of ``account__owner__email``."""

    email = models.CharField(max_length=100)


class CondAccount(TriggerModelMixin):
    """An account that orders point to, by primary key and by ``code`` (a to_field FK)."""

    code = models.CharField(max_length=20, unique=True)
    status = models.CharField(max_length=20, default="active")
    tier = models.CharField(max_length=20, default="basic")
    owner = models.ForeignKey(CondOwner, null=True, blank=True, on_delete=models.SET_NULL)


class CondProfile(TriggerModelMixin):
    """A one-to-one companion of an order, for paths through a OneToOneField."""

    level = models.IntegerField(default=0)


class CondOrder(TriggerModelMixin):
    """The model whose triggers read paths into its relations."""

    account = models.ForeignKey(CondAccount, null=True, blank=True, on_delete=models.CASCADE)
    billing = models.ForeignKey(
        CondAccount,
        null=True,
        blank=True,
        to_field="code",
        on_delete=models.CASCADE,
        related_name="billed_orders",
    )
    profile = models.OneToOneField(CondProfile, null=True, blank=True, on_delete=models.SET_NULL)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL)
    status = models.CharField(max_length=20, default="new")
    amount = models.IntegerField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)


class CondLine(TriggerModelMixin):
    """A line of an order: a reverse relation for prefetch_related."""

    order = models.ForeignKey(CondOrder, on_delete=models.CASCADE, related_name="lines")
    sku = models.CharField(max_length=20)


class RenamingQuerySet(models.QuerySet["CondRenamed"]):
    """A third-party style queryset whose writes rewrite their arguments."""

    def update(self, **kwargs: Any) -> int:
        if "state" in kwargs:
            kwargs["status"] = kwargs.pop("state")
        return super().update(**kwargs)

    def bulk_update(self, objs: Any, fields: Any, batch_size: int | None = None) -> int:
        fields = ["status" if name == "state" else name for name in fields]
        return super().bulk_update(objs, fields, batch_size=batch_size)


class RenamedQuerySet(RenamingQuerySet, TriggerQuerySet["CondRenamed"]):  # type: ignore[override]
    """The order that works: the rewriting queryset first, then TriggerQuerySet."""


class CondRenamed(TriggerModelMixin):
    """A model whose queryset renames ``state`` to ``status`` before writing."""

    status = models.CharField(max_length=20, default="new")

    objects = models.Manager.from_queryset(RenamedQuerySet)()


class SoftQuerySet(SoftDeletableQuerySet["CondSoft"], TriggerQuerySet["CondSoft"]):  # type: ignore[override]
    """django-model-utils' soft delete composed with triggers, in the order that works."""


class CondSoft(TriggerModelMixin):
    """A soft-deletable model: its queryset's delete() sets ``is_removed``."""

    name = models.CharField(max_length=20)
    is_removed = models.BooleanField(default=False)

    objects = models.Manager.from_queryset(SoftQuerySet)()
