"""bypass(): by trigger, by model, everything; as a decorator; per thread and per asyncio task."""

from __future__ import annotations

import asyncio
import inspect
import threading
import types
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pytest
from asgiref.sync import sync_to_async
from django.db import connections, models

from bulk_triggers import Condition, Trigger, bypass
from tests.routers import routed_to
from tests.testapp.models import Customer, Item, ItemProxy, ItemProxyProxy

M = TypeVar("M", bound=models.Model)
WAIT = 20  # seconds a thread or task waits for the other before the test fails


@pytest.fixture
async def async_connections() -> AsyncIterator[None]:
    """Close the async ORM worker thread's connections, so that teardown can drop the DB."""
    yield
    await sync_to_async(connections.close_all)()


@pytest.fixture
def ran() -> list[str]:
    """Collect ``"<Trigger>:<row name>"`` for every row an after-create trigger received."""
    return []


def watch(ran: list[str], name: str, base: Any) -> Any:
    """Define the trigger ``name`` on ``base`` (a model or trigger class) recording into ``ran``."""

    def on_after_create(self: Any, new: list[Any]) -> None:
        ran.extend(f"{name}:{row.name}" for row in new)

    parent = Trigger[base] if issubclass(base, models.Model) else base
    namespace = {"__module__": __name__, "on_after_create": on_after_create}
    return types.new_class(name, (parent,), {}, lambda ns: ns.update(namespace))


def test_bypass_one_trigger(using: str, ran: list[str]) -> None:
    """bypass(T) skips T and only T, and only inside the block."""
    skipped = watch(ran, "Skipped", Item)
    watch(ran, "Kept", Item)
    with bypass(skipped):
        Item.objects.create(name="in")
    Item.objects.create(name="out")
    assert ran == ["Kept:in", "Skipped:out", "Kept:out"]


def test_bypass_trigger_covers_subclasses(using: str, ran: list[str]) -> None:
    """bypass(Base) skips triggers subclassing Base, generic or concrete; not the other way."""

    class Audit(Trigger[M]):
        def on_after_create(self, new: list[M]) -> None:
            ran.extend(f"{type(self).__name__}:{row.name}" for row in new)

    class ItemAudit(Audit[Item]):
        pass

    class CustomerAudit(Audit[Customer]):
        pass

    class LoudItemAudit(ItemAudit):
        pass

    with bypass(Audit):
        Item.objects.create(name="a")
        Customer.objects.create(name="b")
    assert ran == []
    with bypass(ItemAudit):
        Item.objects.create(name="c")
        Customer.objects.create(name="d")
    assert ran == ["CustomerAudit:d"]
    ran.clear()
    with bypass(LoudItemAudit):
        Item.objects.create(name="e")
    assert ran == ["ItemAudit:e"]


def test_bypass_model(using: str, ran: list[str]) -> None:
    """bypass(Model) skips every trigger declared on the model and on its proxies."""
    watch(ran, "OnItem", Item)
    watch(ran, "OnProxy", ItemProxy)
    watch(ran, "OnProxyProxy", ItemProxyProxy)
    watch(ran, "OnCustomer", Customer)
    with bypass(Item):
        Item.objects.create(name="a")
        ItemProxy.objects.create(name="b")
        ItemProxyProxy.objects.bulk_create([ItemProxyProxy(name="c")])
        Customer.objects.create(name="d")
    assert ran == ["OnCustomer:d"]
    ItemProxyProxy.objects.create(name="e")
    assert ran[1:] == ["OnItem:e", "OnProxy:e", "OnProxyProxy:e"]


def test_bypass_proxy_model(using: str, ran: list[str]) -> None:
    """bypass(Proxy) skips the proxy's triggers but not those of the concrete model."""
    watch(ran, "OnItem", Item)
    watch(ran, "OnProxy", ItemProxy)
    with bypass(ItemProxy):
        ItemProxy.objects.create(name="a")
    assert ran == ["OnItem:a"]


def test_bypass_everything(using: str, ran: list[str]) -> None:
    """bypass() with no argument skips every trigger."""
    watch(ran, "OnItem", Item)
    watch(ran, "OnCustomer", Customer)
    with bypass():
        Item.objects.create(name="a")
        Customer.objects.bulk_create([Customer(name="b")])
    assert ran == []
    Item.objects.create(name="c")
    assert ran == ["OnItem:c"]


def test_bypass_nests(using: str, ran: list[str]) -> None:
    """Nested bypass blocks add up, and each exit restores what its entry found."""
    first = watch(ran, "First", Item)
    second = watch(ran, "Second", Item)
    with bypass(first):
        with bypass(second):
            Item.objects.create(name="both")
        Item.objects.create(name="outer")
        with bypass():
            Item.objects.create(name="all")
        Item.objects.create(name="outer-again")
    Item.objects.create(name="none")
    assert ran == [
        "Second:outer",
        "Second:outer-again",
        "First:none",
        "Second:none",
    ]


def test_bypass_restored_after_exception(using: str, ran: list[str]) -> None:
    """An exception leaving a bypass block ends the bypass."""
    watch(ran, "OnItem", Item)
    with pytest.raises(ZeroDivisionError), bypass(Item):
        1 / 0  # noqa: B018
    Item.objects.create(name="a")
    assert ran == ["OnItem:a"]


def test_bypass_instance_is_reusable(using: str, ran: list[str]) -> None:
    """One bypass object may be entered again, also while it is already entered."""
    trigger = watch(ran, "OnItem", Item)
    skip = bypass(trigger)
    with skip:
        with skip:
            Item.objects.create(name="a")
        Item.objects.create(name="b")
    with skip:
        Item.objects.create(name="c")
    Item.objects.create(name="d")
    assert ran == ["OnItem:d"]


def test_bypass_decorator_sync(using: str, ran: list[str]) -> None:
    """bypass(...) decorates a function: skipped inside each call, not outside."""
    trigger = watch(ran, "OnItem", Item)

    @bypass(trigger)
    def make(name: str) -> Item:
        """Make an item."""
        return Item.objects.create(name=name)

    made = make("in")
    Item.objects.create(name="out")
    assert made.name == "in"
    assert make.__name__ == "make" and make.__doc__ == "Make an item."
    assert ran == ["OnItem:out"]


def test_bypass_decorator_no_arguments(using: str, ran: list[str]) -> None:
    """bypass() as a decorator skips everything while the function runs."""
    watch(ran, "OnItem", Item)

    @bypass()
    def make() -> None:
        Item.objects.create(name="in")

    make()
    make()
    Item.objects.create(name="out")
    assert ran == ["OnItem:out"]


@pytest.mark.django_db(transaction=True)
async def test_bypass_decorator_async(using: str, ran: list[str], async_connections: None) -> None:
    """bypass(...) decorates a coroutine function: skipped while it runs, awaited properly."""
    trigger = watch(ran, "OnItem", Item)

    @bypass(trigger)
    async def make(name: str) -> Item:
        await asyncio.sleep(0)
        return await Item.objects.acreate(name=name)

    assert inspect.iscoroutinefunction(make)
    with routed_to(using):
        made = await make("in")
        await Item.objects.acreate(name="out")
    assert made.name == "in"
    assert ran == ["OnItem:out"]


@pytest.mark.parametrize(
    "target",
    ["Item", 42, None, Item(name="instance"), Condition, object, lambda: None],
    ids=["string", "int", "none", "model-instance", "condition-class", "object", "function"],
)
def test_bypass_rejects_other_targets(target: Any) -> None:
    """bypass() given something that is neither a trigger nor a model raises TypeError."""
    with pytest.raises(TypeError, match="bypass"):
        bypass(target)


def test_bypass_rejects_trigger_instance() -> None:
    """bypass() wants the trigger class, not an instance of it."""

    class OnItem(Trigger[Item]):
        def on_after_create(self, new: list[Item]) -> None:
            pass

    with pytest.raises(TypeError):
        bypass(OnItem())  # type: ignore[arg-type]


def run_in_threads(using: str, *bodies: Callable[[], None]) -> None:
    """Run each body in its own thread routed to ``using``; re-raise the first failure."""

    def wrapped(body: Callable[[], None]) -> None:
        try:
            with routed_to(using):
                body()
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=len(bodies)) as pool:
        futures = [pool.submit(wrapped, body) for body in bodies]
        for future in futures:
            future.result(timeout=WAIT * 2)


@pytest.mark.django_db(transaction=True)
def test_bypass_is_per_thread(using: str, ran: list[str]) -> None:
    """A bypass in one thread does not skip triggers in a thread running at the same time."""
    watch(ran, "OnItem", Item)
    inside, other_done = threading.Event(), threading.Event()

    def bypassing() -> None:
        with bypass(Item):
            inside.set()
            assert other_done.wait(WAIT)
            Item.objects.create(name="bypassed")

    def plain() -> None:
        assert inside.wait(WAIT)
        Item.objects.create(name="plain")
        other_done.set()

    run_in_threads(using, bypassing, plain)
    assert ran == ["OnItem:plain"]
    assert sorted(Item.objects.values_list("name", flat=True)) == ["bypassed", "plain"]


@pytest.mark.django_db(transaction=True)
def test_bypass_in_threads_at_once(using: str, ran: list[str]) -> None:
    """Threads that bypass different triggers at the same time each skip only their own."""
    first = watch(ran, "First", Item)
    second = watch(ran, "Second", Item)
    entered = threading.Barrier(2, timeout=WAIT)
    wrote = threading.Barrier(2, timeout=WAIT)
    lock = threading.Lock()

    def worker(skipped: Any, name: str) -> Callable[[], None]:
        def body() -> None:
            with bypass(skipped):
                entered.wait()
                with lock:  # Serialise the writes only, not the bypass blocks.
                    Item.objects.create(name=name)
                wrote.wait()

        return body

    run_in_threads(using, worker(first, "a"), worker(second, "b"))
    assert sorted(ran) == ["First:b", "Second:a"]


@pytest.mark.django_db(transaction=True)
def test_bypass_not_inherited_by_new_threads(using: str, ran: list[str]) -> None:
    """A thread started inside a bypass block runs with no bypass of its own."""
    watch(ran, "OnItem", Item)
    with bypass(Item):
        run_in_threads(using, lambda: Item.objects.create(name="thread"))
        Item.objects.create(name="main")
    assert ran == ["OnItem:thread"]


@pytest.mark.django_db(transaction=True)
async def test_bypass_is_per_task(using: str, ran: list[str], async_connections: None) -> None:
    """A bypass in one asyncio task does not skip triggers in a task running at the same time."""
    watch(ran, "OnItem", Item)
    inside, other_done = asyncio.Event(), asyncio.Event()

    async def bypassing() -> None:
        with bypass(Item):
            inside.set()
            await other_done.wait()
            await Item.objects.acreate(name="bypassed")
            await Item.objects.filter(name="bypassed").aupdate(note="x")

    async def plain() -> None:
        await inside.wait()
        await Item.objects.acreate(name="plain")
        other_done.set()

    with routed_to(using):
        await asyncio.wait_for(asyncio.gather(bypassing(), plain()), WAIT)
        names = sorted([name async for name in Item.objects.values_list("name", flat=True)])
    assert ran == ["OnItem:plain"]
    assert names == ["bypassed", "plain"]


@pytest.mark.django_db(transaction=True)
async def test_bypass_seen_by_async_orm_threads(
    using: str, ran: list[str], async_connections: None
) -> None:
    """The async ORM runs in worker threads, which must see the calling task's bypass."""
    watch(ran, "OnItem", Item)
    with routed_to(using):
        with bypass(Item):
            await Item.objects.acreate(name="a")
            await Item.objects.abulk_create([Item(name="b")])
        await Item.objects.acreate(name="c")
    assert ran == ["OnItem:c"]


@pytest.mark.django_db(transaction=True)
async def test_shared_bypass_instance_in_concurrent_tasks(
    using: str, ran: list[str], async_connections: None
) -> None:
    """One bypass object (say a module constant) may be entered by overlapping tasks."""
    watch(ran, "OnItem", Item)
    skip = bypass(Item)
    first_in, second_in, first_out = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def first() -> None:
        try:
            with skip:
                first_in.set()
                await second_in.wait()
                await Item.objects.acreate(name="first")
        finally:
            first_out.set()
        await Item.objects.acreate(name="first-after")

    async def second() -> None:
        await first_in.wait()
        with skip:
            second_in.set()
            await first_out.wait()
            await Item.objects.acreate(name="second")
        await Item.objects.acreate(name="second-after")

    with routed_to(using):
        await asyncio.wait_for(asyncio.gather(first(), second()), WAIT)
    assert sorted(ran) == ["OnItem:first-after", "OnItem:second-after"]


@pytest.mark.django_db(transaction=True)
def test_shared_bypass_instance_in_concurrent_threads(using: str, ran: list[str]) -> None:
    """One bypass object may be entered by overlapping threads, each leaving its own block."""
    watch(ran, "OnItem", Item)
    skip = bypass(Item)
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    # The blocks overlap; the writes take turns (SQLite's shared cache refuses, rather
    # than waits for, a second writer).
    first_done = threading.Event()

    def first() -> None:
        try:
            with skip:
                first_in.set()
                assert second_in.wait(WAIT)
                Item.objects.create(name="first")
        finally:
            first_out.set()
        Item.objects.create(name="first-after")
        first_done.set()

    def second() -> None:
        assert first_in.wait(WAIT)
        with skip:
            second_in.set()
            assert first_out.wait(WAIT)
            assert first_done.wait(WAIT)
            Item.objects.create(name="second")
        Item.objects.create(name="second-after")

    run_in_threads(using, first, second)
    assert sorted(ran) == ["OnItem:first-after", "OnItem:second-after"]


def test_bypass_covers_commit_stage(using: str, django_capture_on_commit_callbacks: Any) -> None:
    """A trigger bypassed during an operation does not run at commit either."""
    committed: list[str] = []

    class Committed(Trigger[Item]):
        def on_commit_create(self, new: list[Item]) -> None:
            committed.extend(row.name for row in new)

    with django_capture_on_commit_callbacks(using=using, execute=True):
        with bypass(Committed):
            Item.objects.create(name="skipped")
        Item.objects.create(name="kept")
    assert committed == ["kept"]
