"""Ready-made guards: generic triggers to subclass, per model, in your ``triggers.py``.

Each refuses rows with ``add_error()``, so one operation reports every refused row, and
forms and the admin (with :mod:`bulk_triggers.contrib.admin`) show the messages on the
field. Each is configured with class attributes, checked where the subclass is defined::

    class KeepPlacedOrders(Protect[Order]):
        events = ("delete",)
        condition = IsEqual("status", "placed")  # optional: which rows are protected

    class FrozenReference(ReadOnly[Order]):
        fields = ("reference",)

    class OrderWorkflow(Transitions[Order]):
        field = "status"
        allowed = {"draft": {"placed"}, "placed": {"shipped", "cancelled"}}

    class CleanOrders(FullClean[Order]):
        pass
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any, ClassVar, TypeVar, get_args

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import models

from bulk_triggers import Condition, HasChanged, Trigger, TriggerDefinitionError
from bulk_triggers.trigger import EVENTS

__all__ = ["FullClean", "Protect", "ReadOnly", "Transitions"]

M = TypeVar("M", bound=models.Model)


def _binds_model(cls: type) -> bool:
    """Return whether ``cls`` names a model (``Guard[Order]``) or inherits one."""
    for base in cls.__dict__.get("__orig_bases__", ()):
        if any(isinstance(a, type) and issubclass(a, models.Model) for a in get_args(base)):
            return True
    return any(getattr(base, "model", None) is not None for base in cls.__mro__[1:])


def _name(row: models.Model) -> str:
    """Return ``"app.Model 12"`` (``"app.Model (new)"`` before its insert)."""
    label = row._meta.label
    return f"{label} {row.pk}" if row.pk is not None else f"{label} (new)"


def _with_change_of(cls: Any, fields: Collection[str]) -> None:
    """Make ``cls.condition`` the class's own condition and a change to any of ``fields``.

    The rows that change none of them reach the guard not at all.
    """
    own = cls.__dict__.get("condition", getattr(cls, "_own_condition", None))
    cls._own_condition = own
    changed: Condition | None = None
    for name in fields:
        changed = HasChanged(name) if changed is None else changed | HasChanged(name)
    cls.condition = changed if own is None else own & changed


class Protect(Trigger[M]):
    """Refuse every row of the chosen ``events`` (``"create"``, ``"update"``, ``"delete"``).

    A ``condition`` narrows the refusal to the rows that pass it.

    Attributes:
        events: The refused events; ``("delete",)`` unless set.
        message: The error's text, formatted with ``row`` (``"app.Model 12"``) and
            ``event``.
    """

    events: ClassVar[tuple[str, ...]] = ("delete",)
    message: ClassVar[str] = "{row}: {event} is not allowed."

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        events = cls.events
        if isinstance(events, str) or not events or not set(events) <= set(EVENTS):
            raise TriggerDefinitionError(
                f"Trigger {cls.label}.events must be a non-empty tuple of {EVENTS}, got {events!r}."
            )
        if "create" in events:
            cls.on_before_create = Protect._refuse_new  # type: ignore[assignment]
        if "update" in events:
            cls.on_before_update = Protect._refuse_new  # type: ignore[assignment]
        if "delete" in events:
            cls.on_before_delete = Protect._refuse_old  # type: ignore[assignment]

    def _refuse_new(self, new: list[M], old: list[M] | None = None) -> None:
        event = "create" if old is None else "update"
        rows = new if old is None else old
        for row, named in zip(new, rows, strict=True):
            self.add_error(
                row, self.message.format(row=_name(named), event=event), code="protected"
            )

    def _refuse_old(self, old: list[M]) -> None:
        for row in old:
            self.add_error(
                row, self.message.format(row=_name(row), event="delete"), code="protected"
            )


class ReadOnly(Trigger[M]):
    """Refuse changes to the named ``fields`` (by ``save()``, ``bulk_update()``, ``update()``).

    Setting a field when the row is created is allowed. A ``condition`` narrows the
    guard to the rows that pass it (``WasEqual("status", "placed")``: read-only once
    placed).

    Attributes:
        fields: The protected fields' names.
    """

    fields: ClassVar[tuple[str, ...]] = ()
    message: ClassVar[str] = (
        "{row}: {field} is read-only; it cannot change from {old!r} to {new!r}."
    )

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        fields = cls.fields
        if isinstance(fields, str) or not all(isinstance(f, str) for f in fields):
            raise TriggerDefinitionError(
                f"Trigger {cls.label}.fields must be a tuple of field names, got {fields!r}."
            )
        if not fields:
            if _binds_model(cls):
                raise TriggerDefinitionError(
                    f"Trigger {cls.label} protects no field: set fields = ('name', ...)."
                )
            return
        _with_change_of(cls, fields)

    def on_before_update(self, new: list[M], old: list[M]) -> None:
        if not self.fields:
            return
        opts = new[0]._meta
        attnames = [(name, opts.get_field(name).attname) for name in self.fields]  # type: ignore[union-attr]
        for row, stored in zip(new, old, strict=True):
            for name, attname in attnames:
                before, after = getattr(stored, attname), getattr(row, attname)
                if before != after:
                    message = self.message.format(
                        row=_name(stored), field=name, old=before, new=after
                    )
                    self.add_error(row, message, field=name, code="read_only")


class Transitions(Trigger[M]):
    """Allow only the listed changes of ``field``: ``allowed`` maps a value to its successors.

    A value missing from ``allowed`` may not change at all. With ``initial`` set, a row
    must also be created with one of those values.

    Attributes:
        field: The field whose changes are checked.
        allowed: ``{"draft": {"placed"}, "placed": {"shipped", "cancelled"}}``.
        initial: The values a new row may have; any, when None.
    """

    field: ClassVar[str] = ""
    allowed: ClassVar[Mapping[Any, Collection[Any]]] = {}
    initial: ClassVar[Collection[Any] | None] = None
    message: ClassVar[str] = "{row}: {field} cannot change from {old!r} to {new!r}."
    initial_message: ClassVar[str] = "{row}: {field} cannot start as {new!r}."

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.field:
            if _binds_model(cls):
                raise TriggerDefinitionError(
                    f"Trigger {cls.label}.field must name the field whose changes are checked."
                )
            return
        allowed = cls.allowed
        if not isinstance(allowed, Mapping) or any(
            isinstance(targets, str) or not isinstance(targets, Collection)
            for targets in allowed.values()
        ):
            raise TriggerDefinitionError(
                f"Trigger {cls.label}.allowed must map each value to a set of the values it "
                f"may change to, such as {{'draft': {{'placed'}}}}; got {allowed!r}."
            )
        _with_change_of(cls, (cls.field,))
        if cls.initial is not None:
            cls.on_before_create = Transitions._check_initial  # type: ignore[assignment]

    def on_before_update(self, new: list[M], old: list[M]) -> None:
        if not self.field:
            return
        attname = new[0]._meta.get_field(self.field).attname  # type: ignore[union-attr]
        for row, stored in zip(new, old, strict=True):
            before, after = getattr(stored, attname), getattr(row, attname)
            if before != after and after not in self.allowed.get(before, ()):
                message = self.message.format(
                    row=_name(stored), field=self.field, old=before, new=after
                )
                self.add_error(row, message, field=self.field, code="invalid_transition")

    def _check_initial(self, new: list[M]) -> None:
        attname = new[0]._meta.get_field(self.field).attname  # type: ignore[union-attr]
        for row in new:
            value = getattr(row, attname)
            if value not in self.initial:  # type: ignore[operator]
                message = self.initial_message.format(row=_name(row), field=self.field, new=value)
                self.add_error(row, message, field=self.field, code="invalid_transition")


class FullClean(Trigger[M]):
    """Run ``full_clean()`` on every created and updated row, in the before stage.

    Every row's errors are reported (through ``add_error()``, Django's own messages and
    codes, on their fields), so a bulk operation lists all invalid rows at once. Django's
    validation queries: a foreign key costs a query per row, ``validate_unique`` one per
    unique field and row; turn off what a bulk load does not need.

    Attributes:
        exclude: Fields ``full_clean()`` skips.
        validate_unique: Passed to ``full_clean()``.
        validate_constraints: Passed to ``full_clean()``.
    """

    exclude: ClassVar[tuple[str, ...]] = ()
    validate_unique: ClassVar[bool] = True
    validate_constraints: ClassVar[bool] = True

    def on_before_create(self, new: list[M]) -> None:
        self._clean(new)

    def on_before_update(self, new: list[M], old: list[M]) -> None:
        self._clean(new)

    def _clean(self, rows: list[M]) -> None:
        for row in rows:
            try:
                row.full_clean(
                    exclude=self.exclude or None,
                    validate_unique=self.validate_unique,
                    validate_constraints=self.validate_constraints,
                )
            except ValidationError as refused:
                for name, errors in refused.error_dict.items():
                    for error in errors:
                        for message in error.messages:
                            self.add_error(
                                row,
                                message,
                                field=None if name == NON_FIELD_ERRORS else name,
                                code=error.code,
                            )
