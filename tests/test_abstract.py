"""Triggers declared on an abstract model fire for every concrete subclass and its proxies."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import models

from bulk_triggers import HasChanged, Trigger, bypass
from tests.defsapp.models import (
    DefsLate,
    DefsStampA,
    DefsStampAProxy,
    DefsStampB,
    DefsStamped,
    DefsStampedPlace,
)
from tests.recorder import record

TARGETS = [DefsStampA, DefsStampB, DefsStampAProxy, DefsStampedPlace]


def _two(model: type[models.Model]) -> list[Any]:
    return [model.objects.create(label=label, touched=n) for n, label in enumerate("ab")]


def _touch(objs: list[Any]) -> list[Any]:
    for obj in objs:
        obj.touched += 10
    return objs


OPS: dict[str, tuple[str, Callable[[Any, list[Any]], Any]]] = {
    "save_new": ("create", lambda m, rows: m(label="n").save()),
    "create": ("create", lambda m, rows: m.objects.create(label="n")),
    "bulk_create": ("create", lambda m, rows: m.objects.bulk_create([m(label="n"), m(label="o")])),
    "save_existing": ("update", lambda m, rows: _touch(rows)[0].save()),
    "bulk_update": ("update", lambda m, rows: m.objects.bulk_update(_touch(rows), ["touched"])),
    "update": ("update", lambda m, rows: m.objects.update(label="u")),
    "delete_instance": ("delete", lambda m, rows: rows[0].delete()),
    "delete_queryset": ("delete", lambda m, rows: m.objects.all().delete()),
}


@pytest.mark.parametrize("model", TARGETS, ids=lambda m: m.__name__)
@pytest.mark.parametrize("op", OPS)
def test_abstract_trigger_fires_for_each_subclass_with_its_rows(
    using: str, op: str, model: type[Any], django_capture_on_commit_callbacks: Any
) -> None:
    """Every stage of the event runs with instances of the model the operation went through."""
    event, run = OPS[op]
    rows = _two(model)
    recorder = record(DefsStamped, events=[event])
    if op == "bulk_create" and model is DefsStampedPlace:
        with pytest.raises(ValueError, match="multi-table"):
            run(model, rows)
        assert recorder.calls == []
        return
    with django_capture_on_commit_callbacks(using=using, execute=True):
        run(model, rows)
    assert recorder.events() == [("before", event), ("after", event), ("commit", event)]
    for call in recorder.calls:
        objects = call.new_objects if event != "delete" else call.old_objects
        assert objects and all(type(obj) is model for obj in objects)


@pytest.mark.parametrize("model", TARGETS, ids=lambda m: m.__name__)
def test_abstract_condition_and_mutations_apply_per_subclass(using: str, model: type[Any]) -> None:
    """A condition on an abstract field filters each subclass's rows; changes are written."""
    rows = _two(model)

    class Relabel(Trigger[DefsStamped]):
        condition = HasChanged("touched")

        def on_before_update(self, new: list[Any], old: list[Any]) -> None:
            for row in new:
                row.label = f"{row.label}-{row.touched}"

    model.objects.bulk_update([*_touch(rows[:1]), rows[1]], ["touched"])
    assert sorted(model.objects.values_list("label", flat=True)) == ["a-10", "b"]


@pytest.mark.parametrize(
    "create",
    [
        lambda: DefsLate.objects.create(name="x"),
        lambda: DefsLate.objects.bulk_create([DefsLate(name="x")])[0],
        lambda: DefsLate.objects.get_or_create(name="x")[0],
    ],
    ids=["create", "bulk_create", "get_or_create"],
)
def test_subclass_defined_after_the_trigger_fires_it(using: str, create: Callable[[], Any]) -> None:
    """CountLate is defined (in defsapp.models) before DefsLate, and fires for it."""
    late = create()
    assert late.counter == 1
    assert DefsLate.objects.get(pk=late.pk).counter == 1


@pytest.mark.parametrize(("target", "runs"), [(DefsStamped, False), (DefsStampA, True)], ids=str)
def test_bypass_names_the_abstract_model_to_skip_its_triggers(
    using: str, target: type[Any], runs: bool
) -> None:
    """bypass(Abstract) skips Trigger[Abstract]; bypass(Subclass) skips only its own."""
    recorder = record(DefsStamped, stages=["after"], events=["create"])
    with bypass(target):
        DefsStampA.objects.create(label="x")
    assert bool(recorder.calls) is runs
