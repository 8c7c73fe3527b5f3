"""TriggerQuerySet composed with other querysets, django-model-utils' included."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.db import models
from model_utils.managers import InheritanceQuerySet, SoftDeletableQuerySet

from bulk_triggers import Trigger, TriggerQuerySet
from tests.condsapp.models import CondRenamed, CondSoft, RenamingQuerySet


def recorder(model: type[models.Model]) -> list[tuple[str, list[Any]]]:
    """Define a trigger on ``model`` recording (event, values) of each after stage."""
    calls: list[tuple[str, list[Any]]] = []

    class Record(Trigger[model]):  # type: ignore[valid-type]
        def on_after_update(self, new: list[Any], old: list[Any]) -> None:
            calls.append(
                ("update", [(o.__dict__, n.__dict__) for n, o in zip(new, old, strict=True)])
            )

        def on_after_delete(self, old: list[Any]) -> None:
            calls.append(("delete", [row.pk for row in old]))

    return calls


def test_soft_delete_fires_update_triggers_and_keeps_rows(using: str) -> None:
    """SoftDeletableQuerySet first: delete() soft-deletes, firing update triggers once."""
    rows = CondSoft.objects.bulk_create([CondSoft(name="a"), CondSoft(name="b")])
    calls = recorder(CondSoft)
    result = CondSoft.objects.filter(pk=rows[0].pk).delete()
    assert result == (1, {"condsapp.CondSoft": 1})
    assert [(event, len(values)) for event, values in calls] == [("update", 1)]
    ((old, new),) = calls[0][1]
    assert (old["is_removed"], new["is_removed"]) == (False, True)
    assert list(CondSoft.objects.order_by("pk").values_list("is_removed", flat=True)) == [
        True,
        False,
    ]


@pytest.mark.parametrize(
    "operation",
    [
        lambda: CondRenamed.objects.update(state="renamed"),
        lambda: CondRenamed.objects.bulk_update(
            [_with_status(row) for row in CondRenamed.objects.all()], ["state"]
        ),
    ],
    ids=["update", "bulk_update"],
)
def test_rewritten_arguments_reach_the_triggers(using: str, operation: Any) -> None:
    """A queryset before TriggerQuerySet rewrites the write; triggers see the real one, once."""
    CondRenamed.objects.bulk_create([CondRenamed(), CondRenamed()])
    calls = recorder(CondRenamed)
    operation()
    assert [event for event, _ in calls] == ["update"]
    assert [new["status"] for _, new in calls[0][1]] == ["renamed", "renamed"]
    assert set(CondRenamed.objects.values_list("status", flat=True)) == {"renamed"}


def _with_status(row: CondRenamed) -> CondRenamed:
    row.status = "renamed"
    return row


@pytest.mark.parametrize(
    ("third_party", "method", "listed"),
    [
        (SoftDeletableQuerySet, "delete()", "SoftDeletableQuerySet"),
        (RenamingQuerySet, "bulk_update(), update()", "RenamingQuerySet"),
    ],
    ids=["model-utils", "renaming"],
)
def test_trigger_queryset_first_is_refused(third_party: type, method: str, listed: str) -> None:
    """TriggerQuerySet before a queryset overriding writes fails at class definition."""
    with pytest.raises(
        TypeError, match=rf"overrides {re.escape(method)}.*class Wrong\({listed}, Trigger"
    ):

        class Wrong(TriggerQuerySet, third_party):  # type: ignore[misc, valid-type]
            pass


def test_querysets_without_write_methods_compose_either_way() -> None:
    """A queryset that overrides no write method (InheritanceQuerySet) composes in any order."""

    class First(TriggerQuerySet, InheritanceQuerySet):  # type: ignore[misc]
        pass

    class Last(InheritanceQuerySet, TriggerQuerySet):  # type: ignore[misc]
        pass

    assert hasattr(First, "select_subclasses") and hasattr(Last, "select_subclasses")
