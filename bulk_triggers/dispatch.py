"""The one dispatcher: run the stages of an operation's triggers around its write.

The ORM integration (``queryset.py``, ``models.py``) loads rows and performs writes; this
module decides which triggers run, with which rows, in which order, and what they
changed. It never writes to the database itself.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from django.db import models, transaction

from bulk_triggers import condition_rows, conf, observers, operation, paths, related, tasks
from bulk_triggers.call_guards import OldGuard, guard_depth, method_label
from bulk_triggers.conditions import Condition
from bulk_triggers.errors import CALL_ATTRIBUTE, StageErrors
from bulk_triggers.registry import registry
from bulk_triggers.scope import active, current_chain, enter, leave, running
from bulk_triggers.snapshot import clone
from bulk_triggers.trigger import TriggerMeta

logger = logging.getLogger("bulk_triggers")

Rows = Sequence[models.Model]


def triggers_for(model: type[models.Model], event: str) -> tuple[TriggerMeta, ...]:
    """Return the triggers that are active for ``event`` on ``model`` in this context."""
    found = registry.for_model(model, event)
    return active(found) if found else found


class Dispatch:
    """The trigger side of one operation on one model: its stages, chunk by chunk.

    Args:
        model: The model the operation goes through (a proxy keeps its own triggers).
        event: ``"create"``, ``"update"`` or ``"delete"``.
        using: The database alias of the operation.
        triggers: The active triggers, from :func:`triggers_for`; not empty.
        operation: The ORM call, for ``self.context`` (``"bulk_update"``, ``"save"`` …);
            the event's name by default.
        via: What caused the operation when it is not a direct call (``"cascade"``).
    """

    def __init__(
        self,
        model: type[models.Model],
        event: str,
        using: str,
        triggers: tuple[TriggerMeta, ...],
        *,
        operation: str | None = None,
        via: str | None = None,
    ) -> None:
        # The operation's state in its chain: context, re-entry counts, task numbers.
        self.state = _begin(model, event, using, operation or event, via)
        self.context = self.state.context
        self.model = model
        self.event = event
        self.using = using
        self.triggers = triggers
        self.has_before = any(("before", event) in t._methods for t in triggers)
        self.has_commit = any(("commit", event) in t._methods for t in triggers)
        self.protect_old = event != "create" and conf.flag("PROTECT_OLD")
        self.related = related.RelatedRows(using)
        self.paths = related.path_names([trigger.condition for trigger in triggers])
        # Where add_error() indexes come from: the caller's objects when the operation
        # reorders them (bulk_update), else the count of rows of the earlier chunks.
        self.inputs: Sequence[Any] | None = None
        self._start = self._next = 0
        guard_depth(model, event)

    def before(self, new: Rows | None, old: Rows | None) -> None:
        """Run the before stage; the rows may be changed in place.

        Raises:
            RowErrors: A trigger of the stage marked rows with ``add_error()``.
        """
        self._start = self._next
        self._next += len(new if new is not None else old or ())
        if self.paths:  # Before the chunk is written, for every stage to read.
            self.related.load(self.paths, [*(new or ()), *(old or ())])
        self._run("before", new, old)

    def after(self, new: Rows | None, old: Rows | None) -> None:
        """Run the after stage, then schedule the commit stage for the same rows.

        Raises:
            RowErrors: A trigger of the stage marked rows with ``add_error()``; the
                caller's transaction then undoes the write.
        """
        committing = self.has_commit
        # The commit stage gets the rows as written: copies taken before after triggers
        # (or the caller, once the operation returns) can change them.
        written_new = [clone(row) for row in new] if committing and new is not None else new
        written_old = [clone(row) for row in old] if committing and old is not None else old
        self._run("after", new, old)
        if not committing:
            return
        pending = [
            (trigger, args)
            for trigger in self.triggers
            if ("commit", self.event) in trigger._methods
            and (args := self._arguments(trigger, "commit", written_new, written_old)) is not None
        ]
        if pending:
            pending = tasks.hand_off(pending, self.event, self.using, self.state)
            transaction.on_commit(lambda: self._run_commit(pending), using=self.using)

    def _run(self, stage: str, new: Rows | None, old: Rows | None) -> None:
        # Every trigger of the stage runs, so that one pass reports every problem; rows
        # marked by add_error() are still passed on to the triggers after.
        errors: StageErrors | None = None
        for trigger in self.triggers:
            if (stage, self.event) not in trigger._methods:
                continue
            args = self._arguments(trigger, stage, new, old)
            if args is not None:
                if errors is None:
                    errors = StageErrors(
                        self.model, self.event, stage, new, old, self._start, self.inputs
                    )
                self._call(trigger, stage, args, errors)
        if errors is not None:
            errors.raise_if_any()

    def _run_commit(self, pending: list[tuple[TriggerMeta, tuple[list[Any], ...]]]) -> None:
        """Run the commit stage; one method's error is logged and does not stop the others.

        The transaction has committed: raising could undo nothing, and would cancel the
        commit-stage calls still to come (Django stops running on_commit callbacks).
        """
        refuse = StageErrors(self.model, self.event, "commit", None, None)
        for trigger, args in pending:
            try:
                self._call(trigger, "commit", args, refuse)
            except Exception:
                logger.exception(
                    "%s.on_commit_%s failed on %d %s row(s), database %r; the data is "
                    "committed and the remaining commit-stage methods still run",
                    trigger.label,
                    self.event,
                    len(args[0]),
                    self.model._meta.label,
                    self.using,
                )

    def _arguments(
        self, trigger: TriggerMeta, stage: str, new: Rows | None, old: Rows | None
    ) -> tuple[list[Any], ...] | None:
        """Return the method's arguments: the rows passing the condition, or None if none do.

        The rows of the before and after stages get the trigger's declared preloads.
        """
        condition = trigger.condition
        count = len(new if new is not None else old)  # type: ignore[arg-type]
        if condition is None:
            indexes: Sequence[int] = range(count)
        else:
            indexes = self._passing(trigger, stage, condition, new, old, count)
        if trigger.max_reentry is not None:
            indexes = self.state.admit(
                trigger,
                stage,
                self.event,
                indexes,
                new if new is not None else old,  # type: ignore[arg-type]
            )
        if not indexes:
            return None
        if self.event == "create":
            args: tuple[list[Any], ...] = ([new[i] for i in indexes],)  # type: ignore[index]
        elif self.event == "delete":
            args = ([old[i] for i in indexes],)  # type: ignore[index]
        else:
            args = ([new[i] for i in indexes], [old[i] for i in indexes])  # type: ignore[index]
        if stage != "commit":  # Commit-stage rows are copies made after the after stage.
            related.prepare(trigger, args)
        return args

    def _passing(
        self,
        trigger: TriggerMeta,
        stage: str,
        condition: Condition,
        new: Rows | None,
        old: Rows | None,
        count: int,
    ) -> list[int]:
        """Return the indexes of the rows that pass ``condition``, reading paths loaded once."""
        try:
            if any(paths.SEPARATOR in name for name in condition.field_names()):
                loaded = self.related.load(condition.field_names(), [*(new or ()), *(old or ())])
                with paths.reading(loaded or {}):
                    return _select(condition, new, old, count)
            return _select(condition, new, old, count)
        except Exception as exc:
            if hasattr(exc, "add_note"):
                exc.add_note(
                    f"raised by the condition {condition!r} of trigger {trigger.label} "
                    f"({stage} stage of {self.event} on {self.model._meta.label})"
                )
            raise

    def _call(
        self, trigger: TriggerMeta, stage: str, args: tuple[list[Any], ...], errors: StageErrors
    ) -> None:
        label = method_label(trigger, stage, self.event)
        method = trigger._methods[(stage, self.event)]
        debug = logger.isEnabledFor(logging.DEBUG)
        started = time.perf_counter() if debug else 0.0
        watching = observers.current()
        guard = OldGuard(args[-1]) if self.protect_old else None
        try:
            instance = trigger()
            instance.using = self.using
            instance.__dict__[CALL_ATTRIBUTE] = (errors, args)
            instance.context = self.context
            token = enter(label, self.state)
            try:
                if watching:
                    call = observers.TriggerCall(
                        trigger, stage, self.event, self.model, args, self.using
                    )
                    result = observers.run(watching, call, method, instance)
                else:
                    result = method(instance, *args)
            finally:
                leave(token)
            if guard is not None:
                guard.check(label)
        except BaseException as exc:
            if hasattr(exc, "add_note"):
                exc.add_note(
                    f"raised by trigger {label} ({stage} stage of {self.event} on "
                    f"{len(args[0])} {self.model._meta.label} row(s), database {self.using!r})"
                )
            raise
        if result is not None:
            raise TypeError(
                f"Trigger {label} returned {result!r}; event methods must return None. "
                "Change the rows in place instead of returning them."
            )
        if debug:
            self._log(label, stage, len(args[0]), started)

    def _log(self, label: str, stage: str, count: int, started: float) -> None:
        """Log one call at DEBUG level: the method, the rows, the database and the time."""
        logger.debug(
            "%s: %s %s, %d %s row(s) on %r, %.2f ms",
            label,
            stage,
            self.event,
            count,
            self.model._meta.label,
            self.using,
            (time.perf_counter() - started) * 1000,
        )


def _select(condition: Condition, new: Rows | None, old: Rows | None, count: int) -> list[int]:
    fast = condition_rows.passing(condition, new, old, count)  # Built-in conditions.
    if fast is not None:
        return fast
    check = condition.check
    return [
        i
        for i in range(count)
        if check(new[i] if new is not None else None, old[i] if old is not None else None)
    ]


def _begin(
    model: type[models.Model], event: str, using: str, name: str, via: str | None
) -> operation.Operation:
    chain = current_chain()
    return operation.begin(running(), chain, name, model._meta.label, event, using, via)


def chunks(rows: Sequence[Any], size: int | None = None) -> list[Sequence[Any]]:
    """Split ``rows`` into slices of at most ``CHUNK_SIZE`` items."""
    size = size or conf.get("CHUNK_SIZE")
    if len(rows) <= size:
        return [rows]
    return [rows[start : start + size] for start in range(0, len(rows), size)]
