"""Multi-table inheritance: an operation on a child also fires its parents' triggers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.db import connections, models
from django.db.models import F
from django.test.utils import CaptureQueriesContext

from bulk_triggers import HasChanged, Trigger, bypass
from bulk_triggers.testing import capture_triggers
from tests.defsapp.models import DefsKiosk, DefsKioskProxy, DefsPlace, DefsShop, DefsShopProxy
from tests.recorder import record

Ctx = dict[str, Any]
CHAIN = (DefsPlace, DefsShop, DefsKiosk)


def _kiosks(model: type[models.Model] = DefsKiosk) -> Ctx:
    """Create two rows of ``model``, giving each field of the chain that it has a value."""
    names = {f.name for f in model._meta.concrete_fields}
    rows = {}
    for n, name in enumerate("ab", start=1):
        values = {"score": n, "seats": n, "stock": n}
        rows[name] = model.objects.create(
            name=name, **{k: v for k, v in values.items() if k in names}
        )
    return rows


def _assign(objs: list[Any], **values: Any) -> list[Any]:
    for obj in objs:
        for name, value in values.items():
            setattr(obj, name, value)
    return objs


def _wait(make: Callable[[], Awaitable[Any]]) -> Any:
    """Run an async ORM call from this sync test, in its thread and transaction."""

    async def run() -> Any:
        return await make()

    return async_to_sync(run)()


def _save(obj: Any, **values: Any) -> None:
    _assign([obj], **values)[0].save()


@dataclass(frozen=True)
class Op:
    """One write path on a model of the chain; ``target`` receives the model class."""

    id: str
    event: str
    run: Callable[[type[Any], Ctx], Any]
    setup: Callable[[type[Any]], Ctx] = lambda model: {}
    rows: int = 1

    def __str__(self) -> str:
        return self.id


OPS = [
    Op("save_new", "create", lambda m, c: m(name="n", score=7).save()),
    Op("create", "create", lambda m, c: m.objects.create(name="n", score=7)),
    Op("get_or_create", "create", lambda m, c: m.objects.get_or_create(name="n")),
    Op(
        "update_or_create_creating",
        "create",
        lambda m, c: m.objects.update_or_create(name="n", defaults={"score": 7}),
    ),
    Op(
        "update_or_create_updating",
        "update",
        lambda m, c: m.objects.update_or_create(name="a", defaults={"score": 7}),
        setup=_kiosks,
    ),
    Op("save_existing", "update", lambda m, c: _save(c["a"], score=7), setup=_kiosks),
    Op(
        "save_update_fields",
        "update",
        lambda m, c: _assign([c["a"]], score=7)[0].save(update_fields=["score"]),
        setup=_kiosks,
    ),
    Op(
        "bulk_update",
        "update",
        lambda m, c: m.objects.bulk_update(_assign([c["a"], c["b"]], score=7), ["score"]),
        setup=_kiosks,
        rows=2,
    ),
    Op(
        "update_parent_field",
        "update",
        lambda m, c: m.objects.update(score=F("score") + 1),
        setup=_kiosks,
        rows=2,
    ),
    Op("update_own_field", "update", lambda m, c: m.objects.update(seats=9), setup=_kiosks, rows=2),
    Op("delete_instance", "delete", lambda m, c: c["a"].delete(), setup=_kiosks),
    Op("delete_queryset", "delete", lambda m, c: m.objects.all().delete(), setup=_kiosks, rows=2),
    Op(
        "asave",
        "update",
        lambda m, c: _wait(lambda: _assign([c["a"]], score=7)[0].asave()),
        setup=_kiosks,
    ),
    Op("acreate", "create", lambda m, c: _wait(lambda: m.objects.acreate(name="n"))),
    Op(
        "abulk_update",
        "update",
        lambda m, c: _wait(lambda: m.objects.abulk_update(_assign([c["a"]], score=7), ["score"])),
        setup=_kiosks,
    ),
    Op(
        "aupdate",
        "update",
        lambda m, c: _wait(lambda: m.objects.aupdate(score=7)),
        setup=_kiosks,
        rows=2,
    ),
    Op("adelete", "delete", lambda m, c: _wait(lambda: c["a"].adelete()), setup=_kiosks),
]

# The model an operation goes through, and the models of the chain whose triggers apply.
TARGETS = {
    "shop": (DefsShop, CHAIN[:2]),
    "shop_proxy": (DefsShopProxy, CHAIN[:2]),
    "kiosk": (DefsKiosk, CHAIN),
    "kiosk_proxy": (DefsKioskProxy, CHAIN),
}


def _define_chain(event: str, stage: str) -> dict[type[models.Model], Any]:
    """Record ``stage`` of ``event`` on each model of the chain, child first."""
    return {model: record(model, stages=[stage], events=[event]) for model in reversed(CHAIN)}


@pytest.mark.parametrize("stage", ["before", "after", "commit"])
@pytest.mark.parametrize("target", TARGETS, ids=str)
@pytest.mark.parametrize("op", OPS, ids=str)
def test_child_operation_fires_parent_triggers_first_with_child_rows(
    using: str, op: Op, target: str, stage: str, django_capture_on_commit_callbacks: Any
) -> None:
    """Each applicable trigger of the chain runs once, parent first, with the child instances."""
    model, applying = TARGETS[target]
    ctx = op.setup(model)
    recorders = _define_chain(op.event, stage)
    with (
        capture_triggers() as captured,
        django_capture_on_commit_callbacks(using=using, execute=True),
    ):
        op.run(model, ctx)
    assert [call.trigger for call in captured.calls] == [recorders[m].trigger for m in applying]
    received = [call.new if op.event != "delete" else call.old for call in captured.calls]
    for rows in received:
        assert rows is not None and len(rows) == op.rows
        assert all(type(row) is model for row in rows)
        # The parents' triggers get the very instances the child's get, not copies.
        assert [id(row) for row in rows] == [id(row) for row in received[0] or []]
    assert {call.using for call in captured.calls} == {using}
    for skipped in set(CHAIN) - set(applying):
        assert recorders[skipped].calls == []


@pytest.mark.parametrize("op", [op for op in OPS if op.event == "update"], ids=str)
def test_parents_before_changes_are_written_and_seen_by_the_child(using: str, op: Op) -> None:
    """A parent's before trigger changes a parent field; the child's sees it; it is stored."""
    ctx = _kiosks()

    def shout(new: list[Any], old: list[Any]) -> None:
        for row in new:
            row.name = row.name.upper() + "!"
            row.seats = 40

    place = record(
        DefsPlace, stages=["before"], events=["update"], hooks={("before", "update"): shout}
    )
    kiosk = record(DefsKiosk, stages=["before"], events=["update"])
    op.run(DefsKiosk, ctx)
    seen = kiosk.column("before", "update", "name")
    assert seen and all(name.endswith("!") for name in seen)
    assert place.column("before", "update", "name", side="old") == [
        n.rstrip("!").lower() for n in seen
    ]
    stored = dict(DefsKiosk.objects.values_list("name", "seats"))
    for name in seen:
        assert stored[name] == 40
    assert DefsPlace.objects.filter(name__in=seen).count() == len(seen)


@pytest.mark.parametrize(("values", "fires"), [({"stock": 5}, False), ({"score": 5}, True)])
def test_parent_condition_sees_the_child_rows(
    using: str, values: dict[str, int], fires: bool
) -> None:
    """A parent's condition on its own field is evaluated on the child's old and new rows."""
    _kiosks()
    place = record(DefsPlace, stages=["after"], events=["update"], condition=HasChanged("score"))
    kiosk = record(DefsKiosk, stages=["after"], events=["update"])
    DefsKiosk.objects.update(**values)
    assert len(kiosk.calls) == 1
    assert len(place.calls) == (1 if fires else 0)
    if fires:
        assert place.column("after", "update", "score") == [5, 5]
        assert place.column("after", "update", "score", side="old") == [1, 2]
        assert place.column("after", "update", "stock") == [1, 2]


def test_order_ranks_before_parent_first(using: str) -> None:
    """A lower order runs first across the chain; equal orders run parent before child."""
    late_place = record(DefsPlace, stages=["after"], events=["create"], order=1)
    early_kiosk = record(DefsKiosk, stages=["after"], events=["create"], order=-1)
    kiosk = record(DefsKiosk, stages=["after"], events=["create"])
    shop = record(DefsShop, stages=["after"], events=["create"])
    with capture_triggers() as captured:
        DefsKiosk.objects.create(name="k")
    assert [call.trigger for call in captured.calls] == [
        early_kiosk.trigger,
        shop.trigger,
        kiosk.trigger,
        late_place.trigger,
    ]


def test_parent_operation_does_not_fire_child_triggers(using: str) -> None:
    """Updating through the parent model hands Place's triggers Place rows, and no child's."""
    _kiosks()
    place = record(DefsPlace, stages=["after"], events=["update"])
    kiosk = record(DefsKiosk, stages=["after"], events=["update"])
    DefsPlace.objects.update(score=3)
    assert [type(row) for row in place.one("after", "update").new_objects or []] == [DefsPlace] * 2
    assert kiosk.calls == []


def test_bulk_create_of_a_child_stays_djangos_refusal(using: str) -> None:
    """bulk_create() of a multi-table child raises Django's ValueError before any trigger."""
    place = record(DefsPlace, stages=["before"], events=["create"])
    with pytest.raises(ValueError, match="Can't bulk create a multi-table inherited model"):
        DefsKiosk.objects.bulk_create([DefsKiosk(name="k")])
    assert place.calls == []
    assert not DefsPlace.objects.exists()


@pytest.mark.parametrize(
    "run",
    [
        lambda: DefsPlace.objects.update(score=4),
        lambda: DefsPlace.objects.create(name="p"),
    ],
    ids=["update", "create"],
)
def test_a_parent_without_triggers_costs_plain_djangos_queries(
    using: str, run: Callable[[], Any]
) -> None:
    """Triggers on the children leave updates and inserts of the parent Django's own.

    Deletes are not: deleting a parent row deletes its child row by cascade, so the
    children's delete triggers are reachable (tests/test_cascades.py covers that cost).
    """
    DefsPlace.objects.create(name="x")
    with CaptureQueriesContext(connections[using]) as plain:
        run()
    DefsPlace.objects.create(name="x")

    class OnKiosk(Trigger[DefsKiosk]):
        def on_before_create(self, new: list[DefsKiosk]) -> None:
            pass

        def on_before_update(self, new: list[DefsKiosk], old: list[DefsKiosk]) -> None:
            pass

        def on_before_delete(self, old: list[DefsKiosk]) -> None:
            pass

    with CaptureQueriesContext(connections[using]) as triggered:
        run()
    assert len(triggered) == len(plain)


@pytest.mark.parametrize(
    ("target", "skipped"),
    [(DefsKiosk, {DefsKiosk}), (DefsPlace, {DefsPlace}), (DefsShop, {DefsShop})],
    ids=lambda v: getattr(v, "__name__", ""),
)
def test_bypass_of_a_model_skips_the_triggers_declared_on_it(
    using: str, target: type[models.Model], skipped: set[type[models.Model]]
) -> None:
    """bypass(Model) skips what is declared on that model, for a child's operation too."""
    recorders = _define_chain("create", "after")
    with bypass(target):
        DefsKiosk.objects.create(name="k")
    assert {model for model, rec in recorders.items() if not rec.calls} == skipped
