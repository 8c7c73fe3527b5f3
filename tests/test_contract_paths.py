"""More outsider probes: related managers, joins, explicit keys, paths on deleted rows."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import transaction

from bulk_triggers import IsEqual, bypass
from tests.conformapp.models import (
    ConfAccount,
    ConfGroup,
    ConfMembership,
    ConfOrder,
    ConfReview,
)
from tests.conformapp.spy import Log, spy


def _account_with_orders() -> ConfAccount:
    with bypass():
        account: ConfAccount = ConfAccount.objects.create(code="a", status="vip")
        ConfOrder.objects.bulk_create(ConfOrder(account=account, total=t) for t in (1, 2))
        ConfAccount.objects.create(code="b")
    return account


JOINED: dict[str, Any] = {
    "update": lambda: ConfAccount.objects.filter(orders__total__gte=1).update(name="j"),
    "delete": lambda: ConfAccount.objects.filter(orders__total__gte=1).delete(),
}


@pytest.mark.parametrize("event", JOINED)
def test_a_join_that_repeats_a_row_gives_it_to_triggers_once(using: str, event: str) -> None:
    """A filter through a reverse relation matches one account twice: triggers see it once."""
    account = _account_with_orders()
    log = Log()
    spy(ConfAccount, log, events=(event,), stages=("before", "after"))
    with transaction.atomic(using=using):
        fired = JOINED[event]()
        transaction.set_rollback(True, using=using)
    with bypass():
        plain = JOINED[event]()
    assert fired == plain
    assert [c.pks for c in log.calls] == [[account.pk], [account.pk]]


def test_values_queryset_update_fires_with_instances(using: str) -> None:
    """``values(...).update()`` fires update triggers with model instances."""
    _account_with_orders()
    log = Log()
    spy(ConfAccount, log, events=("update",), stages=("after",))
    assert ConfAccount.objects.values("code").filter(code="a").update(name="v") == 1
    assert log.calls[0].types == ["ConfAccount"]


def test_explicit_key_save_of_an_existing_row_fires_update(using: str) -> None:
    """``Model(pk=existing).save()`` updates in Django, so it fires update with ``old`` stored."""
    account = _account_with_orders()
    log = Log()
    spy(ConfAccount, log, stages=("before",))
    ConfAccount(pk=account.pk, code="a", name="over").save()
    assert [(c.event, (c.old or [{}])[0].get("status")) for c in log.calls] == [("update", "vip")]


@pytest.mark.parametrize(
    ("kwargs", "event"), [({"force_insert": True}, "create"), ({"force_update": True}, "update")]
)
def test_forced_saves_fire_their_event(using: str, kwargs: dict[str, Any], event: str) -> None:
    """``save(force_insert=True)`` fires create; ``save(force_update=True)`` fires update."""
    with bypass():
        existing = ConfAccount.objects.create(code="e")
    log = Log()
    spy(ConfAccount, log, stages=("before",))
    obj = ConfAccount(code="n") if event == "create" else existing
    obj.save(**kwargs)
    assert [c.event for c in log.calls] == [event]


def test_related_managers_fire(using: str) -> None:
    """Reverse-FK and through-model related managers fire the events of their writes."""
    account = _account_with_orders()
    group = ConfGroup.objects.create(name="g")
    with bypass():
        review = ConfReview.objects.create(account=account)
    orders, members, reviews = Log(), Log(), Log()
    spy(ConfOrder, orders, stages=("before",))
    spy(ConfMembership, members, stages=("before",))
    spy(ConfReview, reviews, stages=("before",))
    account.orders.create(total=5)
    account.orders.filter(total=5).update(total=6)
    account.orders.filter(total=6).delete()
    account.groups.add(group, through_defaults={"role": "owner"})
    account.groups.remove(group)
    account.reviews.remove(review)
    assert [c.event for c in orders.calls] == ["create", "update", "delete"]
    assert [c.event for c in members.calls] == ["create", "delete"]
    assert [(c.event, (c.new or [{}])[0].get("account_id")) for c in reviews.calls] == [
        ("update", None)
    ]


def test_a_path_condition_on_cascaded_rows_holds_in_both_stages(using: str) -> None:
    """Orders deleted with their account: a path to the account decides before and after alike."""
    _account_with_orders()
    log = Log()
    spy(
        ConfOrder,
        log,
        condition=IsEqual("account__status", "vip"),
        events=("delete",),
        stages=("before", "after"),
    )
    ConfAccount.objects.filter(code="a").delete()
    assert [(c.stage, len(c.pks)) for c in log.calls] == [("before", 2), ("after", 2)]
