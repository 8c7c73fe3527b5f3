"""API.md "A trigger", "Control" and "Managers and definitions", as documented."""

from __future__ import annotations

import asyncio
import threading
import types
from typing import Any, Generic, TypeVar

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.db import models, transaction
from django.test import override_settings

from bulk_triggers import (
    HasChanged,
    Trigger,
    TriggerDefinitionError,
    TriggerDepthError,
    TriggerManager,
    TriggerModelMixin,
    TriggerQuerySet,
    bypass,
)
from tests.conformapp.models import ConfAccount, ConfItem, ConfOrder, ConfOwner, ConfTicket
from tests.conformapp.spy import Log, define, spy

M = TypeVar("M", bound=models.Model)


def test_defining_a_subclass_registers_it_and_model_is_the_type_argument(using: str) -> None:
    """A subclass fires with no decorator; its ``model`` is the type argument."""
    log = Log()
    trigger = spy(ConfAccount, log, stages=("after",), events=("create",))
    assert trigger.model is ConfAccount
    ConfAccount.objects.create(code="x")
    assert len(log.calls) == 1


def test_generic_base_is_not_registered_but_its_concrete_subclasses_are(using: str) -> None:
    """``class Audit(Trigger[M])`` never fires; ``AccountAudit(Audit[ConfAccount])`` does."""
    seen: list[str] = []

    class Audit(Trigger[M]):
        def on_after_create(self, new: list[M]) -> None:
            seen.append(type(self).__name__)

    class Unbound(Audit):  # type: ignore[type-arg]  # binds no model: allowed, unregistered
        def on_after_update(self, new: list[Any], old: list[Any]) -> None:
            seen.append("unbound")

    class AccountAudit(Audit[ConfAccount]):
        pass

    assert AccountAudit.model is ConfAccount
    obj = ConfAccount.objects.create(code="x")
    ConfOwner.objects.create(email="e")
    obj.save()
    assert seen == ["AccountAudit"]


def test_generic_base_with_extra_generic_parameters_stays_unregistered(using: str) -> None:
    """A generic base mixing in ``Generic`` of its own still binds no model."""
    T = TypeVar("T")
    seen: list[str] = []

    class Keyed(Trigger[M], Generic[M, T]):
        def on_after_create(self, new: list[M]) -> None:
            seen.append("keyed")

    class OwnerKeyed(Keyed[ConfOwner, int]):
        pass

    ConfAccount.objects.create(code="x")
    ConfOwner.objects.create(email="e")
    assert seen == ["keyed"]
    assert OwnerKeyed.model is ConfOwner


@pytest.mark.parametrize("name", ["on_before_save", "on_after_updte", "on_commit", "on_delete"])
def test_a_misspelled_event_method_is_a_definition_error(name: str) -> None:
    """A method starting with ``on_`` that is no event method fails at class definition."""
    with pytest.raises(TriggerDefinitionError, match=name):
        define("Typo", ConfAccount, {name: lambda self, new: None})


def test_definition_error_is_importable_and_an_exception() -> None:
    """``TriggerDefinitionError`` is an ``Exception`` importable from ``bulk_triggers``."""
    assert issubclass(TriggerDefinitionError, Exception)


def test_unbound_trigger_with_event_methods_is_a_definition_error() -> None:
    """``class Audit(Trigger):`` with event methods and no type argument is refused."""
    with pytest.raises(TriggerDefinitionError, match="Audit"):

        class Audit(Trigger):  # type: ignore[type-arg]
            def on_after_create(self, new: list[Any]) -> None:
                pass


def test_unbound_trigger_without_event_methods_is_allowed() -> None:
    """A bare ``class Base(Trigger)`` with no event method is a plain base class."""

    class Base(Trigger):  # type: ignore[type-arg]
        order = 5

    assert issubclass(Base, Trigger)


def test_a_trigger_is_plain_python() -> None:
    """A trigger's method runs in a unit test with no database and no dispatcher."""

    class Ship(Trigger[ConfOrder]):
        condition = HasChanged("status")

        def on_before_update(self, new: list[ConfOrder], old: list[ConfOrder]) -> None:
            for order in new:
                order.total += 1

    order, was = ConfOrder(status="shipped", total=1), ConfOrder(status="draft", total=1)
    Ship().on_before_update([order], [was])
    assert order.total == 2


def test_manager_and_mixin_shapes() -> None:
    """``TriggerManager`` is a ``Manager``; the mixin is abstract and sets it as ``objects``."""
    assert issubclass(TriggerManager, models.Manager)
    assert TriggerModelMixin._meta.abstract
    assert isinstance(ConfAccount.objects, TriggerManager)
    assert isinstance(ConfAccount.objects.all(), TriggerQuerySet)
    assert isinstance(ConfAccount.objects, models.Manager)


def test_trigger_manager_on_a_plain_model_fires_queryset_operations(using: str) -> None:
    """A model that only declares ``objects = TriggerManager()`` fires its bulk operations."""
    log = Log()
    spy(ConfTicket, log, stages=("before",))
    ConfTicket.objects.create(subject="a")
    ConfTicket.objects.bulk_create([ConfTicket(subject="b")])
    ConfTicket.objects.update(state="x")
    ConfTicket.objects.filter(subject="a").delete()
    assert [c.event for c in log.calls] == ["create", "create", "update", "delete"]


@pytest.mark.parametrize(
    "targets", [(), ("trigger",), (ConfAccount,)], ids=["all", "trigger", "model"]
)
def test_bypass_skips_the_named_targets(using: str, targets: tuple[Any, ...]) -> None:
    """``bypass()`` skips every trigger, one trigger class, or every trigger of a model."""
    skipped, kept = Log(), Log()
    account_spy = spy(ConfAccount, skipped, stages=("before",), name="Skipped")
    spy(ConfOwner, kept, stages=("before",), name="Kept")
    named = tuple(account_spy if t == "trigger" else t for t in targets)
    with bypass(*named):
        ConfAccount.objects.create(code="x")
        ConfOwner.objects.create(email="e")
    assert skipped.calls == []
    assert len(kept.calls) == (0 if not targets else 1)
    ConfAccount.objects.create(code="y")
    assert len(skipped.calls) == 1


def test_bypass_is_a_decorator(using: str) -> None:
    """``@bypass(Model)`` skips for the duration of the call only."""
    log = Log()
    spy(ConfAccount, log, stages=("before",))

    @bypass(ConfAccount)
    def quiet() -> None:
        ConfAccount.objects.create(code="q")

    quiet()
    ConfAccount.objects.create(code="loud")
    assert [r["code"] for c in log.calls for r in c.new or []] == ["loud"]


def test_bypass_does_not_leak_into_another_thread() -> None:
    """A thread outside the ``bypass()`` block is not bypassed."""
    ran: list[bool] = []

    class Mark(Trigger[ConfAccount]):
        def on_before_create(self, new: list[ConfAccount]) -> None:
            ran.append(True)

    def other() -> None:
        Mark().on_before_create([ConfAccount(code="t")])
        from bulk_triggers import is_bypassed

        ran.append(not is_bypassed(Mark))

    with bypass():
        thread = threading.Thread(target=other)
        thread.start()
        thread.join()
    assert ran == [True, True]


def test_bypass_is_per_asyncio_task(using: str) -> None:
    """Two tasks: the one inside ``bypass()`` is skipped, the other fires."""
    log = Log()
    spy(ConfAccount, log, stages=("before",))

    async def inside(event: asyncio.Event) -> None:
        with bypass():
            await event.wait()
            await sync_to_async(ConfAccount(code="in").save)()

    async def outside(event: asyncio.Event) -> None:
        event.set()
        await sync_to_async(ConfAccount(code="out").save)()

    async def both() -> None:
        event = asyncio.Event()
        await asyncio.gather(inside(event), outside(event))

    async_to_sync(both)()  # sync_to_async then runs on this thread, in the test's transaction
    assert [r["code"] for c in log.calls for r in c.new or []] == ["out"]


def test_nested_operations_dispatch_again(using: str) -> None:
    """A trigger writing to a model with triggers fires that model's triggers."""
    log = Log()

    class Open(Trigger[ConfAccount]):
        def on_after_create(self, new: list[ConfAccount]) -> None:
            ConfOrder.objects.bulk_create(ConfOrder(account=a) for a in new)

    spy(ConfOrder, log, stages=("after",))
    ConfAccount.objects.bulk_create([ConfAccount(code="a"), ConfAccount(code="b")])
    assert [(c.event, len(c.pks)) for c in log.calls] == [("create", 2)]


@pytest.mark.parametrize("depth", [2, 5])
def test_past_max_depth_raises_naming_the_chain_and_rolls_back(using: str, depth: int) -> None:
    """Recursion past ``MAX_DEPTH`` raises ``TriggerDepthError`` and nothing is kept."""

    class Again(Trigger[ConfAccount]):
        def on_after_create(self, new: list[ConfAccount]) -> None:
            ConfAccount.objects.create(code=f"{new[0].code}+")

    with override_settings(BULK_TRIGGERS={"MAX_DEPTH": depth}):
        with pytest.raises(TriggerDepthError) as raised:
            ConfAccount.objects.create(code="a")
        assert "Again" in str(raised.value)
    assert not ConfAccount.objects.exists()


def test_max_depth_override_reaches_exactly_that_depth(using: str) -> None:
    """With ``MAX_DEPTH`` 3, three nested levels succeed (the limit is not off by one)."""

    class Chain(Trigger[ConfAccount]):
        def on_after_create(self, new: list[ConfAccount]) -> None:
            if len(new[0].code) < 3:
                ConfAccount.objects.create(code=f"{new[0].code}+")

    with override_settings(BULK_TRIGGERS={"MAX_DEPTH": 3}):
        ConfAccount.objects.create(code="a")
    assert ConfAccount.objects.count() == 3


@pytest.mark.parametrize("stage", ["before", "after"])
@pytest.mark.parametrize("event", ["create", "update", "delete"])
def test_an_exception_propagates_unchanged_and_leaves_the_database(
    using: str, stage: str, event: str
) -> None:
    """Any trigger's exception propagates as raised and the operation leaves no trace."""
    with bypass():
        ConfAccount.objects.bulk_create(ConfAccount(code=f"c{i}") for i in range(3))
    before = sorted(ConfAccount.objects.values_list("code", "name"))
    error = KeyError("from the trigger")

    def fail(*args: Any) -> None:
        raise error

    method: Any = (lambda self, new, old: fail()) if event == "update" else lambda self, r: fail()
    define("Fail", ConfAccount, {f"on_{stage}_{event}": method})
    ops = {
        "create": lambda: ConfAccount.objects.bulk_create([ConfAccount(code="n")]),
        "update": lambda: ConfAccount.objects.update(name="x"),
        "delete": lambda: ConfAccount.objects.all().delete(),
    }
    with pytest.raises(KeyError) as raised:
        ops[event]()
    assert raised.value is error
    assert sorted(ConfAccount.objects.values_list("code", "name")) == before


CHUNKED: dict[str, tuple[str, Any]] = {
    "bulk_create": (
        "create",
        lambda: ConfAccount.objects.bulk_create(ConfAccount(code=f"n{i}") for i in range(5)),
    ),
    "bulk_update": ("update", lambda: ConfAccount.objects.bulk_update(_renamed(), ["name"])),
    "update": ("update", lambda: ConfAccount.objects.update(name="u")),
    "delete": ("delete", lambda: ConfAccount.objects.all().delete()),
}


def _renamed() -> list[ConfAccount]:
    objs = list(ConfAccount.objects.all())
    for obj in objs:
        obj.name = "r"
    return objs


@pytest.mark.parametrize("name", CHUNKED)
def test_chunks_alternate_before_write_after_and_commit_gets_each_chunk(
    using: str, name: str, django_capture_on_commit_callbacks: Any
) -> None:
    """With ``CHUNK_SIZE`` 2, five rows run before/after per chunk; commit gets each chunk."""
    with bypass():
        ConfAccount.objects.bulk_create(ConfAccount(code=f"c{i}") for i in range(5))
    event, op = CHUNKED[name]
    log = Log()
    written: list[int] = []

    def count(trigger: Any, stage: str, ev: str, *rows: Any) -> None:
        if stage == "before":
            written.append(ConfAccount.objects.filter(name__in=["u", "r"]).count())

    spy(ConfAccount, log, events=(event,), hook=count)
    with (
        override_settings(BULK_TRIGGERS={"CHUNK_SIZE": 2}),
        django_capture_on_commit_callbacks(using=using, execute=True),
        transaction.atomic(using=using),
    ):
        result = op()
    with bypass(), transaction.atomic(using=using):
        sizes = [len(c.pks) for c in log.of("before")]
        transaction.set_rollback(True, using=using)
    assert [c.stage for c in log.calls if c.stage != "commit"] == ["before", "after"] * 3
    assert sizes == [2, 2, 1]
    assert [len(c.pks) for c in log.of("after")] == sizes
    assert [len(c.pks) for c in log.of("commit")] == sizes
    assert log.calls[-3:] == log.of("commit")
    if event == "update":
        assert written == [0, 2, 4]
    assert result is not None


def test_chunk_size_override_is_forgotten_after_the_block(using: str) -> None:
    """Settings are re-read when ``override_settings`` ends: the default chunk comes back."""
    log = Log()
    spy(ConfAccount, log, events=("create",), stages=("before",))
    with override_settings(BULK_TRIGGERS={"CHUNK_SIZE": 1}):
        ConfAccount.objects.bulk_create([ConfAccount(code="a"), ConfAccount(code="b")])
    ConfAccount.objects.bulk_create([ConfAccount(code="c"), ConfAccount(code="d")])
    assert [len(c.pks) for c in log.calls] == [1, 1, 2]


def _mixin_with_typo() -> tuple[Any, ...]:
    return (type("Mixin", (), {"on_afer_create": lambda self, new: None}),)


DEFINITION_ERRORS: dict[str, tuple[Any, dict[str, Any], tuple[Any, ...], str]] = {
    "not-a-model": (int, {}, (), "int"),
    "condition-not-a-condition": (ConfAccount, {"condition": "status"}, (), "condition"),
    "order-not-an-integer": (ConfAccount, {"order": "first"}, (), "order"),
    "abstract-missing-field": (ConfItem, {"condition": HasChanged("nope")}, (), "nope"),
    "typo-in-a-mixin": (ConfAccount, {}, _mixin_with_typo(), "on_afer_create"),
}


@pytest.mark.parametrize("case", DEFINITION_ERRORS)
def test_definition_errors_raise_trigger_definition_error(case: str) -> None:
    """Every definition error raises ``TriggerDefinitionError`` naming the trigger and culprit."""
    model, extra, bases, culprit = DEFINITION_ERRORS[case]
    body = {"on_after_create": lambda self, new: None, **extra}
    with pytest.raises(TriggerDefinitionError) as raised:
        bound = Trigger[model]  # type: ignore[valid-type]
        types.new_class("BadDef", (*bases, bound), {}, lambda ns: ns.update(body))
    assert "BadDef" in str(raised.value) and culprit in str(raised.value)
