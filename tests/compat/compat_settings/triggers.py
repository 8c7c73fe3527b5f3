"""Catch-all triggers for the optional second pass over Django's suites.

With ``COMPAT_TRIGGERS=1`` every model of the test apps gets one trigger with a before
and an after method for each event, so that each bulk write Django's tests make goes
through the trigger engine instead of straight to ``QuerySet``. The methods change
nothing; they check what the engine hands them and raise ``EngineContractError`` when
the contract in API.md is broken, which turns the offending Django test into an error.

Triggers cost queries by design (the locked read of ``old``, a savepoint), so in this
pass ``assertNumQueries`` reports a different count on stderr instead of failing, and
the rest of each test still runs; ``CompatRunner`` tolerates the few tests that inspect
the captured statements one by one (``EXTRA_STATEMENTS``), and nothing else.
"""

from __future__ import annotations

import os
import sys
import types
from collections.abc import Sequence
from typing import Any

from django.apps import apps
from django.db import models
from django.test import testcases

from bulk_triggers import Trigger

ENABLED = os.environ.get("COMPAT_TRIGGERS") == "1"

# Tests that inspect the captured SQL statement by statement, and so see the savepoint
# that makes a write and its triggers one atomic unit. Checked by hand: the statements
# they look for are there, after the savepoint.
EXTRA_STATEMENTS = {
    # Asserts that every captured statement is an INSERT (and that there are 4).
    "model_inheritance.tests.ModelInheritanceTests.test_create_child_no_update",
    # Takes the first statement of QuerySet.update() to be the UPDATE.
    "model_inheritance.tests.ModelInheritanceTests.test_update_parent_filtering",
    # Counts the created_at column in the first statement of bulk_create().
    "bulk_create.tests.BulkCreateTests.test_db_default_field_excluded",
    # Counts the SELECTs in the first statement of QuerySet.delete().
    "delete_regress.tests.DeleteTests.test_self_reference_with_through_m2m_at_second_level",
}

_installed: list[type[Any]] = []


class EngineContractError(AssertionError):
    """A trigger received rows that break the contract of API.md."""


def test_id(test: Any) -> str:
    """Return the id of a test, or of the test a failing subtest belongs to."""
    return str(getattr(test, "test_case", test).id())


def tolerated(test: Any, text: str) -> str | None:
    """Say why a failure is the expected cost of triggers, or None if it is not."""
    if test_id(test) in EXTRA_STATEMENTS:
        return "statements"
    return None


def _check_rows(model: type[models.Model], where: str, rows: Sequence[Any]) -> None:
    if not isinstance(rows, list):
        raise EngineContractError(f"{where}: rows must be a list, got {type(rows)!r}")
    if not rows:
        raise EngineContractError(f"{where}: called with no rows")
    for row in rows:
        # Django lets Country instances into ProxyCountry.objects.bulk_create(): same rows.
        # A multi-table parent's triggers get the child's rows, which are its rows too.
        if not isinstance(row, models.Model) or not issubclass(
            row._meta.concrete_model, model._meta.concrete_model
        ):
            raise EngineContractError(f"{where}: {row!r} is not a row of {model._meta.label}")


def _check_pairs(model: type[models.Model], where: str, new: Any, old: Any) -> None:
    _check_rows(model, where, new)
    _check_rows(model, where, old)
    if len(new) != len(old):
        raise EngineContractError(f"{where}: {len(new)} new rows but {len(old)} old rows")
    for after, before in zip(new, old, strict=True):
        if after is before or after.pk != before.pk:
            raise EngineContractError(f"{where}: new {after.pk!r} paired with old {before.pk!r}")


def _check_stored(model: type[models.Model], where: str, rows: Any) -> None:
    _check_rows(model, where, rows)
    if any(row.pk is None for row in rows):
        raise EngineContractError(f"{where}: a row without primary key")


def _methods(model: type[models.Model]) -> dict[str, Any]:
    label = model._meta.label

    def on_before_create(self: Any, new: Any) -> None:
        _check_rows(model, f"{label} before create", new)

    def on_after_create(self: Any, new: Any) -> None:
        _check_rows(model, f"{label} after create", new)

    def on_before_update(self: Any, new: Any, old: Any) -> None:
        _check_pairs(model, f"{label} before update", new, old)

    def on_after_update(self: Any, new: Any, old: Any) -> None:
        _check_pairs(model, f"{label} after update", new, old)

    def on_before_delete(self: Any, old: Any) -> None:
        _check_stored(model, f"{label} before delete", old)

    def on_after_delete(self: Any, old: Any) -> None:
        _check_stored(model, f"{label} after delete", old)

    return {name: value for name, value in locals().items() if name.startswith("on_")}


def _catch_all(model: type[models.Model]) -> type[Any]:
    """Define, and so register, the catch-all trigger of ``model``."""
    namespace = {"__module__": __name__, **_methods(model)}
    name = f"CatchAll_{model._meta.app_label}_{model.__name__}"
    return types.new_class(name, (Trigger[model],), {}, lambda ns: ns.update(namespace))


def _report_query_count(self: Any, exc_type: Any, exc_value: Any, traceback: Any) -> None:
    """Replace ``assertNumQueries``' check: report a different count, do not fail."""
    testcases.CaptureQueriesContext.__exit__(self, exc_type, exc_value, traceback)
    if exc_type is None and len(self) != self.num:
        print(
            f"\ncompat: query count: {self.test_case.id()}: {len(self)} instead of {self.num}",
            file=sys.stderr,
            flush=True,
        )


def install() -> int:
    """Register a catch-all trigger on every model outside ``django.*``; return how many."""
    if _installed:
        return len(_installed)
    testcases._AssertNumQueriesContext.__exit__ = _report_query_count  # type: ignore[method-assign]
    for model in apps.get_models(include_auto_created=True):
        if not model.__module__.startswith("django."):
            _installed.append(_catch_all(model))
    return len(_installed)
