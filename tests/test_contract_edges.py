"""Edge cases an outsider would try against API.md: costs, bypass scopes, shapes, no-ops."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.contrib.contenttypes.models import ContentType
from django.db import connections, models, transaction
from django.db.models import F
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from bulk_triggers import IsIn, Trigger, bypass
from tests.conformapp.models import (
    ConfAccount,
    ConfBook,
    ConfCoupon,
    ConfEbook,
    ConfGift,
    ConfItem,
    ConfOrder,
    ConfOwner,
    ConfPriced,
    ConfProduct,
    ConfTicket,
)
from tests.conformapp.spy import Log, spy


def _queries(using: str, op: Any) -> int:
    with transaction.atomic(using=using), CaptureQueriesContext(connections[using]) as queries:
        op()
        transaction.set_rollback(True, using=using)
    return len(queries)


def _loaded() -> ConfAccount:
    obj: ConfAccount = ConfAccount.objects.get(code="c")
    obj.name = "renamed"
    return obj


@pytest.mark.parametrize(
    ("ours", "django"),
    [
        (lambda: _loaded().save(), lambda: models.Model.save(_loaded())),
        (lambda: ConfAccount(code="n").save(), lambda: models.Model.save(ConfAccount(code="n"))),
        (lambda: _loaded().delete(), lambda: models.Model.delete(_loaded())),
        (
            lambda: async_to_sync(_loaded().adelete)(),
            lambda: async_to_sync(models.Model.adelete)(_loaded()),
        ),
    ],
    ids=["save-existing", "save-new", "obj.delete", "obj.adelete"],
)
def test_instance_operations_without_trigger_cost_what_django_costs(
    using: str, ours: Any, django: Any
) -> None:
    """``save()``/``delete()`` on a model with no trigger run Django's queries, no more."""
    spy(ConfTicket, Log())
    with bypass():
        ConfAccount.objects.create(code="c")
    ContentType.objects.get_for_model(ConfAccount)  # Django caches it: warm for both runs.
    assert _queries(using, ours) == _queries(using, django)


def test_save_with_empty_update_fields_fires_nothing(using: str) -> None:
    """``save(update_fields=[])`` writes nothing in Django, so no trigger runs."""
    with bypass():
        obj = ConfAccount.objects.create(code="c")
    log = Log()
    spy(ConfAccount, log)
    obj.name = "x"
    obj.save(update_fields=[])
    assert log.calls == []
    assert ConfAccount.objects.get(pk=obj.pk).name == ""


def test_get_or_create_getting_fires_nothing_update_or_create_creating_fires_create(
    using: str,
) -> None:
    """Getting fires nothing; ``update_or_create`` that creates fires create only."""
    with bypass():
        ConfAccount.objects.create(code="c")
    log = Log()
    spy(ConfAccount, log, stages=("before",))
    assert ConfAccount.objects.get_or_create(code="c")[1] is False
    assert ConfAccount.objects.update_or_create(code="n", defaults={"name": "x"})[1] is True
    assert async_to_sync(ConfAccount.objects.aget_or_create)(code="c")[1] is False
    assert [c.event for c in log.calls] == ["create"]


def test_bypass_of_a_parent_model_skips_its_triggers_for_child_operations(using: str) -> None:
    """``bypass(ConfProduct)`` skips product triggers for an ebook write; ebook's still run."""
    product, ebook = Log(), Log()
    spy(ConfProduct, product, stages=("before",))
    spy(ConfEbook, ebook, stages=("before",))
    with bypass(ConfProduct):
        ConfEbook.objects.create(title="e")
    assert (len(product.calls), len(ebook.calls)) == (0, 1)


def test_bypass_of_an_abstract_model_skips_its_triggers(using: str) -> None:
    """``bypass(ConfItem)`` skips ``Trigger[ConfItem]`` for every subclass."""
    log = Log()
    spy(ConfItem, log, stages=("before",))
    with bypass(ConfItem):
        ConfGift.objects.create(label="g")
        ConfCoupon.objects.create(label="c")
    assert log.calls == []


def test_bypass_of_one_trigger_keeps_the_others(using: str) -> None:
    """Naming one trigger class skips it alone."""
    first, second = Log(), Log()
    skipped = spy(ConfAccount, first, stages=("before",), name="First")
    spy(ConfAccount, second, stages=("before",), name="Second")
    with bypass(skipped):
        ConfAccount.objects.create(code="c")
    assert (len(first.calls), len(second.calls)) == (0, 1)


def test_generated_and_auto_now_values_are_stored_ones_after_the_write(using: str) -> None:
    """After-stage ``new`` carries the database's generated column and the auto_now stamp."""
    log = Log()
    spy(ConfPriced, log, stages=("after",))
    ConfPriced.objects.bulk_create([ConfPriced(net=2)])
    ConfPriced.objects.update(net=F("net") + 1)
    objs = list(ConfPriced.objects.all())
    for obj in objs:
        obj.net = 10
    ConfPriced.objects.bulk_update(objs, ["net"])
    assert [(c.new or [])[0]["gross"] for c in log.calls] == [4, 6, 20]
    stamps = Log()
    spy(ConfAccount, stamps, stages=("after",), events=("update",))
    with bypass():
        account = ConfAccount.objects.create(code="c")
    ConfAccount.objects.filter(pk=account.pk).update(name="x")
    stored = ConfAccount.objects.get(pk=account.pk).touched
    assert (stamps.calls[0].new or [])[0]["touched"] == stored


def test_is_in_with_instances_selects_rows_in_an_operation(using: str) -> None:
    """A trigger conditioned on ``IsIn("owner", [instance])`` runs for that owner's rows."""
    with bypass():
        vip, other = (ConfOwner.objects.create(email=e) for e in ("v", "o"))
        ConfAccount.objects.create(code="a", owner=vip)
        ConfAccount.objects.create(code="b", owner=other)
    log = Log()
    spy(ConfAccount, log, condition=IsIn("owner", [vip]), stages=("before",))
    ConfAccount.objects.update(name="x")
    assert [[r["code"] for r in c.new or []] for c in log.calls] == [["a"]]


def test_mti_update_of_a_parent_field_only(using: str) -> None:
    """``ConfEbook.objects.update(price=...)`` (a grandparent column) fires every level."""
    with bypass():
        ebook = ConfEbook.objects.create(title="e", price=1)
    logs = [Log(), Log(), Log()]
    for model, log in zip((ConfProduct, ConfBook, ConfEbook), logs, strict=True):
        spy(model, log, events=("update",), stages=("after",))
    assert ConfEbook.objects.update(price=F("price") + 1) == 1
    for log in logs:
        ((row,),) = [c.new for c in log.calls if c.new]
        assert (row["pk"], row["price"]) == (ebook.pk, 2)


@pytest.mark.parametrize("rows", [4, 5, 6])
def test_chunk_boundaries(using: str, rows: int) -> None:
    """With ``CHUNK_SIZE`` 2, each chunk holds at most two rows and every row comes once."""
    with bypass():
        ConfAccount.objects.bulk_create(ConfAccount(code=f"c{i}") for i in range(rows))
    log = Log()
    spy(ConfAccount, log, events=("update", "delete"), stages=("before",))
    with override_settings(BULK_TRIGGERS={"CHUNK_SIZE": 2}):
        assert ConfAccount.objects.update(name="x") == rows
        assert ConfAccount.objects.all().delete()[0] == rows
    for event in ("update", "delete"):
        calls = log.of(event=event)
        assert [len(c.pks) for c in calls] == [2] * (rows // 2) + [1] * (rows % 2)
        assert len({pk for c in calls for pk in c.pks}) == rows


def test_a_before_trigger_writing_the_same_model_nests(using: str) -> None:
    """A before-update trigger updating other rows of its model dispatches them too."""
    with bypass():
        ConfAccount.objects.bulk_create(ConfAccount(code=c) for c in ("a", "b"))
    seen: list[list[str]] = []

    class Sync(Trigger[ConfAccount]):
        def on_before_update(self, new: list[ConfAccount], old: list[ConfAccount]) -> None:
            seen.append([row.code for row in new])
            if new[0].code == "a":
                ConfAccount.objects.filter(code="b").update(name="from a")

    ConfAccount.objects.filter(code="a").update(name="direct")
    assert seen == [["a"], ["b"]]
    assert dict(ConfAccount.objects.values_list("code", "name")) == {"a": "direct", "b": "from a"}


def test_nested_commit_stages_run_after_the_outer_commit(
    using: str, django_capture_on_commit_callbacks: Any
) -> None:
    """A nested operation's commit stage also waits for the outermost commit."""
    log = Log()

    class Open(Trigger[ConfAccount]):
        def on_after_create(self, new: list[ConfAccount]) -> None:
            ConfOrder.objects.create(account=new[0])

    spy(ConfOrder, log, stages=("commit",))
    with django_capture_on_commit_callbacks(using=using, execute=True) as callbacks:
        ConfAccount.objects.create(code="a")
        assert log.calls == []
    assert callbacks and [c.event for c in log.calls] == ["create"]


def _plain() -> models.QuerySet[ConfAccount]:
    return models.QuerySet(ConfAccount)


OTHER_EVENTS: dict[str, tuple[tuple[str, ...], Any, Any]] = {
    "create": (
        ("update", "delete"),
        lambda: ConfAccount.objects.create(code="n"),
        lambda: _plain().create(code="n"),
    ),
    "save-new": (
        ("update", "delete"),
        lambda: ConfAccount(code="n").save(),
        lambda: models.Model.save(ConfAccount(code="n")),
    ),
    "save-existing": (
        ("create", "delete"),
        lambda: _loaded().save(),
        lambda: models.Model.save(_loaded()),
    ),
    "update": (
        ("create", "delete"),
        lambda: ConfAccount.objects.update(name="x"),
        lambda: _plain().update(name="x"),
    ),
    "bulk_update": (
        ("create", "delete"),
        lambda: ConfAccount.objects.bulk_update([_loaded()], ["name"]),
        lambda: _plain().bulk_update([_loaded()], ["name"]),
    ),
    "qs.delete": (
        ("create", "update"),
        lambda: ConfAccount.objects.all().delete(),
        lambda: _plain().all().delete(),
    ),
    "obj.delete": (
        ("create", "update"),
        lambda: _loaded().delete(),
        lambda: models.Model.delete(_loaded()),
    ),
}


@pytest.mark.parametrize("name", OTHER_EVENTS)
def test_triggers_for_other_events_cost_nothing(using: str, name: str) -> None:
    """Triggers of the model for other events only: the operation runs Django's queries."""
    events, ours, django = OTHER_EVENTS[name]
    with bypass():
        ConfAccount.objects.create(code="c")
    ContentType.objects.get_for_model(ConfAccount)  # Django caches it: warm for both runs.
    spy(ConfAccount, Log(), events=events)
    assert _queries(using, ours) == _queries(using, django)
