"""Exceptions raised by bulk_triggers itself (never by your triggers)."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

from bulk_triggers.links import docs_url


class TriggerDefinitionError(ImproperlyConfigured):
    """A trigger class is malformed: a typo in an event method, a bad condition, a bad model.

    Raised where the class is defined (or by ``manage.py check`` when the model was not
    ready then), with a message naming the trigger, the model and the offending attribute.
    """


class TriggerDepthError(RuntimeError):
    """Triggers wrote to triggered models more than ``BULK_TRIGGERS["MAX_DEPTH"]`` levels deep.

    ``chain`` lists the trigger calls that were running, outermost first, as
    ``"app.triggers.ShipOrder.on_after_update"`` strings. The operation that started the
    chain is rolled back, because the exception propagates through its transaction.
    """

    def __init__(self, chain: tuple[str, ...], max_depth: int) -> None:
        self.chain = chain
        self.max_depth = max_depth
        rendered = " -> ".join(chain)
        super().__init__(
            f"Triggers nested deeper than BULK_TRIGGERS['MAX_DEPTH'] = {max_depth}: {rendered}. "
            "A trigger that writes to its own model needs a condition that stops the "
            "recursion, or bypass() around the inner write. "
            f"See {docs_url('bypass-and-nesting', 'nesting')}"
        )
