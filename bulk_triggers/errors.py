"""Per-row errors: what ``Trigger.add_error()`` records and the ``RowErrors`` it raises.

A trigger marks rows while its stage runs; the dispatcher collects the marks of one stage
of one chunk in a :class:`StageErrors` and, once every trigger of the stage has run,
raises them together as one :class:`RowErrors`. Nothing here touches the database, and
nothing costs a row-sized amount of work until a row is actually marked.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS, FieldDoesNotExist, ValidationError
from django.db import models

__all__ = ["NON_FIELD_ERRORS", "RowError", "RowErrors", "StageErrors", "TriggerError"]

# Where the dispatcher tells a trigger instance which stage collects its errors.
CALL_ATTRIBUTE = "_bulk_triggers_call"
_ERRORS_ATTRIBUTE = "_bulk_triggers_errors"


@dataclass(frozen=True)
class TriggerError:
    """One ``add_error()`` call: the row it marked, its message, field and code.

    ``field`` is the model field's name (an attname such as ``account_id`` is given as
    ``account``), or None for a row-level error.
    """

    row: Any
    message: str
    field: str | None = None
    code: str | None = None
    trigger: str = ""

    def as_validation_error(self) -> ValidationError:
        """Return the message as Django's ``ValidationError(message, code=code)``."""
        return ValidationError(self.message, code=self.code)


@dataclass
class RowError:
    """The errors of one row, as :class:`RowErrors` reports them.

    Attributes:
        index: The row's position in the caller's input: in ``objs`` for
            ``bulk_create()``/``bulk_update()``, in the order ``update()``/``delete()``
            processed the rows (primary key order) for those, 0 for ``save()`` and
            ``Model.delete()``.
        pk: The row's primary key, None for a row not inserted yet.
        row: The instance the trigger marked.
        errors: The messages by field name (``NON_FIELD_ERRORS`` for row-level ones).
    """

    index: int | None
    pk: Any
    row: Any
    errors: dict[str, list[ValidationError]] = field(default_factory=dict)

    @property
    def message_dict(self) -> dict[str, list[str]]:
        """Return the messages by field, as ``ValidationError.message_dict`` does."""
        return {
            name: [message for error in errors for message in error.messages]
            for name, errors in self.errors.items()
        }


class RowErrors(ValidationError):
    """The rows triggers refused with ``add_error()``; the operation wrote nothing.

    A ``ValidationError`` with an ``error_dict``: ``message_dict`` maps each named field,
    or ``NON_FIELD_ERRORS``, to the messages of every refused row, so Django's forms and
    the admin show it as they show their own. ``rows`` lists the refused rows in input
    order, each with its index, primary key and messages by field.
    """

    def __init__(self, rows: Sequence[RowError], model: str = "", stage: str = "", event: str = ""):
        self.rows = list(rows)
        self.model, self.stage, self.event = model, stage, event
        merged: dict[str, list[ValidationError]] = {}
        for row in self.rows:
            for name, errors in row.errors.items():
                merged.setdefault(name, []).extend(errors)
        super().__init__(merged)

    def __reduce__(self) -> Any:
        return (type(self), (self.rows, self.model, self.stage, self.event))

    def __str__(self) -> str:
        described = "; ".join(
            f"row {row.index} (pk={row.pk!r}): "
            + ", ".join(
                f"{name}: {' '.join(messages)}" for name, messages in row.message_dict.items()
            )
            for row in self.rows
        )
        return (
            f"Triggers refused {len(self.rows)} {self.model} row(s) in the {self.stage} stage "
            f"of {self.event}, and nothing was written: {described}"
        )


def errors_of(trigger: Any) -> list[TriggerError]:
    """Return the list of the errors ``trigger`` (an instance) has added, creating it."""
    namespace = trigger.__dict__
    found: list[TriggerError] | None = namespace.get(_ERRORS_ATTRIBUTE)
    if found is None:
        found = namespace[_ERRORS_ATTRIBUTE] = []
    return found


def add_error(trigger: Any, row: Any, message: str, field: str | None, code: str | None) -> None:
    """Record an error on ``trigger`` and, inside an operation, on the stage running it."""
    label = f"{type(trigger).__module__}.{type(trigger).__qualname__}"
    if not isinstance(message, str):
        message = str(message)  # A lazy translation string.
    if field is not None:
        field = _field_name(type(trigger).model or type(row), field, label)
    error = TriggerError(row, message, field, code, label)
    errors_of(trigger).append(error)
    call = trigger.__dict__.get(CALL_ATTRIBUTE)
    if call is not None:
        stage, received = call
        stage.add(error, received)


def _field_name(model: Any, name: str, label: str) -> str:
    if not (isinstance(model, type) and issubclass(model, models.Model)):
        return name
    try:
        found = model._meta.get_field(name)
    except FieldDoesNotExist:
        known = sorted(f.name for f in model._meta.get_fields())
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(
            f"Trigger {label}.add_error() names the field {name!r}, which "
            f"{model._meta.label} does not have.{hint} Leave field=None for an error on "
            "the whole row."
        ) from None
    return str(found.name)


class StageErrors:
    """The errors added during one stage of one chunk, and how to report them.

    Args:
        model: The operation's model.
        event: ``"create"``, ``"update"`` or ``"delete"``.
        stage: ``"before"`` or ``"after"`` (``"commit"`` refuses ``add_error()``).
        new: The chunk's new rows, or None on delete.
        old: The chunk's old rows, or None on create.
        start: The chunk's first index in the caller's input (or in processing order).
        inputs: The caller's objects, when the chunk's rows come from them in another
            order (``bulk_update()``); indexes are then looked up there.
    """

    def __init__(
        self,
        model: type[models.Model],
        event: str,
        stage: str,
        new: Sequence[Any] | None,
        old: Sequence[Any] | None,
        start: int = 0,
        inputs: Sequence[Any] | None = None,
    ) -> None:
        self.model, self.event, self.stage = model, event, stage
        self.new, self.old, self.start, self.inputs = new, old, start, inputs
        self.errors: list[tuple[int, TriggerError]] = []
        self._received: dict[int, frozenset[int]] = {}
        self._positions: dict[int, int] | None = None
        self._by_identity: dict[int, int] | None = None
        self._by_pk: dict[Any, int] = {}

    def add(self, error: TriggerError, received: tuple[list[Any], ...]) -> None:
        """Record ``error`` for its row, which must be one of the ``received`` rows.

        Raises:
            ValueError: The row is not one the trigger method received.
            TypeError: In the commit stage, where the data is already committed.
        """
        if self.stage == "commit":
            raise TypeError(
                f"Trigger {error.trigger}.add_error() was called in on_commit_{self.event}: "
                "the data is committed and cannot be refused; refuse rows in the before "
                "stage (or the after stage, which rolls the operation back)."
            )
        key = id(received)
        ids = self._received.get(key)
        if ids is None:
            ids = self._received[key] = frozenset(id(row) for rows in received for row in rows)
        if id(error.row) not in ids:
            raise ValueError(
                f"Trigger {error.trigger}.add_error() was given {error.row!r}, which is not "
                f"one of the {self.model._meta.label} rows this {self.stage} {self.event} "
                "call received; pass a row from the method's new or old list."
            )
        self.errors.append((self._position(error.row), error))

    def _position(self, row: Any) -> int:
        if self._positions is None:
            positions: dict[int, int] = {}
            for rows in (self.old, self.new):  # new wins where a row is in both.
                positions.update((id(each), i) for i, each in enumerate(rows or ()))
            self._positions = positions
        return self._positions[id(row)]

    def raise_if_any(self) -> None:
        """Raise :class:`RowErrors` when a row was marked; otherwise do nothing."""
        if not self.errors:
            return
        rows: dict[int, RowError] = {}
        for position, error in self.errors:
            found = rows.get(position)
            if found is None:
                found = rows[position] = self._row_error(position)
            name = error.field or NON_FIELD_ERRORS
            found.errors.setdefault(name, []).append(error.as_validation_error())
        ordered = sorted(rows.values(), key=lambda row: (row.index is None, row.index or 0))
        raise RowErrors(ordered, self.model._meta.label, self.stage, self.event)

    def _row_error(self, position: int) -> RowError:
        row = (self.new if self.new is not None else self.old)[position]  # type: ignore[index]
        stored = self.old[position] if self.old is not None else row
        return RowError(self._index(position, row), stored.pk, row)

    def _index(self, position: int, row: Any) -> int | None:
        if self.inputs is None:
            return self.start + position
        if self._by_identity is None:  # Built once, and only when a row was marked.
            self._by_identity = {id(obj): i for i, obj in reversed(list(enumerate(self.inputs)))}
            self._by_pk = {obj.pk: i for i, obj in reversed(list(enumerate(self.inputs)))}
        found = self._by_identity.get(id(row))
        if found is None:  # A copy of the caller's object: the first with its key.
            found = self._by_pk.get((self.old[position] if self.old is not None else row).pk)
        return found
