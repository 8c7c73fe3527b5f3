"""Entry criteria for triggers: small objects composed with ``&``, ``|`` and ``~``.

Pure Python: a condition reads attributes of the instances it is given and never queries
the database. A ``ForeignKey`` is compared by its id (``order.customer_id``), so checking a
condition on a relation costs no query.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.db import models

from bulk_triggers.snapshot import attname

__all__ = [
    "ChangesFrom",
    "ChangesTo",
    "Condition",
    "HasChanged",
    "IsEqual",
    "WasEqual",
]


class Condition:
    """Decide, for one row, whether a trigger runs for it.

    Subclass it and implement :meth:`check` for a custom condition; name the fields it
    reads in :meth:`field_names` so that typos are reported at class definition.
    """

    def check(self, new: Any, old: Any) -> bool:
        """Return whether the row passes.

        Args:
            new: The instance as it will be (or was) written; ``None`` on delete.
            old: The stored row before the operation; ``None`` on create.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement check(new, old).")

    def field_names(self) -> tuple[str, ...]:
        """Return the model fields this condition reads, for validation only."""
        return ()

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


def _value(instance: models.Model, name: str) -> Any:
    return getattr(instance, attname(type(instance), name))


def _field(model: type[Any], name: str) -> Any:
    try:
        return model._meta.get_field(name)
    except (AttributeError, FieldDoesNotExist):
        return None


def _comparable(value: Any) -> Any:
    """Compare a related instance by its primary key, as a ForeignKey is stored."""
    return value.pk if isinstance(value, models.Model) else value


class FieldCondition(Condition):
    """A condition about one field; the base of the built-in conditions."""

    _has_value = True

    def __init__(self, field: str, *args: Any) -> None:
        if not isinstance(field, str) or not field:
            raise TypeError(
                f"{type(self).__name__}() takes a field name as its first argument, got {field!r}."
            )
        expected = 1 if self._has_value else 0
        if len(args) != expected:
            shape = "(field, value)" if self._has_value else "(field)"
            raise TypeError(f"{type(self).__name__} takes {shape}, got {len(args) + 1} arguments.")
        self.field = field
        self.value = _comparable(args[0]) if args else None
        self._related = args[0] if args and isinstance(args[0], models.Model) else None

    def _wanted(self, row: Any) -> Any:
        """Return ``value`` as ``row`` stores it: a ``to_field`` key holds that field."""
        if self._related is None:
            return self.value
        target = getattr(_field(type(row), self.field), "target_field", None)
        return self.value if target is None else getattr(self._related, target.attname)

    def field_names(self) -> tuple[str, ...]:
        return (self.field,)

    def __repr__(self) -> str:
        if self._has_value:
            return f"{type(self).__name__}({self.field!r}, {self.value!r})"
        return f"{type(self).__name__}({self.field!r})"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self.field == other.field and self.value == other.value

    def __hash__(self) -> int:
        return hash((type(self), self.field, repr(self.value)))


class HasChanged(FieldCondition):
    """True when the field's value differs from the stored one; always true on create."""

    _has_value = False

    def check(self, new: Any, old: Any) -> bool:
        if new is None:
            return False
        if old is None:
            return True
        return bool(_value(new, self.field) != _value(old, self.field))


class ChangesTo(FieldCondition):
    """True when the field becomes ``value``; on create, when it is inserted as ``value``."""

    def check(self, new: Any, old: Any) -> bool:
        if new is None or _value(new, self.field) != self._wanted(new):
            return False
        return old is None or _value(old, self.field) != self._wanted(old)


class ChangesFrom(FieldCondition):
    """True when the field was ``value`` and is no longer; never on create or delete."""

    def check(self, new: Any, old: Any) -> bool:
        if new is None or old is None:
            return False
        wanted = self._wanted(old)
        return bool(_value(old, self.field) == wanted and _value(new, self.field) != wanted)


class IsEqual(FieldCondition):
    """True when the row's field equals ``value`` (on delete: the deleted row's)."""

    def check(self, new: Any, old: Any) -> bool:
        row = old if new is None else new
        return bool(_value(row, self.field) == self._wanted(row))


class WasEqual(FieldCondition):
    """True when the stored field equalled ``value`` before the operation; false on create."""

    def check(self, new: Any, old: Any) -> bool:
        return old is not None and bool(_value(old, self.field) == self._wanted(old))


class And(Condition):
    """Both conditions hold."""

    def __init__(self, left: Condition, right: Condition) -> None:
        self.left, self.right = left, right

    def check(self, new: Any, old: Any) -> bool:
        return self.left.check(new, old) and self.right.check(new, old)

    def field_names(self) -> tuple[str, ...]:
        return self.left.field_names() + self.right.field_names()

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
