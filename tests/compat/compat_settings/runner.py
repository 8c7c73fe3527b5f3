"""The test runner for Django's suite: proves the queryset swap is in force, then runs it.

Before any test runs, every installed model's default and base manager is asked for a
queryset. A plain ``QuerySet`` means the swap in ``compat_settings`` did not take effect,
which would make a green run meaningless, so the run stops. Each parallel worker checks
again before its first test, since a worker may be a fresh interpreter.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.db import models
from django.db.models import manager
from django.test.runner import DiscoverRunner, ParallelTestSuite, _run_subsuite

from bulk_triggers.queryset import TriggerQuerySet
from compat_settings import triggers


class SwapNotInForce(AssertionError):
    """Raised when Django's managers do not hand out ``TriggerQuerySet``."""


@dataclass
class Survey:
    """Which queryset class each installed model's managers hand out."""

    trigger: list[str] = field(default_factory=list)
    custom: list[str] = field(default_factory=list)
    plain: list[str] = field(default_factory=list)

    def line(self) -> str:
        """Return the one-line summary printed before the tests."""
        custom = ", ".join(sorted(set(self.custom))) or "none"
        return (
            f"compat: {len(self.trigger)} managers hand out TriggerQuerySet, "
            f"{len(self.plain)} a plain QuerySet, "
            f"{len(self.custom)} their app's own QuerySet subclass ({custom})"
        )


def assert_swapped() -> None:
    """Raise ``SwapNotInForce`` unless ``models.Manager`` builds ``TriggerQuerySet``."""
    if not issubclass(manager.Manager._queryset_class, TriggerQuerySet):
        raise SwapNotInForce(
            f"models.Manager._queryset_class is {manager.Manager._queryset_class!r}; "
            "compat_settings must be the settings module (runtests.py --settings)."
        )


def survey() -> Survey:
    """Ask every installed model's default and base manager for a queryset."""
    found = Survey()
    for model in apps.get_models(include_auto_created=True):
        for kind, used in (("default", model._default_manager), ("base", model._base_manager)):
            queryset = used.all()
            name = f"{model._meta.label}.{kind}:{type(queryset).__qualname__}"
            if isinstance(queryset, TriggerQuerySet):
                found.trigger.append(name)
            elif type(queryset) is models.QuerySet:
                found.plain.append(name)
            else:
                found.custom.append(name)
    return found


def _run_subsuite_checked(args: Any) -> Any:
    """Run one worker's share of the suite, after checking the swap in that process."""
    assert_swapped()
    if triggers.ENABLED:
        triggers.install()
    return _run_subsuite(args)


class CompatParallelTestSuite(ParallelTestSuite):
    """Django's parallel suite, whose workers check the swap before running tests."""

    run_subsuite = _run_subsuite_checked


class CompatRunner(DiscoverRunner):
    """Django's runner, refusing to run unless every plain manager builds ``TriggerQuerySet``."""

    parallel_test_suite = CompatParallelTestSuite

    def run_tests(self, test_labels: Any, **kwargs: Any) -> int:
        """Check the swap on every installed model, print the survey, run the tests."""
        assert_swapped()
        found = survey()
        print(found.line(), flush=True)
        if found.plain or not found.trigger:
            raise SwapNotInForce(f"plain QuerySet from: {', '.join(found.plain) or 'no model'}")
        if triggers.ENABLED:
            print(f"compat: catch-all triggers on {triggers.install()} models", flush=True)
        return super().run_tests(test_labels, **kwargs)

    def suite_result(self, suite: Any, result: Any, **kwargs: Any) -> int:
        """Count the failures; with catch-all triggers, forgive the cost of triggers only."""
        failed: int = super().suite_result(suite, result, **kwargs)
        if not triggers.ENABLED:
            return failed
        forgiven = [
            (reason, test)
            for test, text in [*result.failures, *result.errors]
            if (reason := triggers.tolerated(test, text))
        ]
        print(
            f"compat: with triggers, {len(forgiven)} failures are the cost of triggers "
            f"(extra statements, tolerated), {failed - len(forgiven)} are not",
            flush=True,
        )
        for reason, test in forgiven:
            print(f"compat:   tolerated ({reason}): {triggers.test_id(test)}", flush=True)
        return failed - len(forgiven)
