"""Related rows in trigger bodies without N+1: declared preloads, fetch peers, managers."""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connections, models, transaction
from django.test.utils import CaptureQueriesContext

from bulk_triggers import HasChanged, Trigger, TriggerDefinitionError, TriggerManager
from bulk_triggers.related import FETCH_PEERS
from bulk_triggers.testing import isolated_registry
from tests.condsapp.models import CondAccount, CondLine, CondOrder, CondProfile

EVENTS = {
    "update": lambda: CondOrder.objects.update(status="x"),
    "bulk_update": lambda: CondOrder.objects.bulk_update(list(CondOrder.objects.all()), ["status"]),
    "delete": lambda: CondOrder.objects.all().delete(),
    "bulk_create": lambda: CondOrder.objects.bulk_create(
        [CondOrder(account_id=o.account_id) for o in CondOrder.objects.all()]
    ),
}
EVENT_OF = {
    "update": "update",
    "bulk_update": "update",
    "delete": "delete",
    "bulk_create": "create",
}


def orders(count: int = 3) -> None:
    """Create ``count`` orders, each with its own account, profile and two lines."""
    for n in range(count):
        order = CondOrder.objects.create(
            account=CondAccount.objects.create(code=str(n)),
            profile=CondProfile.objects.create(level=n),
        )
        CondLine.objects.bulk_create(
            [CondLine(order=order, sku="a"), CondLine(order=order, sku="b")]
        )


def reading(using: str, event: str, touch: Callable[[CondOrder], Any], **attrs: Any) -> list[int]:
    """Define a trigger whose after stage reads ``touch(row)`` per row; return body query counts."""
    counts: list[int] = []

    def method(self: Any, *groups: list[CondOrder]) -> None:
        with CaptureQueriesContext(connections[using]) as queries:
            for group in groups:
                for row in group:
                    touch(row)
        counts.append(len(queries))

    namespace = {f"on_after_{event}": method, "__module__": __name__, **attrs}
    types.new_class("Reads", (Trigger[CondOrder],), {}, lambda ns: ns.update(namespace))
    return counts


def _count(using: str, operation: Callable[[], Any]) -> int:
    with CaptureQueriesContext(connections[using]) as queries:
        operation()
    return len(queries)


def _account_and_lines(row: CondOrder) -> None:
    assert row.account is not None
    row.account.status  # noqa: B018
    list(row.lines.all())


@pytest.mark.parametrize("operation", EVENTS, ids=EVENTS)
def test_declared_preload_loads_each_relation_once(using: str, operation: str) -> None:
    """select_related/prefetch_related: 3 rows x 2 relations cost 2 queries, none in the body."""
    orders()
    event = EVENT_OF[operation]
    with isolated_registry():
        reading(using, event, lambda row: None)
        plain = _measure(using, operation)
    creating = event == "create"
    with isolated_registry():
        counts = reading(
            using,
            event,
            (lambda row: row.account.code) if creating else _account_and_lines,
            select_related=("account",),
            prefetch_related=() if creating else ("lines",),
        )
        preloaded = _measure(using, operation)
    assert counts == [0]
    assert preloaded - plain == (1 if creating else 2)


def _measure(using: str, operation: str) -> int:
    """Run ``operation`` in a savepoint that rolls back, and return its query count."""
    with transaction.atomic(using=using):
        count = _count(using, EVENTS[operation])
        transaction.set_rollback(True, using=using)
    return count


def test_preload_keeps_a_related_cache(using: str) -> None:
    """A row whose relation is cached keeps its object; only the uncached old row is loaded."""
    orders(1)
    order = CondOrder.objects.select_related("account").get()
    seen: list[Any] = []
    counts = reading(using, "update", seen.append, select_related=("account",))
    order.status = "y"
    with CaptureQueriesContext(connections[using]) as queries:
        order.save()
    new, old = seen
    assert counts == [0]
    assert new.account is order.account
    assert old.account == order.account and old.account is not order.account
    assert sum("condsapp_condaccount" in q["sql"] for q in queries.captured_queries) == 1


@pytest.mark.skipif(FETCH_PEERS is None, reason="fetch modes are Django 6.1+")
@pytest.mark.parametrize("operation", ["update", "delete"])
def test_undeclared_access_loads_for_peers(using: str, operation: str) -> None:
    """On Django 6.1+, an undeclared relation is loaded for all the trigger's rows at once."""
    orders()
    counts = reading(using, EVENT_OF[operation], lambda row: (row.account.code, row.profile.level))
    EVENTS[operation]()
    assert counts == [2]


def test_commit_stage_copies_load_their_relations(
    using: str, django_capture_on_commit_callbacks: Any
) -> None:
    """Commit-stage rows (copies of the after stage's) read their relations correctly."""
    orders()
    codes: list[str] = []

    class Commit(Trigger[CondOrder]):
        def on_after_update(self, new: list[CondOrder], old: list[CondOrder]) -> None:
            pass

        def on_commit_update(self, new: list[CondOrder], old: list[CondOrder]) -> None:
            codes.extend(row.account.code for row in new)  # type: ignore[union-attr]

    with django_capture_on_commit_callbacks(using=using, execute=True):
        CondOrder.objects.update(status="c")
    assert sorted(codes) == ["0", "1", "2"]


@pytest.mark.parametrize(
    ("attrs", "message"),
    [
        ({"select_related": ("lines",)}, r"Reads.select_related: .*CondOrder.lines is not a Fore"),
        ({"select_related": ("acount",)}, r"Reads.select_related: .*has no relation 'acount'"),
        ({"select_related": ("status",)}, r"CondOrder.status is not a relation"),
        ({"select_related": "account"}, r"Reads.select_related must be a tuple"),
        ({"prefetch_related": ("lines__nope",)}, r"CondLine has no relation 'nope'"),
        ({"prefetch_related": (5,)}, r"5 is not a relation name"),
    ],
)
def test_preloads_are_validated_at_definition(attrs: dict[str, Any], message: str) -> None:
    """A preload naming something that is not a relation fails where the trigger is defined."""
    with pytest.raises(TriggerDefinitionError, match=message):
        reading("default", "update", lambda row: None, **attrs)


def test_valid_preloads_are_accepted() -> None:
    """Forward paths, reverse relations and Prefetch objects are accepted."""
    reading(
        "default",
        "update",
        lambda row: None,
        select_related=("account__owner", "profile"),
        prefetch_related=("lines", models.Prefetch("lines"), "account__billed_orders"),
        condition=HasChanged("status"),
    )


def test_trigger_manager_is_a_manager(using: str) -> None:
    """TriggerManager, and the related managers Django derives from it, are Managers."""
    orders(1)
    order = CondOrder.objects.get()
    assert isinstance(CondOrder.objects, models.Manager)
    assert isinstance(order.lines, models.Manager)
    assert isinstance(order.lines, TriggerManager)
    received = []

    class Lines(Trigger[CondLine]):
        def on_after_update(self, new: list[CondLine], old: list[CondLine]) -> None:
            received.extend(row.sku for row in new)

    order.lines.update(sku="z")
    assert received == ["z", "z"]
