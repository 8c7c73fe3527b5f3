"""API.md "Relations": cascades, SET_*, generic relations, M2M, MTI, abstract, composite keys."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.db import connections, models, transaction
from django.db.models.deletion import Collector
from django.test.utils import CaptureQueriesContext

from bulk_triggers import Trigger, bypass
from tests.conformapp.models import (
    ConfAccount,
    ConfBigCoupon,
    ConfBook,
    ConfCoupon,
    ConfEbook,
    ConfGift,
    ConfGroup,
    ConfInvoice,
    ConfItem,
    ConfLineNote,
    ConfMembership,
    ConfNote,
    ConfOrder,
    ConfOrderLine,
    ConfProduct,
    ConfReview,
    ConfStock,
    ConfTag,
    ConfTicket,
    ConfVoucher,
    fallback_account,
)
from tests.conformapp.spy import Log, spy

TREE: list[type[models.Model]] = [
    ConfAccount,
    ConfOrder,
    ConfOrderLine,
    ConfLineNote,
    ConfReview,
    ConfVoucher,
    ConfInvoice,
    ConfNote,
    ConfMembership,
]


def shop(n: int = 2) -> list[ConfAccount]:
    """Create ``n`` accounts, each with a row behind every relation, without triggers."""
    with bypass():
        fallback_account()
        group = ConfGroup.objects.create(name="g")
        tag = ConfTag.objects.create(name="t")
        made = []
        for i in range(n):
            account = ConfAccount.objects.create(code=f"a{i}")
            for o in range(2):
                order = ConfOrder.objects.create(account=account, billed=account, total=o)
                for s in range(2):
                    line = ConfOrderLine.objects.create(order=order, sku=f"s{s}")
                    ConfLineNote.objects.create(line=line, text="n")
            ConfReview.objects.create(account=account)
            ConfVoucher.objects.create(account=account)
            ConfInvoice.objects.create(account=account)
            ConfNote.objects.create(target=account, text="g")
            ConfMembership.objects.create(account=account, group=group)
            account.tags.add(tag)
            made.append(account)
    return made


def counts() -> dict[str, int]:
    """Return the row count of every model of the tree."""
    return {m.__name__: m._base_manager.count() for m in TREE}


def test_cascade_fires_every_model_once_per_stage(using: str) -> None:
    """Deleting accounts fires each reached model's triggers once per stage with its rows."""
    (first, second) = shop()
    log = Log()
    for model in TREE:
        spy(model, log)
    first.delete()
    per = Counter((c.stage, c.event, c.trigger_model) for c in log.calls if c.stage != "commit")
    assert all(n == 1 for n in per.values()), per
    rows = {(c.stage, c.event, c.trigger_model): len(c.pks) for c in log.calls}
    label = "conformapp.Conf"
    for stage in ("before", "after"):
        assert rows[stage, "delete", f"{label}Account"] == 1
        assert rows[stage, "delete", f"{label}Order"] == 2
        assert rows[stage, "delete", f"{label}OrderLine"] == 4
        assert rows[stage, "delete", f"{label}LineNote"] == 4
        assert rows[stage, "delete", f"{label}Note"] == 1
        assert rows[stage, "delete", f"{label}Membership"] == 1
        for kept in ("Review", "Voucher", "Invoice"):
            assert rows[stage, "update", f"{label}{kept}"] == 1
            assert (stage, "delete", f"{label}{kept}") not in rows
    assert ConfAccount.objects.filter(pk=second.pk).exists()


def test_cascade_before_stages_run_before_any_row_goes(using: str) -> None:
    """Every before stage sees the whole tree stored; every after stage sees it gone."""
    shop(1)
    full = counts()
    seen: dict[str, dict[str, int]] = {}

    def look(trigger: Trigger[Any], stage: str, event: str, *rows: Any) -> None:
        assert trigger.model is not None
        seen[f"{stage} {event} {trigger.model.__name__}"] = counts()

    for model in TREE:
        spy(model, Log(), hook=look, stages=("before", "after"))
    ConfAccount.objects.filter(code="a0").delete()
    end = counts()
    assert seen and all(
        snapshot == (full if key.startswith("before") else end) for key, snapshot in seen.items()
    )


def test_set_null_default_and_callable_give_old_and_new(using: str) -> None:
    """Rows re-keyed by SET_NULL, SET_DEFAULT and SET() fire update with the old and new key."""
    (account, _) = shop()
    fallback = ConfAccount.objects.get(code="fallback").pk
    log = Log()
    for model in (ConfReview, ConfVoucher, ConfInvoice):
        spy(model, log, events=("update",), stages=("before", "after"))
    ConfAccount.objects.filter(pk=account.pk).delete()
    got = {
        (c.stage, c.trigger_model): ((c.old or [])[0]["account_id"], (c.new or [])[0]["account_id"])
        for c in log.calls
    }
    for stage in ("before", "after"):
        assert got[stage, "conformapp.ConfReview"] == (account.pk, None)
        assert got[stage, "conformapp.ConfVoucher"] == (account.pk, None)
        assert got[stage, "conformapp.ConfInvoice"] == (account.pk, fallback)
    assert set(ConfInvoice.objects.values_list("account_id", flat=True)) >= {fallback}


def test_rows_nulled_before_their_delete_fire_delete_alone(using: str) -> None:
    """A line both cascaded (via its order) and SET_NULL'd (as buyer) fires only delete."""
    (account, _) = shop()
    with bypass():
        ConfOrderLine.objects.filter(order__account=account).update(buyer=account)
    log = Log()
    spy(ConfOrderLine, log, stages=("before", "after"))
    account.delete()
    assert [(c.stage, c.event, len(c.pks)) for c in log.calls] == [
        ("before", "delete", 4),
        ("after", "delete", 4),
    ]


def test_cascade_through_the_to_field_foreign_key(using: str) -> None:
    """Orders reached only by their ``to_field`` key are cascaded too, with their triggers."""
    with bypass():
        a, b = (ConfAccount.objects.create(code=c) for c in "ab")
        order = ConfOrder.objects.create(account=a, billed=b)
    log = Log()
    spy(ConfOrder, log, stages=("before",))
    b.delete()
    assert [(c.event, c.pks) for c in log.calls] == [("delete", [order.pk])]


def test_a_before_delete_error_leaves_the_tree_intact(using: str) -> None:
    """An exception from a cascaded model's trigger rolls every delete and SET_* back."""
    shop(1)
    before = counts()

    class Refuse(Trigger[ConfLineNote]):
        def on_after_delete(self, old: list[ConfLineNote]) -> None:
            raise PermissionError("kept")

    with pytest.raises(PermissionError):
        ConfAccount.objects.filter(code="a0").delete()
    assert counts() == before
    assert ConfReview.objects.filter(account__isnull=True).count() == 0


@pytest.mark.parametrize(
    "op",
    [
        lambda: ConfAccount.objects.filter(code="a0").delete(),
        lambda: ConfAccount.objects.get(code="a0").delete(),
        lambda: async_to_sync(ConfAccount.objects.filter(code="a0").adelete)(),
    ],
    ids=["qs", "obj", "async"],
)
def test_cascade_return_value_equals_djangos(using: str, op: Any) -> None:
    """A cascading delete returns Django's ``(total, per-model counts)``."""
    shop()
    spy(ConfOrderLine, Log())
    spy(ConfReview, Log(), events=("update",))
    with transaction.atomic(using=using):
        fired = op()
        transaction.set_rollback(True, using=using)
    with bypass():
        plain = op()
    assert fired == plain


@pytest.mark.parametrize(
    "elsewhere",
    [None, ConfTicket, ConfOrder],
    ids=["no-trigger", "unreachable-model", "update-only-on-cascaded-model"],
)
def test_delete_without_reachable_trigger_costs_what_django_costs(
    using: str, elsewhere: type[models.Model] | None
) -> None:
    """No delete trigger reachable and no update trigger on a SET_* model: Django's queries."""
    shop()
    if elsewhere is not None:
        spy(elsewhere, Log(), events=("update",) if elsewhere is ConfOrder else ("delete",))
    connection = connections[using]
    with transaction.atomic(using=using):
        with CaptureQueriesContext(connection) as ours:
            ConfAccount.objects.filter(code="a0").delete()
        transaction.set_rollback(True, using=using)
    with CaptureQueriesContext(connection) as django:
        models.QuerySet(ConfAccount, using=using).filter(code="a0").delete()
    assert len(ours) == len(django)


def test_an_update_trigger_on_a_set_null_model_is_reachable(using: str) -> None:
    """An update trigger on a SET_NULL model makes the delete dispatch it."""
    shop()
    log = Log()
    spy(ConfReview, log, events=("update",), stages=("after",))
    ConfAccount.objects.filter(code="a0").delete()
    assert len(log.calls) == 1


def test_many_to_many_through_rows_fire_on_delete_of_either_side(using: str) -> None:
    """The explicit through model's delete triggers fire when a group or account goes."""
    shop()
    log = Log()
    spy(ConfMembership, log, stages=("before",))
    ConfGroup.objects.all().delete()
    assert [(c.event, len(c.pks)) for c in log.calls] == [("delete", 2)]


def test_auto_created_through_rows_are_removed_with_triggers_elsewhere(using: str) -> None:
    """Deleting a tag under triggers removes its auto-created through rows, as Django does."""
    shop()
    spy(ConfTag, Log())
    link = ConfAccount.tags.through
    assert link.objects.count() == 2
    assert ConfTag.objects.all().delete() == (
        3,
        {"conformapp.ConfAccount_tags": 2, "conformapp.ConfTag": 1},
    )
    assert link.objects.count() == 0


def test_generic_relation_rows_fire_their_delete_triggers(using: str) -> None:
    """Notes attached by a generic relation fire delete when their account goes."""
    (account, other) = shop()
    log = Log()
    spy(ConfNote, log, stages=("before", "after"))
    account.delete()
    assert [(c.stage, c.event, len(c.pks)) for c in log.calls] == [
        ("before", "delete", 1),
        ("after", "delete", 1),
    ]
    assert ConfNote.objects.filter(object_id=other.pk).count() == 1


def test_multi_table_child_fires_every_parent_with_child_instances(using: str) -> None:
    """Operations on an ebook fire book and product triggers with ebook instances, once."""
    logs = {model: Log() for model in (ConfProduct, ConfBook, ConfEbook)}
    for model, log in logs.items():
        spy(model, log, stages=("before", "after"))
    ebook = ConfEbook.objects.create(title="e", price=1)
    ebook.price = 2
    ebook.save()
    ConfEbook.objects.filter(pk=ebook.pk).update(price=3, size=4)
    ConfEbook.objects.get(pk=ebook.pk).delete()
    for log in logs.values():
        assert [(c.stage, c.event) for c in log.calls] == [
            (stage, event)
            for event in ("create", "update", "update", "delete")
            for stage in ("before", "after")
        ]
        assert all(c.types == ["ConfEbook"] for c in log.calls)
        assert all(c.pks == [ebook.pk] for c in log.calls[1:])
    assert not ConfProduct.objects.exists()


def test_multi_table_parent_operation_does_not_fire_child_triggers(using: str) -> None:
    """Creating a plain product fires product triggers, not the child models'."""
    product_log, book_log = Log(), Log()
    spy(ConfProduct, product_log, stages=("before",))
    spy(ConfBook, book_log, stages=("before",))
    ConfProduct.objects.create(title="p")
    assert (len(product_log.calls), len(book_log.calls)) == (1, 0)


def test_deleting_a_parent_cascades_to_its_child_rows(using: str) -> None:
    """Deleting a product row that is a book fires book's delete triggers (collector's rows)."""
    with bypass():
        book = ConfBook.objects.create(title="b")
    log = Log()
    spy(ConfBook, log, stages=("before",))
    ConfProduct.objects.filter(pk=book.pk).delete()
    assert [(c.event, c.pks) for c in log.calls] == [("delete", [book.pk])]


def test_abstract_model_trigger_fires_for_subclasses_and_proxies(using: str) -> None:
    """``Trigger[ConfItem]`` fires for both concrete subclasses and the proxy; model is abstract."""
    log = Log()
    item_spy = spy(ConfItem, log, stages=("before",))
    assert item_spy.model is ConfItem
    ConfGift.objects.create(label="g")
    ConfCoupon.objects.create(label="c")
    ConfBigCoupon.objects.bulk_create([ConfBigCoupon(label="b")])
    ConfGift.objects.update(amount=1)
    ConfBigCoupon.objects.all().delete()
    assert [(c.event, c.types) for c in log.calls] == [
        ("create", ["ConfGift"]),
        ("create", ["ConfCoupon"]),
        ("create", ["ConfBigCoupon"]),
        ("update", ["ConfGift"]),
        ("delete", ["ConfBigCoupon", "ConfBigCoupon"]),
    ]


COMPOSITE_OPS: dict[str, Any] = {
    "save-new": lambda: ConfStock(warehouse="w", sku="new").save(),
    "create": lambda: ConfStock.objects.create(warehouse="w", sku="new").pk,
    "bulk_create": lambda: [
        s.pk for s in ConfStock.objects.bulk_create([ConfStock(warehouse="x", sku="1")])
    ],
    "save-existing": lambda: _stock_save(),
    "bulk_update": lambda: ConfStock.objects.bulk_update(_stocks(9), ["quantity"]),
    "update": lambda: ConfStock.objects.filter(warehouse="w").update(quantity=5),
    "obj.delete": lambda: ConfStock.objects.get(warehouse="w", sku="a").delete(),
    "qs.delete": lambda: ConfStock.objects.filter(warehouse="w").delete(),
    "abulk_update": lambda: async_to_sync(ConfStock.objects.abulk_update)(_stocks(7), ["quantity"]),
    "aupdate": lambda: async_to_sync(ConfStock.objects.filter(sku="a").aupdate)(quantity=1),
    "adelete": lambda: async_to_sync(ConfStock.objects.filter(sku="b").adelete)(),
    "update_or_create": lambda: ConfStock.objects.update_or_create(
        warehouse="w", sku="a", defaults={"quantity": 3}
    )[1],
    "get_or_create": lambda: ConfStock.objects.get_or_create(warehouse="z", sku="a")[1],
}


def _stocks(quantity: int) -> list[ConfStock]:
    stocks = list(ConfStock.objects.order_by("warehouse", "sku"))
    for stock in stocks:
        stock.quantity = quantity
    return stocks


def _stock_save() -> Any:
    stock = ConfStock.objects.get(pk=("w", "a"))
    stock.quantity = 4
    return stock.save()


@pytest.mark.parametrize("name", COMPOSITE_OPS)
def test_composite_primary_key_supports_every_operation(using: str, name: str) -> None:
    """A composite-key model fires its triggers, returns Django's values and stores the same."""
    with bypass():
        ConfStock.objects.bulk_create(ConfStock(warehouse="w", sku=s) for s in "ab")
    log = Log()
    spy(ConfStock, log, stages=("before", "after"))
    with transaction.atomic(using=using):
        fired = COMPOSITE_OPS[name]()
        stored = sorted(ConfStock.objects.values_list("warehouse", "sku", "quantity"))
        transaction.set_rollback(True, using=using)
    with bypass():
        plain = COMPOSITE_OPS[name]()
    assert fired == plain
    assert stored == sorted(ConfStock.objects.values_list("warehouse", "sku", "quantity"))
    assert log.calls and all(isinstance(pk, tuple) for c in log.calls for pk in c.pks)
    assert [c.stage for c in log.calls] == ["before", "after"]


def _upsert_kwargs(using: str, **kwargs: Any) -> dict[str, Any]:
    if not connections[using].features.supports_update_conflicts_with_target:
        kwargs.pop("unique_fields", None)
    return kwargs


def test_update_conflicts_fires_create_and_update_with_stored_old(using: str) -> None:
    """Inserted rows fire create, updated rows fire update: ``old`` stored, ``new`` merged."""
    with bypass():
        ConfAccount.objects.create(code="a", name="stored", status="gold", balance=1)
    log = Log()
    spy(ConfAccount, log, stages=("before", "after"), events=("create", "update"))
    objs = [
        ConfAccount(code="a", name="caller", status="caller", balance=9),
        ConfAccount(code="b", name="fresh"),
    ]
    ConfAccount.objects.bulk_create(
        objs,
        **_upsert_kwargs(
            using, update_conflicts=True, update_fields=["name"], unique_fields=["code"]
        ),
    )
    creates = log.of(event="create")
    updates = log.of(event="update")
    assert [[r["code"] for r in c.new or []] for c in creates] == [["b"], ["b"]]
    for call in updates:
        (old,), (new,) = call.old or [], call.new or []
        assert (old["name"], old["status"], old["balance"]) == ("stored", "gold", 1)
        assert (new["name"], new["status"], new["balance"]) == ("caller", "gold", 1)
    assert len(updates) == 2
    assert ConfAccount.objects.get(code="a").status == "gold"


def test_update_conflicts_before_changes_outside_update_fields_are_written(using: str) -> None:
    """A before-update change to a field outside ``update_fields`` is written too."""
    with bypass():
        ConfAccount.objects.create(code="a", name="stored")

    class Flag(Trigger[ConfAccount]):
        def on_before_update(self, new: list[ConfAccount], old: list[ConfAccount]) -> None:
            for row in new:
                row.status = "upserted"

    ConfAccount.objects.bulk_create(
        [ConfAccount(code="a", name="caller")],
        **_upsert_kwargs(
            using, update_conflicts=True, update_fields=["name"], unique_fields=["code"]
        ),
    )
    stored = ConfAccount.objects.get(code="a")
    assert (stored.name, stored.status) == ("caller", "upserted")


def test_ignore_conflicts_fires_create_only_for_inserted_rows(using: str) -> None:
    """``ignore_conflicts=True`` fires create for the inserted rows alone, update never."""
    with bypass():
        ConfAccount.objects.create(code="a", name="stored")
    log = Log()
    spy(ConfAccount, log, stages=("before", "after"))
    ConfAccount.objects.bulk_create(
        [ConfAccount(code="a", name="dup"), ConfAccount(code="b")], ignore_conflicts=True
    )
    assert [(c.stage, c.event, [r["code"] for r in c.new or []]) for c in log.calls] == [
        ("before", "create", ["b"]),
        ("after", "create", ["b"]),
    ]
    assert ConfAccount.objects.get(code="a").name == "stored"


def test_ignore_conflicts_with_every_row_conflicting_fires_nothing(using: str) -> None:
    """When every row conflicts, no trigger method runs and the result is Django's."""
    with bypass():
        ConfAccount.objects.create(code="a")
    log = Log()
    spy(ConfAccount, log)
    result = ConfAccount.objects.bulk_create([ConfAccount(code="a")], ignore_conflicts=True)
    assert log.calls == [] and len(result) == 1


def test_delete_collector_sees_what_django_sees(using: str) -> None:
    """The models a cascade fires are exactly those Django's collector touches."""
    (account, _) = shop(2)
    collector = Collector(using=using)
    collector.collect([account])
    reached = (
        {m.__name__ for m in collector.data}
        | {m.__name__ for m in (f.model for (f, _), _ in collector.field_updates.items())}
        | {qs.model.__name__ for qs in collector.fast_deletes}
    )
    log = Log()
    for model in TREE:
        spy(model, log, stages=("before",))
    account.delete()
    fired = {c.trigger_model.split(".")[1] for c in log.calls}
    assert fired == reached & {m.__name__ for m in TREE}


@pytest.mark.parametrize("mode", ["update_conflicts", "ignore_conflicts"])
def test_composite_primary_key_upserts_fire_what_happened_to_each_row(
    using: str, mode: str
) -> None:
    """On a composite key, the conflicting row fires update (or nothing), the new one create."""
    with bypass():
        ConfStock.objects.create(warehouse="w", sku="a", quantity=1)
    log = Log()
    spy(ConfStock, log, stages=("before", "after"), events=("create", "update"))
    options: dict[str, Any] = {"ignore_conflicts": True}
    if mode == "update_conflicts":
        options = _upsert_kwargs(
            using,
            update_conflicts=True,
            update_fields=["quantity"],
            unique_fields=["warehouse", "sku"],
        )

    def objs() -> list[ConfStock]:
        return [ConfStock(warehouse="w", sku="a", quantity=5), ConfStock(warehouse="w", sku="b")]

    with transaction.atomic(using=using):
        fired = [o.pk for o in ConfStock.objects.bulk_create(objs(), **options)]
        stored = sorted(ConfStock.objects.values_list("sku", "quantity"))
        transaction.set_rollback(True, using=using)
    with bypass():
        plain = [o.pk for o in ConfStock.objects.bulk_create(objs(), **options)]
    assert (fired, stored) == (plain, sorted(ConfStock.objects.values_list("sku", "quantity")))
    events = {(c.stage, c.event): c.pks for c in log.calls}
    expected = {("before", "create"): [("w", "b")], ("after", "create"): [("w", "b")]}
    if mode == "update_conflicts":
        expected |= {("before", "update"): [("w", "a")], ("after", "update"): [("w", "a")]}
        (after,) = [c for c in log.calls if c.stage == "after" and c.event == "update"]
        assert ((after.old or [])[0]["quantity"], (after.new or [])[0]["quantity"]) == (1, 5)
    assert events == expected


@pytest.mark.parametrize("how", ["delete", "adelete"])
def test_keep_parents_fires_only_the_childs_own_delete_triggers(using: str, how: str) -> None:
    """``delete(keep_parents=True)`` keeps the parent rows, so parents' triggers stay quiet."""
    with bypass():
        ebook = ConfEbook.objects.create(title="e")
        twin = ConfEbook.objects.create(title="f")
    logs = {model: Log() for model in (ConfProduct, ConfBook, ConfEbook)}
    for model, log in logs.items():
        spy(model, log, stages=("before", "after"), events=("delete",))
    if how == "delete":
        fired = ebook.delete(keep_parents=True)
    else:
        fired = async_to_sync(ebook.adelete)(keep_parents=True)
    with bypass():
        plain = ConfEbook.objects.get(pk=twin.pk).delete(keep_parents=True)
    assert fired == plain
    assert [len(log.calls) for log in logs.values()] == [0, 0, 2]
    assert (ConfProduct.objects.count(), ConfBook.objects.count()) == (2, 2)
