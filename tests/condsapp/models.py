"""Models for condition paths, comparisons and preloading (app label ``condsapp``)."""

from __future__ import annotations

from django.db import models

from bulk_triggers import TriggerModelMixin


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
