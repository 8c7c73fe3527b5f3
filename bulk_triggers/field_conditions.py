"""The conditions on one field (or path): ``HasChanged``, ``ChangesTo``, ``IsEqual`` and kin.

A ``ForeignKey`` is compared by its id (``order.customer_id``), so checking a condition
on a relation costs no query; a path into a related row (``account__status``) reads the
rows the dispatcher loaded for the chunk (see :mod:`bulk_triggers.paths`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from django.db import models
from django.db.models import Q

from bulk_triggers.conditions import Condition
from bulk_triggers.paths import SEPARATOR, hops, read
from bulk_triggers.pushdown import Pushdown
from bulk_triggers.snapshot import attname

if TYPE_CHECKING:
    from bulk_triggers.pushdown import Planned

__all__ = [
    "ChangesFrom",
    "ChangesTo",
    "FieldCondition",
    "HasChanged",
    "IsEqual",
    "IsNotEqual",
    "WasEqual",
    "comparable",
    "expected",
    "value_at",
]


def value_at(instance: models.Model, name: str) -> Any:
    """Return the value a condition compares: a field's (a relation's id) or a path's."""
    if SEPARATOR in name:
        return read(instance, name)
    return getattr(instance, attname(type(instance), name))


def comparable(value: Any) -> Any:
    """Compare a related instance by its primary key, as a ForeignKey usually stores."""
    return value.pk if isinstance(value, models.Model) else value


def expected(model: type[models.Model], name: str, value: Any) -> Any:
    """Return what ``value`` compares as against the field ``name`` of ``model``.

    A model instance compares as the key the relation stores: its primary key, or the
    field a ``to_field`` relation points to.
    """
    if not isinstance(value, models.Model):
        return value
    relations, last = hops(model, name)
    field = (relations[-1].related_model if relations else model)._meta.get_field(last)
    target = getattr(field, "target_field", None)
    return value.pk if target is None else getattr(value, target.attname)


class FieldCondition(Condition):
    """A condition about one field (or path); the base of the built-in conditions.

    Subclasses say which row they read (``_reads``: ``"row"`` for ``new``, the deleted
    row on delete; ``"old"`` for the stored row) and, for :meth:`as_q`, which lookup
    expresses them on the stored row.
    """

    _has_value = True
    _reads = "row"
    _lookup: ClassVar[str | None] = None

    def __init__(self, field: str, *args: Any) -> None:
        if not isinstance(field, str) or not field:
            raise TypeError(
                f"{type(self).__name__}() takes a field name as its first argument, got {field!r}."
            )
        expected_count = 1 if self._has_value else 0
        if len(args) != expected_count:
            shape = "(field, value)" if self._has_value else "(field)"
            raise TypeError(f"{type(self).__name__} takes {shape}, got {len(args) + 1} arguments.")
        self.field = field
        self._raw = args[0] if args else None
        self.value = comparable(self._raw)
        self._wanted: dict[type[models.Model], Any] = {}

    def field_names(self) -> tuple[str, ...]:
        return (self.field,)

    def row(self, new: Any, old: Any) -> Any:
        """Return the row this condition reads, or None when it has none."""
        if self._reads == "old":
            return old
        return old if new is None else new

    def wanted(self, model: type[models.Model]) -> Any:
        """Return the value to compare with, as the field of ``model`` stores it."""
        try:
            return self._wanted[model]
        except KeyError:
            value = self._wanted[model] = expected(model, self.field, self._raw)
            return value

    def as_q(self, event: str) -> Q | None:
        reads_stored = self._reads == "old" or event == "delete"
        if self._lookup is None or not reads_stored or event == "create":
            return None
        return Q(**{f"{self.field}__{self._lookup}": self._raw})

    def _pushable(self, planned: Planned, owner: type[FieldCondition]) -> bool:
        """Return whether ``owner``'s SQL form applies: its ``check()``, a field of the row.

        A subclass that overrides ``check()`` or ``wanted()`` decides differently, and
        has no form unless it writes one.
        """
        kind = type(self)
        return (
            kind.check is owner.check
            and kind.wanted is FieldCondition.wanted
            and planned.field(self.field) is not None
            and planned.event in ("update", "delete")
        )

    def _key(self) -> tuple[Any, ...]:
        return (self.field, self.value) if self._has_value else (self.field,)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(map(repr, self._key()))})"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash((type(self), repr(self._key())))


class HasChanged(FieldCondition):
    """True when the field's value differs from the stored one; always true on create."""

    _has_value = False

    def check(self, new: Any, old: Any) -> bool:
        if new is None:
            return False
        if old is None:
            return True
        return bool(value_at(new, self.field) != value_at(old, self.field))

    def pushdown(self, planned: Planned) -> Pushdown | None:
        if not self._pushable(planned, HasChanged):
            return None
        if planned.event == "delete" or not planned.written(self.field):
            return Pushdown.never()  # new is None, or new holds the stored value.
        known, target = planned.target(self.field)
        same = planned.equals(self.field, target) if known else None
        return None if same is None else ~same


class ChangesTo(FieldCondition):
    """True when the field becomes ``value``; on create, when it is inserted as ``value``."""

    def check(self, new: Any, old: Any) -> bool:
        if new is None:
            return False
        wanted = self.wanted(type(new))
        if value_at(new, self.field) != wanted:
            return False
        return old is None or value_at(old, self.field) != wanted

    def pushdown(self, planned: Planned) -> Pushdown | None:
        if not self._pushable(planned, ChangesTo):
            return None
        if planned.event == "delete" or not planned.written(self.field):
            return Pushdown.never()
        known, target = planned.target(self.field)
        if not known:
            return None
        wanted = self.wanted(planned.model)
        if target != wanted:
            return Pushdown.never()
        was = planned.equals(self.field, wanted)
        return None if was is None else ~was


class ChangesFrom(FieldCondition):
    """True when the field was ``value`` and is no longer; never on create or delete."""

    _lookup = "exact"
    _reads = "old"

    def check(self, new: Any, old: Any) -> bool:
        if new is None or old is None:
            return False
        wanted = self.wanted(type(old))
        return bool(value_at(old, self.field) == wanted and value_at(new, self.field) != wanted)

    def pushdown(self, planned: Planned) -> Pushdown | None:
        if not self._pushable(planned, ChangesFrom):
            return None
        if planned.event == "delete" or not planned.written(self.field):
            return Pushdown.never()
        known, target = planned.target(self.field)
        if not known:
            return None
        wanted = self.wanted(planned.model)
        return Pushdown.never() if target == wanted else planned.equals(self.field, wanted)

    def as_q(self, event: str) -> Q | None:
        return None if event == "delete" else super().as_q(event)


class IsEqual(FieldCondition):
    """True when the row's field equals ``value`` (on delete: the deleted row's)."""

    _lookup: ClassVar[str | None] = "exact"

    def check(self, new: Any, old: Any) -> bool:
        row = old if new is None else new
        return bool(value_at(row, self.field) == self.wanted(type(row)))

    def pushdown(self, planned: Planned) -> Pushdown | None:
        if not self._pushable(planned, IsEqual):
            return None
        wanted = self.wanted(planned.model)
        if planned.event == "update" and planned.written(self.field):
            known, target = planned.target(self.field)
            return Pushdown.constant(bool(target == wanted)) if known else None
        return planned.equals(self.field, wanted)  # The stored value: unwritten, or deleted.


class IsNotEqual(IsEqual):
    """True when the row's field differs from ``value``: exactly ``~IsEqual(field, value)``."""

    _lookup: ClassVar[str | None] = None  # SQL's <> leaves NULLs out; Python's != keeps them.

    def check(self, new: Any, old: Any) -> bool:
        return not super().check(new, old)

    def pushdown(self, planned: Planned) -> Pushdown | None:
        if type(self).check is not IsNotEqual.check or type(self).wanted is not IsEqual.wanted:
            return None
        equal = IsEqual(self.field, self._raw).pushdown(planned)
        return None if equal is None else ~equal


class WasEqual(FieldCondition):
    """True when the stored field equalled ``value`` before the operation; false on create."""

    _lookup = "exact"
    _reads = "old"

    def check(self, new: Any, old: Any) -> bool:
        return old is not None and bool(value_at(old, self.field) == self.wanted(type(old)))

    def pushdown(self, planned: Planned) -> Pushdown | None:
        if not self._pushable(planned, WasEqual):
            return None
        return planned.equals(self.field, self.wanted(planned.model))
