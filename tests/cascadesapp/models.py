"""Models for the cascade tests: one relation kind per model, around ``CascRoot``."""

from __future__ import annotations

from typing import Any

from django.contrib.contenttypes.fields import GenericForeignKey, GenericRelation
from django.contrib.contenttypes.models import ContentType
from django.db import models

from bulk_triggers import TriggerModelMixin


def fallback_root() -> Any:
    """Return the key ``SET(fallback_root)`` writes: the root named "fallback"."""
    return CascRoot.objects.get_or_create(name="fallback")[0].pk


class CascNote(TriggerModelMixin):
    """A generic-relation target (``CascRoot.notes``)."""

    text = models.CharField(max_length=20, default="")
    content_type = models.ForeignKey(ContentType, on_delete=models.CASCADE)
    object_id = models.PositiveIntegerField()
    target = GenericForeignKey("content_type", "object_id")


class CascTag(TriggerModelMixin):
    name = models.CharField(max_length=20, default="")


class CascLabel(TriggerModelMixin):
    name = models.CharField(max_length=20, default="")


class CascRoot(TriggerModelMixin):
    name = models.CharField(max_length=20, default="")
    notes = GenericRelation(CascNote)
    tags = models.ManyToManyField(CascTag, blank=True, related_name="roots")
    labels = models.ManyToManyField(
        CascLabel, blank=True, through="CascLabelling", related_name="roots"
    )


class CascLabelling(TriggerModelMixin):
    """The explicit through model of ``CascRoot.labels``."""

    root = models.ForeignKey(CascRoot, on_delete=models.CASCADE)
    label = models.ForeignKey(CascLabel, on_delete=models.CASCADE)
    weight = models.IntegerField(default=0)


class CascBranch(TriggerModelMixin):
    root = models.ForeignKey(CascRoot, on_delete=models.CASCADE, related_name="branches")
    name = models.CharField(max_length=20, default="")


class CascLeaf(TriggerModelMixin):
    branch = models.ForeignKey(CascBranch, on_delete=models.CASCADE, related_name="leaves")
    name = models.CharField(max_length=20, default="")


class CascNullable(TriggerModelMixin):
    root = models.ForeignKey(
        CascRoot, null=True, on_delete=models.SET_NULL, related_name="nullables"
    )
    name = models.CharField(max_length=20, default="")


class CascDefaulted(TriggerModelMixin):
    root = models.ForeignKey(
        CascRoot, null=True, default=None, on_delete=models.SET_DEFAULT, related_name="defaulted"
    )
    name = models.CharField(max_length=20, default="")


class CascSet(TriggerModelMixin):
    root = models.ForeignKey(
        CascRoot, null=True, on_delete=models.SET(fallback_root), related_name="sets"
    )
    name = models.CharField(max_length=20, default="")


class CascProtected(TriggerModelMixin):
    owner = models.ForeignKey(CascBranch, on_delete=models.PROTECT, related_name="protected")


class CascRestricted(TriggerModelMixin):
    """Restricted by a branch, cascaded from a root: deletable only with its root."""

    branch = models.ForeignKey(CascBranch, on_delete=models.RESTRICT, related_name="restricted")
    root = models.ForeignKey(CascRoot, on_delete=models.CASCADE, related_name="restricted")


class CascPlace(TriggerModelMixin):
    name = models.CharField(max_length=20, default="")


class CascShop(CascPlace):
    """A multi-table child, cascaded from a root."""

    root = models.ForeignKey(CascRoot, on_delete=models.CASCADE, related_name="shops")


class CascNode(TriggerModelMixin):
    """A self-referencing tree."""

    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="children"
    )
    name = models.CharField(max_length=20, default="")


class CascLoose(TriggerModelMixin):
    """Left to the database on delete (``DO_NOTHING``); no constraint, for the check."""

    root = models.ForeignKey(
        CascRoot, null=True, db_constraint=False, on_delete=models.DO_NOTHING, related_name="+"
    )
