"""API.md "Event methods" and "Which operations fire", checked as an outsider reads them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.db import connections, models, transaction
from django.db.models import F, QuerySet
from django.test.utils import CaptureQueriesContext

from bulk_triggers import Trigger, bypass
from tests.conformapp.models import (
    ConfAccount,
    ConfBigCoupon,
    ConfCoupon,
    ConfOrder,
    ConfTicket,
)
from tests.conformapp.spy import Log, define, spy

Op = Callable[[], Any]


def accounts(n: int = 3) -> list[ConfAccount]:
    """Create ``n`` accounts without firing anything."""
    with bypass():
        return [ConfAccount.objects.create(code=f"c{i}", balance=i) for i in range(n)]


def _save_new() -> Any:
    return ConfAccount(code="new").save()


def _create() -> Any:
    return ConfAccount.objects.create(code="new").pk is not None


def _get_or_create() -> Any:
    _obj, created = ConfAccount.objects.get_or_create(code="new", defaults={"name": "n"})
    return created


def _bulk_create() -> Any:
    return len(ConfAccount.objects.bulk_create([ConfAccount(code="n1"), ConfAccount(code="n2")]))


def _save_existing() -> Any:
    obj = ConfAccount.objects.get(code="c0")
    obj.name = "renamed"
    return obj.save()


def _save_update_fields() -> Any:
    obj = ConfAccount.objects.get(code="c0")
    obj.name = "renamed"
    return obj.save(update_fields=["name"])


def _update_or_create() -> Any:
    _obj, created = ConfAccount.objects.update_or_create(code="c0", defaults={"name": "u"})
    return created


def _bulk_update() -> Any:
    objs = list(ConfAccount.objects.order_by("pk"))
    for obj in objs:
        obj.name = "b"
    return ConfAccount.objects.bulk_update(objs, ["name"])


def _update() -> Any:
    return ConfAccount.objects.filter(balance__gte=1).update(balance=F("balance") + 10)


def _obj_delete() -> Any:
    return ConfAccount.objects.get(code="c0").delete()


def _qs_delete() -> Any:
    return ConfAccount.objects.filter(balance__gte=1).delete()


def _asave() -> Any:
    obj = ConfAccount(code="new")
    return async_to_sync(obj.asave)()


def _acreate() -> Any:
    return async_to_sync(ConfAccount.objects.acreate)(code="new").pk is not None


def _abulk_create() -> Any:
    return len(async_to_sync(ConfAccount.objects.abulk_create)([ConfAccount(code="n1")]))


def _abulk_update() -> Any:
    objs = list(ConfAccount.objects.order_by("pk"))
    for obj in objs:
        obj.name = "b"
    return async_to_sync(ConfAccount.objects.abulk_update)(objs, ["name"])


def _aupdate() -> Any:
    return async_to_sync(ConfAccount.objects.filter(balance__gte=1).aupdate)(name="a")


def _adelete() -> Any:
    return async_to_sync(ConfAccount.objects.filter(balance__gte=1).adelete)()


def _adelete_obj() -> Any:
    obj = ConfAccount.objects.get(code="c0")
    return async_to_sync(obj.adelete)()


OPERATIONS: dict[str, tuple[Op, str, int]] = {
    "save-new": (_save_new, "create", 1),
    "create": (_create, "create", 1),
    "get_or_create": (_get_or_create, "create", 1),
    "bulk_create": (_bulk_create, "create", 2),
    "save-existing": (_save_existing, "update", 1),
    "save-update_fields": (_save_update_fields, "update", 1),
    "update_or_create": (_update_or_create, "update", 1),
    "bulk_update": (_bulk_update, "update", 3),
    "update": (_update, "update", 2),
    "obj.delete": (_obj_delete, "delete", 1),
    "qs.delete": (_qs_delete, "delete", 2),
    "asave": (_asave, "create", 1),
    "acreate": (_acreate, "create", 1),
    "abulk_create": (_abulk_create, "create", 1),
    "abulk_update": (_abulk_update, "update", 3),
    "aupdate": (_aupdate, "update", 2),
    "adelete": (_adelete, "delete", 2),
    "obj.adelete": (_adelete_obj, "delete", 1),
}


@pytest.mark.parametrize("name", OPERATIONS)
def test_each_operation_fires_its_event_at_before_and_after(using: str, name: str) -> None:
    """Every operation of the table fires its event, before then after, with its rows."""
    op, event, rows = OPERATIONS[name]
    accounts()
    log = Log()
    spy(ConfAccount, log)
    op()
    assert [(c.stage, c.event) for c in log.calls] == [("before", event), ("after", event)]
    assert all(len(c.pks) == rows for c in log.calls)
    assert all(c.using == using for c in log.calls)


@pytest.mark.parametrize("name", OPERATIONS)
def test_return_values_equal_djangos(using: str, name: str) -> None:
    """Each operation returns what the same operation returns with every trigger bypassed."""
    op = OPERATIONS[name][0]
    accounts()
    spy(ConfAccount, Log())
    with transaction.atomic(using=using):
        fired = op()
        transaction.set_rollback(True, using=using)
    with bypass():
        plain = op()
    assert fired == plain


def _plain_save_existing() -> Any:
    obj = ConfAccount.objects.get(code="c0")
    obj.name = "renamed"
    return models.Model.save(obj)


def _plain_qs(using: str) -> QuerySet[ConfAccount]:
    return QuerySet(ConfAccount, using=using)


@pytest.mark.parametrize(
    ("name", "plain"),
    [
        ("create", lambda using: _plain_qs(using).create(code="new")),
        ("bulk_create", lambda using: _plain_qs(using).bulk_create([ConfAccount(code="n1")])),
        ("update", lambda using: _plain_qs(using).filter(balance__gte=1).update(balance=1)),
        ("qs.delete", lambda using: _plain_qs(using).filter(balance__gte=1).delete()),
        (
            "bulk_update",
            lambda using: _plain_qs(using).bulk_update(
                list(_plain_qs(using).order_by("pk")), ["name"]
            ),
        ),
    ],
)
def test_no_trigger_for_the_model_costs_what_django_costs(
    using: str, name: str, plain: Callable[[str], Any]
) -> None:
    """With triggers only on another model, an operation runs plain Django's queries."""
    spy(ConfTicket, Log())
    accounts()
    ops = {
        "create": lambda: ConfAccount.objects.create(code="new"),
        "bulk_create": lambda: ConfAccount.objects.bulk_create([ConfAccount(code="n1")]),
        "update": lambda: ConfAccount.objects.filter(balance__gte=1).update(balance=1),
        "qs.delete": lambda: ConfAccount.objects.filter(balance__gte=1).delete(),
        "bulk_update": lambda: ConfAccount.objects.bulk_update(
            list(ConfAccount.objects.order_by("pk")), ["name"]
        ),
    }
    connection = connections[using]
    with transaction.atomic(using=using):
        with CaptureQueriesContext(connection) as ours:
            ops[name]()
        transaction.set_rollback(True, using=using)
    with CaptureQueriesContext(connection) as django:
        plain(using)
    assert len(ours) == len(django), [q["sql"] for q in ours]


def test_before_mutations_are_written_outside_update_fields(using: str) -> None:
    """A before-update change to a field outside ``update_fields`` is persisted."""
    (account, *_) = accounts(1)

    class Stamp(Trigger[ConfAccount]):
        def on_before_update(self, new: list[ConfAccount], old: list[ConfAccount]) -> None:
            for row in new:
                row.status = "stamped"

    account.name = "x"
    account.save(update_fields=["name"])
    ConfAccount.objects.filter(pk=account.pk).update(balance=5)
    objs = list(ConfAccount.objects.all())
    ConfAccount.objects.filter(pk=account.pk).update(status="reset")
    for obj in objs:
        obj.balance = 9
    ConfAccount.objects.bulk_update(objs, ["balance"])
    stored = ConfAccount.objects.get(pk=account.pk)
    assert (stored.name, stored.status, stored.balance) == ("x", "stamped", 9)


def test_before_create_mutations_are_inserted(using: str) -> None:
    """A before-create change is inserted, on save, create and bulk_create alike."""

    class Upper(Trigger[ConfAccount]):
        def on_before_create(self, new: list[ConfAccount]) -> None:
            for row in new:
                row.name = row.code.upper()

    ConfAccount(code="a").save()
    ConfAccount.objects.create(code="b")
    ConfAccount.objects.bulk_create([ConfAccount(code="c"), ConfAccount(code="d")])
    assert dict(ConfAccount.objects.values_list("code", "name")) == {
        "a": "A",
        "b": "B",
        "c": "C",
        "d": "D",
    }


@pytest.mark.parametrize("name", ["create", "bulk_create", "abulk_create", "save-new"])
def test_after_create_has_primary_keys(using: str, name: str) -> None:
    """After-create rows carry their primary keys, matching the stored rows."""
    log = Log()
    spy(ConfAccount, log, stages=("after",), events=("create",))
    OPERATIONS[name][0]()
    (call,) = log.calls
    assert None not in call.pks
    assert set(call.pks) <= set(ConfAccount.objects.values_list("pk", flat=True))


def test_after_update_of_an_expression_sees_stored_values(using: str) -> None:
    """After ``update(balance=F(...) + 10)``, ``new`` holds the stored integers."""
    accounts()
    log = Log()
    spy(ConfAccount, log, events=("update",))
    _update()
    after = log.of("after")[0]
    assert sorted(row["balance"] for row in after.new or []) == [11, 12]
    assert sorted(row["balance"] for row in after.old or []) == [1, 2]


def test_changes_to_old_are_ignored(using: str) -> None:
    """``old`` is a snapshot: changing it writes nothing and later triggers see the stored value."""
    (account, *_) = accounts(1)
    seen: list[str] = []

    class Meddle(Trigger[ConfAccount]):
        order = 1

        def on_before_update(self, new: list[ConfAccount], old: list[ConfAccount]) -> None:
            old[0].name = "meddled"

    class Look(Trigger[ConfAccount]):
        order = 2

        def on_before_update(self, new: list[ConfAccount], old: list[ConfAccount]) -> None:
            seen.append(new[0].status)

    account.status = "changed"
    account.save()
    assert ConfAccount.objects.get(pk=account.pk).name == ""
    assert seen == ["changed"]


def test_order_runs_lower_first_ties_keep_definition_order(using: str) -> None:
    """``order`` sorts triggers; equal orders run in definition order."""
    ran: list[str] = []

    def make(label: str, rank: int) -> None:
        body = {"order": rank, "on_before_create": lambda self, new: ran.append(label)}
        define(label, ConfAccount, body)

    make("Third", 20)
    make("First", 10)
    make("Second", 10)
    make("Default", 0)
    ConfAccount.objects.create(code="x")
    assert ran[-3:] == ["First", "Second", "Third"]


def test_concrete_triggers_fire_through_a_proxy_and_proxy_triggers_only_through_it(
    using: str,
) -> None:
    """A concrete model's trigger fires for its proxy; a proxy's trigger only for the proxy."""
    concrete, proxy = Log(), Log()
    spy(ConfCoupon, concrete, stages=("before",))
    spy(ConfBigCoupon, proxy, stages=("before",))
    ConfCoupon.objects.create(label="plain")
    ConfBigCoupon.objects.create(label="big")
    ConfBigCoupon.objects.update(amount=1)
    ConfCoupon.objects.filter(label="plain").delete()
    assert [c.event for c in concrete.calls] == ["create", "create", "update", "delete"]
    assert [c.event for c in proxy.calls] == ["create", "update"]
    assert proxy.calls[0].types == ["ConfBigCoupon"]


def test_commit_stage_runs_after_commit_and_never_on_rollback(
    using: str, django_capture_on_commit_callbacks: Any
) -> None:
    """Commit methods run once the outermost transaction commits; rolled-back savepoints never."""
    log = Log()
    spy(ConfAccount, log, stages=("commit",))
    with (
        django_capture_on_commit_callbacks(using=using, execute=True),
        transaction.atomic(using=using),
    ):
        ConfAccount.objects.create(code="kept")
        try:
            with transaction.atomic(using=using):
                ConfAccount.objects.create(code="lost")
                raise RuntimeError("roll the savepoint back")
        except RuntimeError:
            pass
        assert log.calls == []
    assert [(c.event, [r["code"] for r in c.new or []]) for c in log.calls] == [
        ("create", ["kept"])
    ]


def test_commit_stage_after_an_exception_in_after_stage_never_runs(
    using: str, django_capture_on_commit_callbacks: Any
) -> None:
    """An exception in an after trigger rolls the operation back; its commit stage never runs."""
    log = Log()
    spy(ConfAccount, log, stages=("commit",))

    class Boom(Trigger[ConfAccount]):
        def on_after_create(self, new: list[ConfAccount]) -> None:
            raise LookupError("boom")

    with (
        django_capture_on_commit_callbacks(using=using, execute=True),
        pytest.raises(LookupError, match="boom"),
    ):
        ConfAccount.objects.create(code="x")
    assert log.calls == []
    assert not ConfAccount.objects.exists()


@pytest.mark.parametrize(
    "op",
    [
        lambda: ConfAccount.objects.none().update(name="x"),
        lambda: ConfAccount.objects.filter(code="nobody").update(name="x"),
        lambda: ConfAccount.objects.none().delete(),
        lambda: ConfAccount.objects.filter(code="nobody").delete(),
        lambda: ConfAccount.objects.bulk_create([]),
        lambda: ConfAccount.objects.bulk_update([], ["name"]),
    ],
    ids=[
        "none-update",
        "no-match-update",
        "none-delete",
        "no-match-delete",
        "bulk_create-[]",
        "bulk_update-[]",
    ],
)
def test_empty_operations_fire_nothing_and_return_djangos_value(using: str, op: Op) -> None:
    """An operation that touches no row runs no trigger method and returns Django's value."""
    accounts(1)
    log = Log()
    spy(ConfAccount, log)
    fired = op()
    with bypass():
        plain = op()
    assert log.calls == []
    assert fired == plain


def test_select_for_update_inside_a_user_transaction(using: str) -> None:
    """Writes through a ``select_for_update()`` queryset fire as usual inside ``atomic``."""
    accounts()
    log = Log()
    spy(ConfAccount, log, stages=("before", "after"), events=("update", "delete"))
    with transaction.atomic(using=using):
        locked = ConfAccount.objects.select_for_update().filter(balance__gte=1)
        assert locked.update(name="locked") == 2
        assert locked.filter(balance=2).delete()[0] == 1
    assert [(c.stage, c.event, len(c.pks)) for c in log.calls] == [
        ("before", "update", 2),
        ("after", "update", 2),
        ("before", "delete", 1),
        ("after", "delete", 1),
    ]


def test_uuid_primary_key_rows(using: str) -> None:
    """A Python-chosen UUID key is set before the before-create stage and kept through delete."""
    log = Log()
    spy(ConfTicket, log)
    tickets = ConfTicket.objects.bulk_create([ConfTicket(subject="a"), ConfTicket(subject="b")])
    ConfTicket.objects.update(state="closed")
    ConfTicket.objects.all().delete()
    keys = {t.pk for t in tickets}
    assert all(set(c.pks) == keys for c in log.calls)


def test_to_field_foreign_key_is_seen_as_the_target_field(using: str) -> None:
    """A ``to_field`` foreign key's id in ``new`` and ``old`` is the target field's value."""
    (a, b, _) = accounts()
    with bypass():
        order = ConfOrder.objects.create(account=a, billed=a)
    log = Log()
    spy(ConfOrder, log, events=("update",), stages=("after",))
    order.billed = b
    order.save()
    (call,) = log.calls
    assert (call.old or [])[0]["billed_id"] == "c0"
    assert (call.new or [])[0]["billed_id"] == "c1"
