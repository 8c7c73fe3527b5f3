"""Entry criteria for triggers: small objects composed with ``&``, ``|`` and ``~``.

Pure Python: a condition reads attributes of the instances it is given and never queries
the database itself. A ``ForeignKey`` is compared by its id (``order.customer_id``), so
checking a condition on a relation costs no query; a path into a related row
(``account__status``) reads the rows the dispatcher loaded for the chunk (see
:mod:`bulk_triggers.paths`). The comparisons live in :mod:`bulk_triggers.comparisons`,
``AnyChange``/``AllChange`` in :mod:`bulk_triggers.changes`.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.db import models
from django.db.models import Q

from bulk_triggers.paths import SEPARATOR, hops, read
from bulk_triggers.snapshot import attname

__all__ = [
    "ChangesFrom",
    "ChangesTo",
    "Condition",
    "FieldCondition",
    "HasChanged",
    "IsEqual",
    "IsNotEqual",
    "WasEqual",
]


class Condition:
    """Decide, for one row, whether a trigger runs for it.

    Subclass it and implement :meth:`check` for a custom condition; name the fields it
    reads in :meth:`field_names` so that typos are reported at class definition (and
    paths such as ``"account__status"`` are loaded once per chunk before it runs).
    ``repr()`` shows the class and the arguments its constructor was called with.
    """

    _args: tuple[Any, ...] = ()
    _kwargs: dict[str, Any] = {}  # Replaced per instance, never mutated.

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        instance = super().__new__(cls)
        # Kept for the default repr(): a custom condition need not write one.
        instance._args, instance._kwargs = args, kwargs
        return instance

    def check(self, new: Any, old: Any) -> bool:
        """Return whether the row passes.

        Args:
            new: The instance as it will be (or was) written; ``None`` on delete.
            old: The stored row before the operation; ``None`` on create.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement check(new, old).")

    def field_names(self) -> tuple[str, ...]:
        """Return the model fields and paths this condition reads, for validation and loading."""
        return ()

    def as_q(self, event: str) -> Q | None:
        """Return a filter on the stored rows that every row able to pass matches, or None.

        A hook for pushing conditions down into the SELECT of the rows an ``update()`` or
        ``delete()`` (``event``) loads: a stored row outside the filter could not pass.
        ``None`` (the default) means the condition cannot be expressed that way. The
        library does not use it yet.
        """
        return None

    def __repr__(self) -> str:
        arguments = [repr(value) for value in self._args]
        arguments += [f"{name}={value!r}" for name, value in self._kwargs.items()]
        return f"{type(self).__name__}({', '.join(arguments)})"

    def __and__(self, other: Condition) -> Condition:
        return And(self, _require_condition(other, "&"))

    def __or__(self, other: Condition) -> Condition:
        return Or(self, _require_condition(other, "|"))

    def __invert__(self) -> Condition:
        return Not(self)


def _require_condition(value: object, operator: str) -> Condition:
    if not isinstance(value, Condition):
        raise TypeError(
            f"Cannot combine a condition with {value!r} using {operator!r}: "
            "both sides must be Condition instances, such as HasChanged('status')."
        )
    return value


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


class ChangesTo(FieldCondition):
    """True when the field becomes ``value``; on create, when it is inserted as ``value``."""

    def check(self, new: Any, old: Any) -> bool:
        if new is None:
            return False
        wanted = self.wanted(type(new))
        if value_at(new, self.field) != wanted:
            return False
        return old is None or value_at(old, self.field) != wanted


class ChangesFrom(FieldCondition):
    """True when the field was ``value`` and is no longer; never on create or delete."""

    _lookup = "exact"
    _reads = "old"

    def check(self, new: Any, old: Any) -> bool:
        if new is None or old is None:
            return False
        wanted = self.wanted(type(old))
        return bool(value_at(old, self.field) == wanted and value_at(new, self.field) != wanted)

    def as_q(self, event: str) -> Q | None:
        return None if event == "delete" else super().as_q(event)


class IsEqual(FieldCondition):
    """True when the row's field equals ``value`` (on delete: the deleted row's)."""

    _lookup: ClassVar[str | None] = "exact"

    def check(self, new: Any, old: Any) -> bool:
        row = old if new is None else new
        return bool(value_at(row, self.field) == self.wanted(type(row)))


class IsNotEqual(IsEqual):
    """True when the row's field differs from ``value``: exactly ``~IsEqual(field, value)``."""

    _lookup: ClassVar[str | None] = None  # SQL's <> leaves NULLs out; Python's != keeps them.

    def check(self, new: Any, old: Any) -> bool:
        return not super().check(new, old)


class WasEqual(FieldCondition):
    """True when the stored field equalled ``value`` before the operation; false on create."""

    _lookup = "exact"
    _reads = "old"

    def check(self, new: Any, old: Any) -> bool:
        return old is not None and bool(value_at(old, self.field) == self.wanted(type(old)))


class And(Condition):
    """Both conditions hold."""

    def __init__(self, left: Condition, right: Condition) -> None:
        self.left, self.right = left, right

    def check(self, new: Any, old: Any) -> bool:
        return self.left.check(new, old) and self.right.check(new, old)

    def field_names(self) -> tuple[str, ...]:
        return self.left.field_names() + self.right.field_names()

    def as_q(self, event: str) -> Q | None:
        left, right = self.left.as_q(event), self.right.as_q(event)
        if left is None or right is None:
            return left or right  # Either side alone still rules rows out.
        return left & right

    def __repr__(self) -> str:
        return f"{_operand(self.left, And)} & {_operand(self.right, And)}"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and (self.left, self.right) == (other.left, other.right)

    def __hash__(self) -> int:
        return hash((type(self), self.left, self.right))


class Or(And):
    """Either condition holds."""

    def check(self, new: Any, old: Any) -> bool:
        return self.left.check(new, old) or self.right.check(new, old)

    def as_q(self, event: str) -> Q | None:
        left, right = self.left.as_q(event), self.right.as_q(event)
        return None if left is None or right is None else left | right

    def __repr__(self) -> str:
        return f"{_operand(self.left, Or)} | {_operand(self.right, Or)}"


class Not(Condition):
    """The condition does not hold."""

    def __init__(self, inner: Condition) -> None:
        self.inner = inner

    def check(self, new: Any, old: Any) -> bool:
        return not self.inner.check(new, old)

    def field_names(self) -> tuple[str, ...]:
        return self.inner.field_names()

    def __repr__(self) -> str:
        return f"~{_operand(self.inner, Not)}"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self.inner == other.inner

    def __hash__(self) -> int:
        return hash((type(self), self.inner))


def _operand(condition: Condition, parent: type[Condition]) -> str:
    """Render an operand, parenthesised where Python's precedence would need it."""
    needs_parens = isinstance(condition, (And, Or)) and type(condition) is not parent
    return f"({condition!r})" if needs_parens else repr(condition)
