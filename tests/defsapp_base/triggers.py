"""The base app's triggers on DefsNote, as a reusable app would ship them."""

from __future__ import annotations

from bulk_triggers import Trigger
from tests.defsapp.models import DefsLog, DefsNote


class StampNote(Trigger[DefsNote]):
    """Stamp each new note; defsapp_ext replaces this one."""

    order = 5

    def on_before_create(self, new: list[DefsNote]) -> None:
        for note in new:
            note.stamp = "base"


class AuditNote(Trigger[DefsNote]):
    """Log each new note; defsapp_ext switches this one off."""

    def on_after_create(self, new: list[DefsNote]) -> None:
        DefsLog.objects.bulk_create(DefsLog(kind="base-audit", ref=str(n.pk)) for n in new)


class CountNote(Trigger[DefsNote]):
    """Log each new note; left alone by defsapp_ext, so it still runs."""

    order = 5

    def on_after_create(self, new: list[DefsNote]) -> None:
        DefsLog.objects.bulk_create(DefsLog(kind="base-count", ref=n.stamp) for n in new)
