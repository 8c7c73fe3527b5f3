"""Entry criteria for triggers: small objects composed with ``&``, ``|`` and ``~``.

Pure Python: a condition reads attributes of the instances it is given and never queries
the database itself. A ``ForeignKey`` is compared by its id (``order.customer_id``), so
checking a condition on a relation costs no query; a path into a related row
(``account__status``) reads the rows the dispatcher loaded for the chunk (see
:mod:`bulk_triggers.paths`).

This module holds the base class and its combinators (``&``, ``|``, ``~``); the
conditions on one field live in :mod:`bulk_triggers.field_conditions`, the comparisons
in :mod:`bulk_triggers.comparisons`, ``AnyChange``/``AllChange`` in
:mod:`bulk_triggers.changes`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db.models import Q

if TYPE_CHECKING:
    from bulk_triggers.pushdown import Planned, Pushdown

__all__ = ["And", "Condition", "Not", "Or"]


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
        library does not use it: it ignores what the operation writes. The pushdown of
        conditions into ``update()`` and ``delete()`` uses :meth:`pushdown`.
        """
        return None

    def pushdown(self, planned: Planned) -> Pushdown | None:
        """Return this condition's SQL form for the operation ``planned`` describes, or None.

        A :class:`~bulk_triggers.pushdown.Pushdown` holds a filter on the stored rows that
        every row able to pass matches, and says whether it matches exactly those (only
        an exact form can be negated by ``~``). ``planned`` tells what the operation will
        store in each field and builds NULL-safe tests on the stored row. When every
        active trigger's condition has a form, rows that pass none are written by
        Django's plain statement without being loaded; ``check()`` still decides for
        the rows that are. ``None`` (the default): the condition runs in Python only.
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

    def pushdown(self, planned: Planned) -> Pushdown | None:
        if type(self).check is not And.check:
            return None  # A subclass deciding otherwise has no form of its own.
        left, right = self.left.pushdown(planned), self.right.pushdown(planned)
        if left is None or right is None:
            # Either side alone still rules rows out, as a superset of those passing.
            alone = left or right
            return None if alone is None else alone.inexact()
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

    def pushdown(self, planned: Planned) -> Pushdown | None:
        if type(self).check is not Or.check:
            return None
        left, right = self.left.pushdown(planned), self.right.pushdown(planned)
        for side in (left, right):
            if side is not None and side.const is True:
                return side  # True whatever the other side is.
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

    def pushdown(self, planned: Planned) -> Pushdown | None:
        if type(self).check is not Not.check:
            return None
        inner = self.inner.pushdown(planned)
        return None if inner is None else ~inner  # None unless the inner form is exact.

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
