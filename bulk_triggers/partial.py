"""Partial success, opt-in: write the rows no trigger (or constraint) refuses, report the rest.

``partial(Order.objects).bulk_create(objs)`` is Salesforce's
``Database.insert(records, false)``: rows marked with ``add_error()`` are left out and the
others are written, with their triggers; the result has one :class:`Outcome` per input
row. Each attempt runs in a savepoint. When it fails (``RowErrors`` from the before or
after stage), the marked rows are dropped and the survivors are tried again, at most
``retries`` times; a failure that names no row (an ``IntegrityError``, a plain
``ValidationError``), or more failures than that, makes the rest go one row at a time,
each in its own savepoint, so that exactly the failing rows are left out. A rolled-back
attempt leaves nothing behind: neither rows, nor its commit-stage calls.

Nothing changes for the operations themselves: this module only calls them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import DatabaseError, models, router, transaction

from bulk_triggers.errors import RowErrors

__all__ = ["Outcome", "Partial", "Results", "partial"]

M = TypeVar("M", bound=models.Model)


@dataclass
class Outcome:
    """What became of one input row.

    Attributes:
        index: The row's position in the input (``objs``, or the queryset's rows in
            primary key order).
        obj: The caller's object (``bulk_create``/``bulk_update``), or the primary key
            (``update``/``delete``).
        written: Whether the row was written.
        errors: Why not: messages by field (``NON_FIELD_ERRORS`` for the row).
    """

    index: int
    obj: Any
    written: bool = False
    errors: dict[str, list[str]] = field(default_factory=dict)


class Results(list[Outcome]):
    """One :class:`Outcome` per input row, in input order."""

    @property
    def written(self) -> list[Any]:
        """Return the objects (or primary keys) that were written."""
        return [outcome.obj for outcome in self if outcome.written]

    @property
    def failed(self) -> list[Outcome]:
        """Return the outcomes of the rows left out."""
        return [outcome for outcome in self if not outcome.written]


def partial(target: Any, *, retries: int = 2) -> Partial[Any]:
    """Return the partial-success twin of a manager's or queryset's bulk writes.

    Args:
        target: A manager or queryset whose operations run the triggers.
        retries: How many times the survivors of a failed attempt are tried together
            before the rest goes one row at a time.
    """
    return Partial(target.all(), retries)


class Partial(Generic[M]):
    """``bulk_create``, ``bulk_update``, ``update`` and ``delete`` with partial success."""

    def __init__(self, queryset: models.QuerySet[M], retries: int) -> None:
        if not isinstance(retries, int) or retries < 0:
            raise ValueError(f"retries must be a non-negative integer, got {retries!r}.")
        self.queryset = queryset
        self.retries = retries
        self.using = queryset._db or router.db_for_write(queryset.model)  # type: ignore[attr-defined]

    def bulk_create(self, objs: Iterable[M], **options: Any) -> Results:
        """Insert the rows that are not refused; return one outcome per object."""
        items = list(objs)
        queryset = self.queryset

        def write(chosen: list[int]) -> None:
            queryset.bulk_create([items[i] for i in chosen], **options)

        return self._run(items, write, lambda error, chosen: _by_index(error, chosen))

    def bulk_update(self, objs: Iterable[M], fields: Sequence[str], **options: Any) -> Results:
        """Update the rows that are not refused; return one outcome per object."""
        items = list(objs)
        queryset = self.queryset

        def write(chosen: list[int]) -> None:
            queryset.bulk_update([items[i] for i in chosen], fields, **options)

        return self._run(items, write, lambda error, chosen: _by_index(error, chosen))

    def update(self, **values: Any) -> Results:
        """Update the queryset's rows that are not refused; one outcome per row, by key."""
        pks = list(self.queryset.using(self.using).order_by("pk").values_list("pk", flat=True))
        queryset = self.queryset.using(self.using)

        def write(chosen: list[int]) -> None:
            queryset.filter(pk__in=[pks[i] for i in chosen]).update(**values)

        return self._run(pks, write, _by_pk(pks))

    def delete(self) -> Results:
        """Delete the queryset's rows that are not refused; one outcome per row, by key."""
        pks = list(self.queryset.using(self.using).order_by("pk").values_list("pk", flat=True))
        queryset = self.queryset.using(self.using)

        def write(chosen: list[int]) -> None:
            queryset.filter(pk__in=[pks[i] for i in chosen]).delete()

        return self._run(pks, write, _by_pk(pks))

    def _run(
        self,
        items: list[Any],
        write: Callable[[list[int]], None],
        refused: Callable[[RowErrors, list[int]], dict[int, dict[str, list[str]]] | None],
    ) -> Results:
        results = Results(Outcome(index, item) for index, item in enumerate(items))
        chosen = list(range(len(items)))
        label = self.queryset.model._meta.label
        with transaction.atomic(using=self.using):
            for _ in range(self.retries + 1):
                if not chosen:
                    return results
                failure = self._attempt(write, chosen, items)
                if failure is None:
                    return _written(results, chosen)
                marked = (
                    refused(failure, chosen)
                    if isinstance(failure, RowErrors) and failure.model == label
                    else None
                )
                if not marked:
                    break
                for index, errors in marked.items():
                    results[index].errors = errors
                chosen = [index for index in chosen if index not in marked]
            for index in chosen:  # One at a time: exactly the failing rows are left out.
                failure = self._attempt(write, [index], items)
                if failure is None:
                    results[index].written = True
                else:
                    results[index].errors = _messages(failure)
        return results

    def _attempt(
        self, write: Callable[[list[int]], None], chosen: list[int], items: list[Any]
    ) -> Exception | None:
        """Write ``chosen`` in a savepoint; return the failure, rolled back, or None."""
        states = [_state(items[i]) for i in chosen]
        try:
            with transaction.atomic(using=self.using):
                write(chosen)
        except (ValidationError, DatabaseError) as failure:
            for index, state in zip(chosen, states, strict=True):
                _restore(items[index], state)
            return failure
        return None


def _written(results: Results, chosen: list[int]) -> Results:
    for index in chosen:
        results[index].written = True
    return results


def _by_index(error: RowErrors, chosen: list[int]) -> dict[int, dict[str, list[str]]] | None:
    """Map the refused rows of an attempt over ``chosen`` back to input positions."""
    marked: dict[int, dict[str, list[str]]] = {}
    for row in error.rows:
        if row.index is None or row.index >= len(chosen):
            return None
        marked[chosen[row.index]] = row.message_dict
    return marked


def _by_pk(
    pks: list[Any],
) -> Callable[[RowErrors, list[int]], dict[int, dict[str, list[str]]] | None]:
    positions = {pk: index for index, pk in enumerate(pks)}

    def refused(error: RowErrors, chosen: list[int]) -> dict[int, dict[str, list[str]]] | None:
        marked = {positions.get(row.pk): row.message_dict for row in error.rows}
        return None if None in marked else marked  # type: ignore[return-value]

    return refused


def _messages(failure: Exception) -> dict[str, list[str]]:
    if isinstance(failure, ValidationError):
        if hasattr(failure, "error_dict"):
            return failure.message_dict
        return {NON_FIELD_ERRORS: failure.messages}
    return {NON_FIELD_ERRORS: [str(failure)]}


def _state(item: Any) -> tuple[Any, ...] | None:
    """Return what a rolled-back insert must not leave on an object: its key and state."""
    if not isinstance(item, models.Model):
        return None
    return (item.pk, item._state.adding, item._state.db)


def _restore(item: Any, state: tuple[Any, ...] | None) -> None:
    if state is None:
        return
    pk, item._state.adding, item._state.db = state
    item.pk = pk
