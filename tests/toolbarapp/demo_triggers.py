"""Triggers for the panel's screenshot: an order trigger whose writes fire the notes' triggers.

Imported by ``tests.toolbarapp.screenshot`` only (the suite defines its own triggers per
test), so the module is not named ``triggers``, which the app would autodiscover.
"""

from __future__ import annotations

from bulk_triggers import Trigger
from tests.toolbarapp.models import ToolbarNote, ToolbarOrder


class NoteNewOrders(Trigger[ToolbarOrder]):
    """Write a note for each new order; capitalise names changed by updates."""

    def on_after_create(self, new: list[ToolbarOrder]) -> None:
        ToolbarNote.objects.bulk_create(
            [ToolbarNote(order=o, text=f"{o.name} placed") for o in new]
        )

    def on_before_update(self, new: list[ToolbarOrder], old: list[ToolbarOrder]) -> None:
        for order in new:
            order.name = order.name.capitalize()


class NumberNotes(Trigger[ToolbarNote]):
    """Number each note after the notes already stored."""

    def on_before_create(self, new: list[ToolbarNote]) -> None:
        stored = ToolbarNote.objects.count()
        for number, note in enumerate(new, start=stored + 1):
            note.text = f"#{number}: {note.text}"
