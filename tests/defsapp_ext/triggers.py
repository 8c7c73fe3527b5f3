"""The extension's triggers: listed before defsapp_base in INSTALLED_APPS, on purpose.

Importing the base app's triggers module first makes the order of INSTALLED_APPS
irrelevant: the triggers to replace are registered before they are replaced.
"""

from __future__ import annotations

from bulk_triggers import unregister
from tests.defsapp.models import DefsNote
from tests.defsapp_base.triggers import AuditNote, StampNote


class ExtStampNote(StampNote):
    """Stamp notes the extension's way, in StampNote's place."""

    replaces = StampNote

    def on_before_create(self, new: list[DefsNote]) -> None:
        for note in new:
            note.stamp = "ext"


unregister(AuditNote)
