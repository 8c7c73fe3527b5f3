"""Models for inherited triggers: a multi-table chain three deep, abstract bases, proxies."""

from __future__ import annotations

from typing import Any

from django.db import models

from bulk_triggers import Trigger, TriggerModelMixin


class DefsPlace(TriggerModelMixin):
    """The root of a multi-table chain: DefsPlace <- DefsShop <- DefsKiosk."""

    name = models.CharField(max_length=30)
    score = models.IntegerField(default=0)


class DefsShop(DefsPlace):
    seats = models.IntegerField(default=0)


class DefsKiosk(DefsShop):
    stock = models.IntegerField(default=0)


class DefsShadowedShop(DefsPlace):
    """A child whose own plain manager shadows the mixin's: checks must name it."""

    raw = models.Manager()


class DefsShopProxy(DefsShop):
    class Meta:
        proxy = True


class DefsKioskProxy(DefsKiosk):
    class Meta:
        proxy = True


class DefsStamped(TriggerModelMixin):
    """An abstract base whose triggers fire for each concrete subclass."""

    label = models.CharField(max_length=30, default="")
    touched = models.IntegerField(default=0)

    class Meta:
        abstract = True


class DefsStampA(DefsStamped):
    size = models.IntegerField(default=0)


class DefsStampB(DefsStamped):
    colour = models.CharField(max_length=10, default="")


class DefsStampAProxy(DefsStampA):
    class Meta:
        proxy = True


class DefsStampedPlace(DefsStamped, DefsPlace):
    """A multi-table child that also has an abstract base of its own."""

    floor = models.IntegerField(default=0)


class DefsLateBase(TriggerModelMixin):
    """An abstract base whose trigger (below) is defined before its concrete subclass."""

    counter = models.IntegerField(default=0)

    class Meta:
        abstract = True


class CountLate(Trigger[DefsLateBase]):
    """Defined before DefsLate exists: it must still fire for DefsLate."""

    def on_before_create(self, new: list[Any]) -> None:
        for row in new:
            row.counter += 1


class DefsLate(DefsLateBase):
    name = models.CharField(max_length=30, default="")


class DefsNote(TriggerModelMixin):
    """What defsapp_base's triggers stamp and defsapp_ext replaces or switches off."""

    text = models.CharField(max_length=60, default="")
    stamp = models.CharField(max_length=30, default="")


class DefsLog(models.Model):
    """Where the apps' triggers write; no triggers of its own."""

    kind = models.CharField(max_length=40)
    ref = models.CharField(max_length=60, default="")
