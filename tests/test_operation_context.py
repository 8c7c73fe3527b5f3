"""The operation context: ``self.context`` in every stage, nesting, user data."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import connections, transaction
from django.test import RequestFactory

import bulk_triggers
from bulk_triggers import OperationContext, Trigger
from bulk_triggers.middleware import OperationContextMiddleware
from bulk_triggers.operation import current_data
from tests.tasksapp.models import TaskItem

STAGES = ("before", "after", "commit")


def _recording(seen: list[tuple[str, OperationContext]]) -> None:
    """Define a TaskItem trigger recording ``self.context`` in every stage and event."""

    def record(stage: str) -> Callable[..., None]:
        def run(self: Trigger[TaskItem], *rows: Any) -> None:
            assert self.context is not None
            seen.append((stage, self.context))

        return run

    class SeeContext(Trigger[TaskItem]):
        on_before_create = on_before_update = on_before_delete = record("before")
        on_after_create = on_after_update = on_after_delete = record("after")
        on_commit_create = on_commit_update = on_commit_delete = record("commit")


def _create_one(using: str) -> None:
    TaskItem(name="a").save(using=using)


def _save_existing(using: str) -> None:
    item = TaskItem.objects.using(using).get()
    item.value = 5
    item.save()


def _bulk_create(using: str) -> None:
    TaskItem.objects.using(using).bulk_create([TaskItem(name="a"), TaskItem(name="b")])


def _bulk_update(using: str) -> None:
    items = list(TaskItem.objects.using(using).all())
    for item in items:
        item.value = 3
    TaskItem.objects.using(using).bulk_update(items, ["value"])


def _update(using: str) -> None:
    TaskItem.objects.using(using).update(value=4)


def _queryset_delete(using: str) -> None:
    TaskItem.objects.using(using).all().delete()


def _instance_delete(using: str) -> None:
    TaskItem.objects.using(using).get().delete()


OPERATIONS = [
    ("save", "create", _create_one),
    ("save", "update", _save_existing),
    ("bulk_create", "create", _bulk_create),
    ("bulk_update", "update", _bulk_update),
    ("update", "update", _update),
    ("delete", "delete", _queryset_delete),
    ("delete", "delete", _instance_delete),
]


@pytest.mark.parametrize(
    ("operation", "event", "run"), OPERATIONS, ids=[op[2].__name__ for op in OPERATIONS]
)
@pytest.mark.django_db(transaction=True)
def test_every_stage_sees_the_operation(
    using: str, operation: str, event: str, run: Callable[[str], None]
) -> None:
    """Each stage gets the same context: operation, model, event, alias, id and user data."""
    if event != "create":
        TaskItem.objects.using(using).create(name="existing")
    seen: list[tuple[str, OperationContext]] = []
    _recording(seen)
    with bulk_triggers.context(actor=7, reason="import"):
        run(using)
    assert [stage for stage, _ in seen] == list(STAGES)
    ctx = seen[0][1]
    assert all(other is ctx for _, other in seen)
    assert (ctx.operation, ctx.event, ctx.model, ctx.alias) == (
        operation,
        event,
        "tasksapp.TaskItem",
        using,
    )
    assert dict(ctx.data) == {"actor": 7, "reason": "import"}
    assert ctx.chain == () and not ctx.nested and ctx.via is None
    assert str(uuid.UUID(ctx.operation_id)) == ctx.operation_id


@pytest.mark.django_db(transaction=True)
def test_nested_operations_share_the_operation_id(using: str) -> None:
    """An operation a trigger starts shares the outer id and names the chain that led to it."""
    seen: list[OperationContext] = []

    class Spawn(Trigger[TaskItem]):
        def on_after_create(self, new: list[TaskItem]) -> None:
            assert self.context is not None
            seen.append(self.context)
            if new[0].name == "outer":
                TaskItem.objects.using(self.using).create(name="inner")

        def on_commit_create(self, new: list[TaskItem]) -> None:
            assert self.context is not None
            seen.append(self.context)

    TaskItem.objects.using(using).create(name="outer")
    TaskItem.objects.using(using).create(name="other")
    # The inner operation registers its commit stage first: it finished first.
    outer, inner, inner_commit, outer_commit, other, other_commit = seen
    assert inner.operation_id == outer.operation_id != other.operation_id
    assert inner.chain == (f"{Spawn.label}.on_after_create",) and inner.nested
    assert outer_commit == outer and inner_commit == inner and other_commit == other


@pytest.mark.django_db(transaction=True)
def test_commit_stages_keep_their_own_operation(using: str) -> None:
    """Two operations in one transaction: each commit-stage call sees its own operation."""
    seen: list[tuple[str, str]] = []

    class Look(Trigger[TaskItem]):
        def on_commit_create(self, new: list[TaskItem]) -> None:
            assert self.context is not None
            seen.append((new[0].name, self.context.operation_id))

        def on_after_create(self, new: list[TaskItem]) -> None:
            assert self.context is not None
            seen.append((new[0].name, self.context.operation_id))

    with transaction.atomic(using=using):
        TaskItem.objects.using(using).create(name="a")
        TaskItem.objects.using(using).create(name="b")
    ids = dict(seen[:2])
    assert seen[2:] == [("a", ids["a"]), ("b", ids["b"])] and ids["a"] != ids["b"]


def test_context_is_json_able() -> None:
    """``as_dict()`` survives a JSON round trip and rebuilds an equal context."""
    ctx = OperationContext(
        "save", "a.B", "update", "default", "id", ("T.on_after_update",), {"x": 1}
    )
    assert OperationContext.from_dict(json.loads(json.dumps(ctx.as_dict()))) == ctx


def test_blocks_nest_and_restore() -> None:
    """Inner blocks add and override keys; leaving a block restores the outer data."""
    with bulk_triggers.context(actor=1, reason="a"):
        with bulk_triggers.context(reason="b", extra=True):
            assert current_data() == {"actor": 1, "reason": "b", "extra": True}
        assert current_data() == {"actor": 1, "reason": "a"}
    assert current_data() == {}


def test_decorator_sync_and_async() -> None:
    """``context`` decorates sync and async functions."""

    @bulk_triggers.context(actor=3)
    def sync() -> dict[str, Any]:
        return dict(current_data())

    @bulk_triggers.context(actor=4)
    async def coro() -> dict[str, Any]:
        return dict(current_data())

    assert sync() == {"actor": 3}
    assert asyncio.run(coro()) == {"actor": 4}
    assert current_data() == {}


def test_asyncio_tasks_do_not_share_data() -> None:
    """Concurrent asyncio tasks each see only their own block's data."""

    async def one(actor: int) -> dict[str, Any]:
        with bulk_triggers.context(actor=actor):
            await asyncio.sleep(0.01)
            return dict(current_data())

    async def both() -> list[dict[str, Any]]:
        return list(await asyncio.gather(one(1), one(2)))

    assert asyncio.run(both()) == [{"actor": 1}, {"actor": 2}]


@pytest.mark.django_db(transaction=True)
def test_async_operation_sees_the_data(using: str) -> None:
    """An async ORM call (run in a worker thread) carries the block's data to triggers."""
    seen: list[dict[str, Any]] = []

    class Look(Trigger[TaskItem]):
        def on_before_create(self, new: list[TaskItem]) -> None:
            assert self.context is not None
            seen.append(dict(self.context.data))

    async def create() -> None:
        with bulk_triggers.context(actor=9):
            await TaskItem.objects.using(using).acreate(name="a")
        await sync_to_async(connections.close_all)()

    asyncio.run(create())
    assert seen == [{"actor": 9}]


def test_context_is_none_outside_an_operation() -> None:
    """A trigger called directly in a unit test has no context and no task key."""

    class Plain(Trigger[TaskItem]):
        def on_after_create(self, new: list[TaskItem]) -> None:
            pass

    trigger = Plain()
    assert trigger.context is None and trigger.task_key is None


class _User:
    """A stand-in for request.user."""

    def __init__(self, pk: int | None) -> None:
        self.pk = pk
        self.is_authenticated = pk is not None


@pytest.mark.parametrize("pk", [5, None], ids=["user", "anonymous"])
def test_middleware_attaches_the_requests_user(pk: int | None) -> None:
    """The optional middleware runs each request, sync or async, with actor=user pk."""
    request = RequestFactory().get("/")
    request.user = _User(pk)  # type: ignore[assignment]

    def view(request: Any) -> dict[str, Any]:
        return dict(current_data())

    async def async_view(request: Any) -> dict[str, Any]:
        return dict(current_data())

    async def auser() -> _User:
        return _User(pk)

    assert OperationContextMiddleware(view)(request) == {"actor": pk}
    request.auser = auser  # type: ignore[attr-defined]
    assert asyncio.run(OperationContextMiddleware(async_view)(request)) == {"actor": pk}
    assert current_data() == {}


def test_bulk_triggers_context_stays_the_helper_after_every_module_is_imported() -> None:
    """No submodule is named ``context``: importing one would replace the public helper."""
    import importlib
    import pkgutil
    import types

    import bulk_triggers

    for module in pkgutil.iter_modules(bulk_triggers.__path__, "bulk_triggers."):
        importlib.import_module(module.name)
    assert not isinstance(bulk_triggers.context, types.ModuleType)
    with bulk_triggers.context(actor=1):
        pass
