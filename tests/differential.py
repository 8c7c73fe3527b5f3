"""The harness of the differential tests: one ``update()`` run fast and slow, compared.

:func:`compare` seeds the same rows (with fixed keys) for each way of :data:`WAYS`, runs
the same ``update()``, rolls it back, and asserts that every way gives the same trigger
calls (rows, old and new per stage), the same table afterwards, the same return value
and the same error:

- ``fast``: before and after triggers, the defaults (rows built without ``from_db()``,
  built-in conditions checked over the chunk, pushdown on, large chunks);
- ``after``: after triggers only (PostgreSQL's one-statement path);
- ``after_tiny``: after triggers only, chunks of 2 (reading one row ahead per chunk);
- ``before_tiny``: before and after triggers, chunks of 2, no pushdown;
- ``slow``: the reference: a ``post_init`` receiver (rows built by ``from_db()``), the
  condition checked row by row by ``check()``, no pushdown, chunks of 2.

Values are compared with their types: ``"5"`` and ``5``, or a ``str`` and a ``UUID``,
must not pass for equal.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

from django.db import models, transaction
from django.db.models.signals import post_init
from django.test import override_settings

from bulk_triggers import Condition, bypass
from bulk_triggers.rows import builds_plainly
from bulk_triggers.testing import isolated_registry
from tests.recorder import record

__all__ = ["WAYS", "Hook", "RowByRow", "compare"]


class RowByRow(Condition):
    """The slow twin of a condition: its own ``check()``, so it is checked row by row."""

    def __init__(self, inner: Condition) -> None:
        self.inner = inner

    def check(self, new: Any, old: Any) -> bool:
        return self.inner.check(new, old)

    def field_names(self) -> tuple[str, ...]:
        return self.inner.field_names()


def _norm(value: Any) -> Any:
    """A value with its type: a str and a UUID, or 5 and Decimal 5, must not look equal."""
    if isinstance(value, dict):
        return {k: _norm(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_norm(v) for v in value]
    if isinstance(value, tuple):
        return ("tuple", [_norm(v) for v in value])
    return (type(value).__name__, repr(value))


def _rows(rows: list[dict[str, Any]] | None) -> Any:
    return None if rows is None else sorted((_norm(row) for row in rows), key=repr)


@contextmanager
def _from_db(model: type[models.Model]) -> Iterator[None]:
    def receiver(sender: Any, instance: Any, **kwargs: Any) -> None:
        pass

    post_init.connect(receiver, sender=model)
    try:
        assert not builds_plainly(model)
        yield
    finally:
        post_init.disconnect(receiver, sender=model)


class _Rollback(Exception):
    pass


WAYS = {
    "fast": ({}, ("before", "after"), False),
    "after": ({}, ("after",), False),
    "after_tiny": ({"CHUNK_SIZE": 2, "PUSHDOWN": False}, ("after",), False),
    "before_tiny": ({"CHUNK_SIZE": 2, "PUSHDOWN": False}, ("before", "after"), False),
    "slow": ({"CHUNK_SIZE": 2, "PUSHDOWN": False}, ("before", "after"), True),
}
# A before trigger changing new leaves nothing to compare the after-only ways with.
WITH_BEFORE = ("fast", "before_tiny", "slow")
Hook = Callable[[list[Any], list[Any]], None]


def _run(
    using: str,
    way: str,
    model: type[models.Model],
    seed: Callable[[], None],
    update: Callable[[], Any],
    condition: Condition | tuple[Condition, Condition] | None,
    hook: Hook | None = None,
    as_stored: bool = True,
) -> dict[str, Any]:
    """Run ``update`` one way, rolled back; ``condition`` may name a second, after trigger's."""
    conf, stages, slow = WAYS[way]
    outcome: dict[str, Any] = {}
    concrete = model._meta.concrete_model
    try:
        with transaction.atomic(using=using), isolated_registry():
            with bypass():
                seed()
            first, second = condition if isinstance(condition, tuple) else (condition, None)
            if second is not None:
                also = record(
                    model, stages=["after"], events=["update"], condition=_slow(second, slow)
                )
            wanted = _slow(first, slow)
            hooks = {("before", "update"): hook} if hook else None
            recorder = record(
                model, stages=stages, events=["update"], condition=wanted, hooks=hooks
            )
            building = _from_db(concrete) if slow else nullcontext()
            with override_settings(BULK_TRIGGERS={"MAX_DEPTH": 16, **conf}), building:
                try:
                    outcome["result"] = update()
                except Exception as error:  # The error is compared.
                    outcome["error"] = (type(error).__name__, str(error))
            for stage in stages:
                calls = recorder.of(stage, "update")
                outcome[stage] = (
                    _rows([r for c in calls for r in c.new or []]),
                    _rows([r for c in calls for r in c.old or []]),
                )
            if second is not None:
                calls = also.of("after", "update")
                outcome["second"] = _rows([r for c in calls for r in c.new or []])
            if "error" not in outcome:
                with bypass():
                    table = [dict(r) for r in concrete._base_manager.order_by().values()]
                outcome["table"] = _rows(table)
                if as_stored:
                    _assert_as_stored(concrete, recorder.of("after", "update"), table, way)
            raise _Rollback
    except _Rollback:
        pass
    return outcome


def _assert_as_stored(
    model: type[models.Model], calls: list[Any], table: list[dict[str, Any]], way: str
) -> None:
    """The after stage's new holds each row exactly as stored (docs/guarantees.md)."""
    keys = [field.attname for field in model._meta.pk_fields]
    by_key = {repr([row[k] for k in keys]): _norm(row) for row in table}
    for call in calls:
        for row in call.new or []:
            seen = _norm({name: value for name, value in row.items() if name != "pk"})
            stored = by_key[repr([row[k] for k in keys])]
            assert seen == stored, "\n".join(
                [f"{way}: the after stage's new is not the stored row"]
                + [f"{k}: {v} != {stored.get(k)}" for k, v in seen.items() if v != stored.get(k)]
            )


def _slow(condition: Condition | None, slow: bool) -> Condition | None:
    return RowByRow(condition) if slow and condition is not None else condition


def compare(
    using: str,
    model: type[models.Model],
    seed: Callable[[], None],
    update: Callable[[], Any],
    condition: Condition | tuple[Condition, Condition] | None = None,
    hook: Hook | None = None,
    *,
    as_stored: bool = True,
) -> dict[str, Any]:
    """Run ``update`` every way (those with a before stage if ``hook``); return the slow one's.

    ``as_stored``: also assert that the after stage's ``new`` rows are the stored ones.
    """
    ways = WITH_BEFORE if hook else WAYS
    runs = {way: _run(using, way, model, seed, update, condition, hook, as_stored) for way in ways}
    reference = runs["slow"]
    for way, outcome in runs.items():
        for key in ("result", "error", "table", "after", "second"):
            assert outcome.get(key) == reference.get(key), _difference(way, key, outcome, reference)
    assert runs["fast"]["before"] == reference["before"], _difference(
        "fast", "before", runs["fast"], reference
    )
    return reference


def _difference(way: str, key: str, outcome: dict[str, Any], reference: dict[str, Any]) -> str:
    """Say which values differ, for a readable failure."""
    got, want = outcome.get(key), reference.get(key)
    lines = [f"{way} differs from slow in {key}"]
    if key in ("before", "after"):
        for side, mine, theirs in zip(("new", "old"), got or (), want or (), strict=False):
            lines.extend(_rows_difference(side, mine, theirs))
    elif key == "table":
        lines.extend(_rows_difference("row", got, want))
    else:
        lines.append(f"{got!r} != {want!r}")
    return "\n".join(lines)


def _rows_difference(side: str, got: Any, want: Any) -> list[str]:
    if got is None or want is None or len(got) != len(want):
        return [f"{side}: {len(got or ())} rows != {len(want or ())} rows"]
    return [
        f"{side}[{i}].{name}: {mine[name]} != {theirs.get(name)}"
        for i, (mine, theirs) in enumerate(zip(got, want, strict=True))
        for name in mine
        if mine[name] != theirs.get(name)
    ]
