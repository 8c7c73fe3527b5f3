"""A small shop for the API.md conformance suite: one model per shape the contract names."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib.contenttypes.fields import GenericForeignKey, GenericRelation
from django.contrib.contenttypes.models import ContentType
from django.db import models

from bulk_triggers import TriggerManager, TriggerModelMixin


def fallback_account() -> Any:
    """Return the key ``SET(fallback_account)`` writes: the account coded "fallback"."""
    return ConfAccount.objects.get_or_create(code="fallback", defaults={"name": "F"})[0].pk


class ConfNote(TriggerModelMixin):
    """The target of ``ConfAccount.notes`` (a generic relation)."""

    text = models.CharField(max_length=20, default="")
    content_type = models.ForeignKey(ContentType, on_delete=models.CASCADE)
    object_id = models.PositiveIntegerField()
    target = GenericForeignKey("content_type", "object_id")


class ConfOwner(TriggerModelMixin):
    email = models.CharField(max_length=40, default="")


class ConfTag(TriggerModelMixin):
    name = models.CharField(max_length=20, default="")


class ConfAccount(TriggerModelMixin):
    code = models.CharField(max_length=20, unique=True)
    name = models.CharField(max_length=20, default="")
    status = models.CharField(max_length=20, default="new")
    balance = models.IntegerField(null=True, default=0)
    owner = models.ForeignKey(ConfOwner, null=True, blank=True, on_delete=models.SET_NULL)
    touched = models.DateTimeField(auto_now=True)
    notes = GenericRelation(ConfNote)
    tags = models.ManyToManyField(ConfTag, blank=True, related_name="accounts")
    groups: models.ManyToManyField[ConfGroup, ConfMembership] = models.ManyToManyField(
        "ConfGroup", blank=True, through="ConfMembership", related_name="accounts"
    )


class ConfGroup(TriggerModelMixin):
    name = models.CharField(max_length=20, default="")


class ConfMembership(TriggerModelMixin):
    """The explicit through model of ``ConfAccount.groups``."""

    account = models.ForeignKey(ConfAccount, on_delete=models.CASCADE)
    group = models.ForeignKey(ConfGroup, on_delete=models.CASCADE)
    role = models.CharField(max_length=20, default="member")


class ConfOrder(TriggerModelMixin):
    account = models.ForeignKey(ConfAccount, on_delete=models.CASCADE, related_name="orders")
    billed = models.ForeignKey(
        ConfAccount,
        to_field="code",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="billed_orders",
    )
    status = models.CharField(max_length=20, default="draft")
    total = models.IntegerField(default=0)


class ConfOrderLine(TriggerModelMixin):
    order = models.ForeignKey(ConfOrder, on_delete=models.CASCADE, related_name="lines")
    sku = models.CharField(max_length=20, default="")
    quantity = models.IntegerField(default=1)
    buyer = models.ForeignKey(
        ConfAccount, null=True, blank=True, on_delete=models.SET_NULL, related_name="bought"
    )


class ConfLineNote(TriggerModelMixin):
    """Third level of the cascade: account → order → line → note."""

    line = models.ForeignKey(ConfOrderLine, on_delete=models.CASCADE, related_name="line_notes")
    text = models.CharField(max_length=20, default="")


class ConfReview(TriggerModelMixin):
    """Kept, with its account nulled, when the account goes (``SET_NULL``)."""

    account = models.ForeignKey(
        ConfAccount, null=True, on_delete=models.SET_NULL, related_name="reviews"
    )
    text = models.CharField(max_length=20, default="")


class ConfVoucher(TriggerModelMixin):
    """Kept, with its account reset to the default, when the account goes."""

    account = models.ForeignKey(
        ConfAccount,
        null=True,
        default=None,
        on_delete=models.SET_DEFAULT,
        related_name="vouchers",
    )
    text = models.CharField(max_length=20, default="")


class ConfInvoice(TriggerModelMixin):
    """Kept, moved to the fallback account, when its account goes (``SET(callable)``)."""

    account = models.ForeignKey(
        ConfAccount, null=True, on_delete=models.SET(fallback_account), related_name="invoices"
    )
    text = models.CharField(max_length=20, default="")


class ConfProduct(TriggerModelMixin):
    """The top of a multi-table chain: product → book → ebook."""

    title = models.CharField(max_length=20, default="")
    price = models.IntegerField(default=0)


class ConfBook(ConfProduct):
    pages = models.IntegerField(default=0)


class ConfEbook(ConfBook):
    size = models.IntegerField(default=0)


class ConfItem(TriggerModelMixin):
    """An abstract base with two concrete subclasses (and a proxy of one)."""

    label = models.CharField(max_length=20, default="")
    amount = models.IntegerField(default=0)

    class Meta:
        abstract = True


class ConfGift(ConfItem):
    wrapped = models.BooleanField(default=False)


class ConfCoupon(ConfItem):
    percent = models.IntegerField(default=0)


class ConfBigCoupon(ConfCoupon):
    class Meta:
        proxy = True


class ConfStock(TriggerModelMixin):
    """A composite primary key (Django 5.2+)."""

    pk = models.CompositePrimaryKey("warehouse", "sku")
    warehouse = models.CharField(max_length=10)
    sku = models.CharField(max_length=10)
    quantity = models.IntegerField(default=0)


class ConfPriced(TriggerModelMixin):
    """A generated column computed by the database."""

    net = models.IntegerField(default=0)
    gross = models.GeneratedField(
        expression=models.F("net") * 2, output_field=models.IntegerField(), db_persist=True
    )
    slug = models.CharField(max_length=20, default="")


class ConfTicket(models.Model):
    """A UUID primary key chosen by Python, on a plain model with ``TriggerManager``."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    subject = models.CharField(max_length=20, default="")
    state = models.CharField(max_length=20, default="open")

    objects: TriggerManager[ConfTicket] = TriggerManager()
