"""The example project: its migrations, its ``demo`` command and what its triggers claim."""

from __future__ import annotations

import io
import re
import runpy
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime
from decimal import Decimal
from importlib import import_module
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.apps import apps
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connections, transaction
from django.db.migrations.autodetector import MigrationAutodetector
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.state import ProjectState
from django.db.models import Count, F
from django.utils import timezone
from example_project.databases import database_from_url

from bulk_triggers import bypass
from bulk_triggers.registry import registry
from bulk_triggers.runtime import tasks_framework
from bulk_triggers.tasks import run_payload
from bulk_triggers.testing import capture_tasks
from shop import notifications, triggers
from shop.models import Account, AuditEntry, Order, OrderLine, Product
from shop.steps import CATALOG, FEED
from shop.triggers import (
    AccountAudit,
    Audit,
    ChargeAccount,
    EnforceOrderWorkflow,
    NotifyShipping,
    OrderAudit,
    ShipOrder,
)

EXAMPLE_SETTINGS = Path(__file__).parent.parent / "example_project/example_project/settings.py"
SHOP_MODELS = (Account, Order, OrderLine, Product, AuditEntry)
# Each order made by _make_orders: 2 x 4.50 + 1 x 12.00.
ORDER_TOTAL = Decimal("21.00")


def _make_orders(count: int, *, status: str = "draft", balance: str = "1000.00") -> list[Order]:
    """Create an account and ``count`` orders of two lines each; the triggers set the totals.

    A status other than draft is set inside ``bypass()``, as a fixture, not as a transition.
    """
    account = Account.objects.create(name="Ada", balance=Decimal(balance))
    orders = Order.objects.bulk_create(Order(account=account) for _ in range(count))
    OrderLine.objects.bulk_create(
        OrderLine(order=order, sku=sku, quantity=quantity, unit_price=Decimal(price))
        for order in orders
        for sku, quantity, price in (("TEA", 2, "4.50"), ("MUG", 1, "12.00"))
    )
    pks = [order.pk for order in orders]
    if status != "draft":
        with bypass():
            Order.objects.filter(pk__in=pks).update(status=status)
    return list(Order.objects.filter(pk__in=pks).order_by("pk"))


def _set_status(order: Order, status: str) -> Order:
    """Put ``order`` in ``status`` without running triggers, and return it reloaded."""
    with bypass():
        Order.objects.filter(pk=order.pk).update(status=status)
    return Order.objects.get(pk=order.pk)


def _expected_totals() -> dict[int, Decimal]:
    """Return each order's total computed in Python from its stored lines."""
    totals = {pk: Decimal("0.00") for pk in Order.objects.values_list("pk", flat=True)}
    for order_id, quantity, price in OrderLine.objects.values_list(
        "order_id", "quantity", "unit_price"
    ):
        totals[order_id] += quantity * price
    return totals


def _stored_totals() -> dict[int, Decimal]:
    return dict(Order.objects.values_list("pk", "total"))


def _dump() -> dict[str, list[tuple[Any, ...]]]:
    """Return every row of the shop's tables, to compare the database before and after."""
    return {m._meta.label: list(m.objects.order_by("pk").values_list()) for m in SHOP_MODELS}


def _audit_counts() -> Counter[tuple[str, str]]:
    rows = AuditEntry.objects.values_list("model", "action").annotate(n=Count("pk")).order_by()
    return Counter({(model, action): n for model, action, n in rows})


@pytest.fixture
def outbox(using: str) -> Iterator[None]:
    """Start and end the test with no notification recorded for its database."""
    notifications.clear(using)
    yield
    notifications.clear(using)


# --- The project itself -----------------------------------------------------------------


def test_shop_tables_exist_and_triggers_fire(using: str) -> None:
    """The shop migrations created its tables, and a trigger writes through them."""
    tables = set(connections[using].introspection.table_names())
    assert {m._meta.db_table for m in SHOP_MODELS} <= tables
    account = Account.objects.create(name="Ada", balance=Decimal("5.00"))
    assert list(AuditEntry.objects.values_list("model", "object_pk", "action")) == [
        ("shop.Account", str(account.pk), "create")
    ]


def test_migrations_match_models() -> None:
    """The committed shop migrations describe the models (makemigrations has nothing to do)."""
    loader = MigrationLoader(None, ignore_no_migrations=True)
    autodetector = MigrationAutodetector(loader.project_state(), ProjectState.from_apps(apps))
    assert autodetector.changes(graph=loader.graph, trim_to_apps={"shop"}).get("shop") is None


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "postgres://postgres@127.0.0.1:5432/bulk_triggers_demo",
            {
                "ENGINE": "django.db.backends.postgresql",
                "NAME": "bulk_triggers_demo",
                "USER": "postgres",
                "PASSWORD": "",
                "HOST": "127.0.0.1",
                "PORT": "5432",
            },
        ),
        (
            "postgresql://us%40er:p%3Ass@db.example/shop?sslmode=require",
            {
                "ENGINE": "django.db.backends.postgresql",
                "NAME": "shop",
                "USER": "us@er",
                "PASSWORD": "p:ss",
                "HOST": "db.example",
                "PORT": "",
                "OPTIONS": {"sslmode": "require"},
            },
        ),
        (
            "mysql://root@127.0.0.1:3306/bulk_triggers_demo",
            {
                "ENGINE": "django.db.backends.mysql",
                "NAME": "bulk_triggers_demo",
                "USER": "root",
                "PASSWORD": "",
                "HOST": "127.0.0.1",
                "PORT": "3306",
                "OPTIONS": {"charset": "utf8mb4"},
            },
        ),
        (
            "sqlite:///shop.sqlite3",
            {"ENGINE": "django.db.backends.sqlite3", "NAME": Path("/base/shop.sqlite3")},
        ),
        (
            "sqlite:////tmp/shop.sqlite3",
            {"ENGINE": "django.db.backends.sqlite3", "NAME": Path("/tmp/shop.sqlite3")},
        ),
    ],
)
def test_database_url_is_parsed(url: str, expected: dict[str, Any]) -> None:
    """DATABASE_URL becomes the DATABASES entry Django needs for each supported scheme."""
    assert database_from_url(url, Path("/base")) == expected


@pytest.mark.parametrize("url", ["oracle://u@h/db", "postgres://postgres@127.0.0.1:5432/"])
def test_database_url_errors_are_explained(url: str) -> None:
    """An unknown scheme or a missing database name is refused with a ValueError."""
    with pytest.raises(ValueError, match="DATABASE_URL"):
        database_from_url(url, Path("/base"))


# --- The demo command -------------------------------------------------------------------


def _run_demo(using: str, rows: int = 200) -> str:
    buf = io.StringIO()
    call_command("demo", rows=rows, database=using, stdout=buf)
    return re.sub(r"\x1b\[[0-9;]*m", "", buf.getvalue())


def _number(pattern: str, text: str) -> int:
    match = re.search(pattern, text, re.MULTILINE)
    assert match is not None, f"{pattern!r} not in the demo's output:\n{text}"
    return int(match.group(1))


@pytest.mark.django_db(transaction=True)
def test_demo_prints_what_the_database_holds(using: str, outbox: None) -> None:
    """Every figure the demo prints about data and triggers matches the database."""
    output = _run_demo(using)
    audit = _audit_counts()
    assert _number(r"audit entries in database: (\d+)$", output) == AuditEntry.objects.count()
    printed = {
        m.group(1): tuple(int(n) for n in m.groups()[1:])
        for m in re.finditer(r"^  (shop\.\w+) +(\d+) +(\d+) +(\d+)$", output, re.MULTILINE)
    }
    assert printed == {
        model: (audit[model, "create"], audit[model, "update"], audit[model, "delete"])
        for model, _ in audit
    }
    steps = re.findall(
        r"^ +\d+  .{30} +(\d+|refused) +(\d+) +(\d+) +(\d+) +[\d.]+$", output, re.MULTILINE
    )
    assert len(steps) == 16
    assert sum(int(added) for _, added, _, _ in steps) == AuditEntry.objects.count()
    assert [rows for rows, *_ in steps].count("refused") == 2
    shipped = Order.objects.filter(status="shipped")
    assert _number(r"orders with shipped_at: (\d+)$", output) == shipped.count() > 0
    assert shipped.filter(shipped_at__isnull=True).count() == 0
    assert _number(r"shipping notifications sent: (\d+)$", output) == shipped.count()
    assert sorted(n.order_id for n in notifications.sent(using)) == sorted(
        shipped.values_list("pk", flat=True)
    )
    assert _number(r"^  orders: (\d+) ", output) == Order.objects.count()
    assert _number(r"order lines: (\d+)$", output) == OrderLine.objects.count()
    assert (
        _number(r"overdrawn: (\d+) of", output)
        == Account.objects.filter(status="overdrawn").count()
    )
    matching = _number(r"^  checks: (\d+)/", output)
    assert matching == Order.objects.count() and _stored_totals() == _expected_totals()


@pytest.mark.django_db(transaction=True)
def test_demo_resets_what_a_previous_run_left(using: str, outbox: None) -> None:
    """A second run starts from the first run's leftovers, deletes them, and ends the same."""
    first = _run_demo(using, rows=60)
    left = {m: m.objects.count() for m in SHOP_MODELS}
    second = _run_demo(using, rows=60)
    reset = re.search(
        r"deleted (\d+) audit entries, (\d+) order lines, (\d+)\s+orders, (\d+) accounts, "
        r"(\d+) products",
        second,
    )
    assert reset is not None
    assert tuple(int(n) for n in reset.groups()) == (
        left[AuditEntry],
        left[OrderLine],
        left[Order],
        left[Account],
        left[Product],
    )
    assert left[AuditEntry] > 0
    pattern = r"audit entries in database: (\d+)$"
    assert _number(pattern, second) == _number(pattern, first) == AuditEntry.objects.count()


def _step(output: str, code: str) -> str:
    """Return the part of the demo's output that reports the step running ``code``."""
    match = re.search(rf"^ ?\d+\. {re.escape(code)}.*?\n\n", output, re.S | re.M)
    assert match is not None, f"no step {code!r} in the demo's output:\n{output}"
    return " ".join(match.group(0).split())  # Undo the wrapping.


@pytest.mark.django_db(transaction=True)
def test_demo_names_a_trigger_behind_each_effect(using: str, outbox: None) -> None:
    """Every audit entry is reported once, after the trigger that wrote it, in 100 columns."""
    output = _run_demo(using)
    assert "example_project/shop/triggers.py" in output
    assert max(len(line) for line in output.splitlines()) <= 100
    assert output.count("order totals equal their lines") == 1  # Once, at the end.
    reported: Counter[tuple[str, str]] = Counter()
    flat = " ".join(output.split())
    for model, action, count, cause in re.findall(
        r"audit (shop\.\w+) (create|update|delete) \+(\d+)(?: <- (\w+)\.on_after_\2)?",
        flat,
    ):
        reported[model, action] += int(count)
        assert cause == f"{model.split('.')[1]}Audit"
    assert reported == _audit_counts()
    assert re.search(r"orders with shipped_at 0 -> \d+ <- ShipOrder\.on_before_update", flat)
    # The notifications come from NotifyShipping's tasks (immediate backend), one per step.
    tasks = re.findall(r"NotifyShipping\.on_commit_update \((\d+) rows?, as a task\)", flat)
    sent = re.findall(r"shipping notifications sent (\d+) -> (\d+) <- NotifyShipping\.", flat)
    assert len(tasks) == len(sent) == 2
    assert [int(n) for n in tasks] == [int(new) - int(old) for old, new in sent]
    refusers = re.findall(r"refused ValidationError from (\w+)\.on_before_(?:update|create)", flat)
    assert len(refusers) == 2 and all(isinstance(getattr(triggers, t), type) for t in refusers)


@pytest.mark.django_db(transaction=True)
def test_demo_cascade_step_shows_what_the_audit_table_holds(using: str, outbox: None) -> None:
    """The cascade step prints the delete entries the audit table holds for the order and lines."""
    step = _step(_run_demo(using, rows=60), "order.delete()")
    match = re.search(
        r"the audit table: (\d+) delete entry for order (\d+), (\d+) for its (\d+) lines "
        r"\(([\d, ]+)\)",
        step,
    )
    assert match is not None, step
    for_order, order_pk, for_lines, line_count = (int(n) for n in match.groups()[:4])
    line_pks = [pk.strip() for pk in match.group(5).split(",")]
    deletes = AuditEntry.objects.filter(action="delete")
    assert for_order == deletes.filter(model="shop.Order", object_pk=str(order_pk)).count() == 1
    assert for_lines == deletes.filter(model="shop.OrderLine", object_pk__in=line_pks).count()
    assert line_count == len(line_pks) >= 2
    assert not OrderLine.objects.filter(pk__in=line_pks).exists()
    every_line_fired = "every cascaded line's delete triggers fired" in step
    assert every_line_fired == (for_lines == line_count)


def _figures(pattern: str, text: str) -> tuple[Decimal, ...]:
    """Return the groups of ``pattern``'s match in ``text`` as decimals."""
    match = re.search(pattern, text)
    assert match is not None, f"{pattern!r} not in:\n{text}"
    return tuple(Decimal(n) for n in match.groups())


@pytest.mark.django_db(transaction=True)
def test_demo_credits_the_recompute_trigger_only_with_kept_orders_totals(
    using: str, outbox: None
) -> None:
    """The delete steps credit RecomputeTotalsAfterDelete with kept orders' totals, no more."""
    output = _run_demo(using, rows=60)
    line, cascade, bulk = (
        _step(output, code)
        for code in ("line.delete()", "order.delete()", 'Order.objects.filter(status="cancelled")')
    )
    quantity, price = _figures(r"deleted line \w+ x(\d+) at ([\d.]+) of order", line)
    was, now = _figures(
        r"sum of order totals ([\d.]+) -> ([\d.]+) <- RecomputeTotalsAfterDelete\.", line
    )
    assert was - now == quantity * price
    order_deletes = {
        int(e.object_pk): Decimal(e.changes["total"])
        for e in AuditEntry.objects.filter(model="shop.Order", action="delete")
    }
    (cascaded,) = _figures(r"delete entry for order (\d+)", cascade)
    for step, deleted in (
        (cascade, [order_deletes.pop(int(cascaded))]),
        (bulk, list(order_deletes.values())),
    ):
        assert "RecomputeTotalsAfterDelete.on_after_delete" in step  # It ran, ...
        assert "totals" not in step.partition(" effects ")[2]  # ... and changed no kept order.
        was, now, left, orders = _figures(
            r"sum of order totals ([\d.]+) -> ([\d.]+): ([\d.]+) left with the (\d+) deleted", step
        )
        assert (was - now, left, orders) == (sum(deleted), sum(deleted), len(deleted))


@pytest.mark.django_db(transaction=True)
def test_demo_upsert_step_shows_what_the_audit_table_holds(using: str, outbox: None) -> None:
    """The upsert step prints the audit table's creates and updates beside the database's split."""
    step = _step(_run_demo(using, rows=60), "Product.objects.bulk_create(feed")
    audit = re.search(r"the audit table: (\d+) create and (\d+) update entries", step)
    stored = re.search(r"the database: (\d+) products inserted, (\d+) existing ones updated", step)
    counts = re.search(r"products (\d+) -> (\d+)", step)
    assert audit and stored and counts, step
    created, updated = int(audit.group(1)), int(audit.group(2))
    in_step = Counter(
        {
            action: int(n)
            for action, n in re.findall(r"audit shop\.Product (create|update) \+(\d+)", step)
        }
    )
    assert (created, updated) == (in_step["create"], in_step["update"])
    assert AuditEntry.objects.filter(model="shop.Product", action="update").count() == updated
    known = dict(CATALOG)
    assert (int(stored.group(1)), int(stored.group(2))) == (
        int(counts.group(2)) - int(counts.group(1)),
        sum(sku in known and known[sku] != price for sku, price in FEED),
    )
    assert int(counts.group(2)) == Product.objects.count() == len({*known, *dict(FEED)})
    assert dict(Product.objects.values_list("sku", "price")) == {**known, **dict(FEED)}
    agrees = "the audit agrees with the database" in step
    assert agrees == ((created, updated) == (int(stored.group(1)), int(stored.group(2))))


@pytest.mark.parametrize(
    ("options", "message"),
    [({"rows": 2}, "at least 3"), ({"database": "nowhere"}, "No database 'nowhere'")],
)
def test_demo_refuses_bad_options(options: dict[str, Any], message: str) -> None:
    """Too few rows or an unknown database alias is a CommandError, before any query."""
    with pytest.raises(CommandError, match=message):
        call_command("demo", stdout=io.StringIO(), **options)


# --- What each example trigger claims ---------------------------------------------------


def _ship_by_bulk_update(orders: list[Order]) -> None:
    for order in orders:
        order.status = "shipped"
    Order.objects.bulk_update(orders, ["status"])


def _ship_by_update(orders: list[Order]) -> None:
    Order.objects.filter(pk__in=[o.pk for o in orders]).update(status="shipped")


def _ship_by_aupdate(orders: list[Order]) -> None:
    async_to_sync(Order.objects.filter(pk__in=[o.pk for o in orders]).aupdate)(status="shipped")


def _ship_by_save_update_fields(orders: list[Order]) -> None:
    for order in orders:
        order.status = "shipped"
        order.save(update_fields=["status"])


def _ship_by_save(orders: list[Order]) -> None:
    for order in orders:
        order.status = "shipped"
        order.save()


@pytest.mark.parametrize(
    "ship",
    [
        _ship_by_bulk_update,
        _ship_by_update,
        _ship_by_aupdate,
        _ship_by_save_update_fields,
        _ship_by_save,
    ],
    ids=lambda f: f.__name__.removeprefix("_ship_by_"),
)
def test_shipping_sets_shipped_at(using: str, ship: Callable[[list[Order]], None]) -> None:
    """ShipOrder stamps shipped_at on exactly the orders that become shipped, on any path."""
    orders = _make_orders(3, status="paid")
    started = timezone.now()
    ship(orders[:2])
    finished = timezone.now()
    stamps: dict[int, datetime | None] = dict(Order.objects.values_list("pk", "shipped_at"))
    for order in orders[:2]:
        stamp = stamps[order.pk]
        assert stamp is not None and started <= stamp <= finished
    assert stamps[orders[2].pk] is None


def _add_line(a: Order, b: Order) -> None:
    OrderLine.objects.bulk_create(
        [OrderLine(order=a, sku="KETTLE", quantity=1, unit_price=Decimal("39.99"))]
    )


def _raise_quantities(a: Order, b: Order) -> None:
    OrderLine.objects.filter(order=a).update(quantity=F("quantity") + 2)


def _reprice(a: Order, b: Order) -> None:
    lines = list(a.lines.all())
    for line in lines:
        line.unit_price += Decimal("1.25")
    OrderLine.objects.bulk_update(lines, ["unit_price"])


def _move_line(a: Order, b: Order) -> None:
    line = a.lines.get(sku="MUG")
    line.order = b
    OrderLine.objects.bulk_update([line], ["order"])


def _save_line(a: Order, b: Order) -> None:
    line = a.lines.get(sku="TEA")
    line.quantity = 7
    line.save()


def _delete_line(a: Order, b: Order) -> None:
    a.lines.get(sku="TEA").delete()


def _delete_lines(a: Order, b: Order) -> None:
    OrderLine.objects.filter(order=a, sku__in=["TEA", "MUG"]).delete()


@pytest.mark.parametrize(
    "change",
    [_add_line, _raise_quantities, _reprice, _move_line, _save_line, _delete_line, _delete_lines],
    ids=lambda f: f.__name__.removeprefix("_"),
)
def test_order_total_follows_its_lines(using: str, change: Callable[[Order, Order], None]) -> None:
    """RecomputeTotals keeps every order's total equal to the sum of its lines."""
    a, b = _make_orders(2)
    assert _stored_totals() == {a.pk: ORDER_TOTAL, b.pk: ORDER_TOTAL}
    change(a, b)
    totals = _stored_totals()
    assert totals[a.pk] != ORDER_TOTAL
    assert totals == _expected_totals()


def _cancel_shipped_by_update(orders: list[Order]) -> None:
    Order.objects.filter(pk=orders[0].pk).update(status="cancelled")


def _cancel_shipped_in_a_valid_batch(orders: list[Order]) -> None:
    shipped, paid = orders
    shipped.status, paid.status = "cancelled", "shipped"
    Order.objects.bulk_update([paid, shipped], ["status"])


def _cancel_shipped_by_save(orders: list[Order]) -> None:
    orders[0].status = "cancelled"
    orders[0].save(update_fields=["status"])


def _create_zero_quantity(orders: list[Order]) -> None:
    OrderLine.objects.bulk_create(
        OrderLine(order=orders[1], sku="TEA", quantity=quantity, unit_price=Decimal("4.50"))
        for quantity in (3, 0)
    )


def _price_below_zero(orders: list[Order]) -> None:
    OrderLine.objects.filter(order=orders[1]).update(unit_price=F("unit_price") - Decimal("10.00"))


def _create_negative_quantity(orders: list[Order]) -> None:
    OrderLine.objects.create(order=orders[1], sku="TEA", quantity=-1, unit_price=Decimal("4.50"))


@pytest.mark.parametrize(
    "attempt",
    [
        _cancel_shipped_by_update,
        _cancel_shipped_in_a_valid_batch,
        _cancel_shipped_by_save,
        _create_zero_quantity,
        _price_below_zero,
        _create_negative_quantity,
    ],
    ids=lambda f: f.__name__.removeprefix("_"),
)
def test_validation_refuses_and_leaves_the_database_unchanged(
    using: str, attempt: Callable[[list[Order]], None]
) -> None:
    """A before trigger's ValidationError refuses the whole write: no row, no audit entry."""
    shipped, paid = _make_orders(2)
    orders = [_set_status(shipped, "shipped"), _set_status(paid, "paid")]
    before = _dump()
    with pytest.raises(ValidationError) as refused:
        attempt(orders)
    assert refused.value.messages
    assert _dump() == before


def test_audit_trail_records_create_update_delete(using: str) -> None:
    """The audit triggers write one entry per change with the changed fields, none for no-ops."""
    account = Account.objects.create(name="Ada", balance=Decimal("10.00"))
    Account.objects.filter(pk=account.pk).update(balance=F("balance") - Decimal("15.00"))
    Account.objects.filter(pk=account.pk).update(name="Ada")  # Writes what is stored.
    Account.objects.get(pk=account.pk).delete()
    entries = AuditEntry.objects.filter(model="shop.Account", object_pk=str(account.pk))
    assert list(entries.order_by("pk").values_list("action", "changes")) == [
        ("create", {"name": "Ada", "balance": "10.00", "status": "active"}),
        ("update", {"balance": ["10.00", "-5.00"], "status": ["active", "overdrawn"]}),
        ("delete", {"name": "Ada", "balance": "-5.00", "status": "overdrawn"}),
    ]


@pytest.mark.parametrize("stale", [False, True], ids=["fresh", "stale"])
def test_paying_debits_the_stored_totals(using: str, stale: bool) -> None:
    """ChargeAccount debits what the paid orders hold in the database, and flags overdraft."""
    orders = _make_orders(2, status="placed", balance="30.00")
    if stale:  # The caller's objects still say 21.00 each; the database now says 30.00.
        OrderLine.objects.filter(order__in=orders, sku="TEA").update(quantity=4)
    for order in orders:
        order.status = "paid"
    Order.objects.bulk_update(orders, ["status"])
    account = Account.objects.get()
    debit = sum(Order.objects.values_list("total", flat=True), Decimal("0.00"))
    assert debit == (Decimal("60.00") if stale else 2 * ORDER_TOTAL)
    assert (account.balance, account.status) == (Decimal("30.00") - debit, "overdrawn")


@pytest.fixture
def task_signals() -> Iterator[dict[str, list[Any]]]:
    """Record the task results the Tasks framework signals as enqueued and as finished."""
    signals = import_module(f"{tasks_framework()}.signals")
    seen: dict[str, list[Any]] = {"enqueued": [], "finished": []}
    receivers = {
        name: (lambda sender, task_result, _name=name, **kwargs: seen[_name].append(task_result))
        for name in seen
    }
    for name, receiver in receivers.items():
        getattr(signals, f"task_{name}").connect(receiver)
    yield seen
    for name, receiver in receivers.items():
        getattr(signals, f"task_{name}").disconnect(receiver)


def _ship_two_then_roll_back(using: str, orders: list[Order]) -> list[Order]:
    with transaction.atomic(using=using):
        _ship_by_update(orders[:2])
        transaction.set_rollback(True, using=using)
    return []


def _ship_one_and_one_in_a_rolled_back_savepoint(using: str, orders: list[Order]) -> list[Order]:
    with transaction.atomic(using=using):
        _ship_by_update(orders[:1])
        with transaction.atomic(using=using):
            _ship_by_update(orders[1:2])
            transaction.set_rollback(True, using=using)
    return orders[:1]


def _ship_two_and_commit(using: str, orders: list[Order]) -> list[Order]:
    with transaction.atomic(using=using):
        _ship_by_update(orders[:2])
        assert notifications.sent(using) == []  # Not before the commit.
    return orders[:2]


@pytest.mark.parametrize(
    "ship",
    [_ship_two_and_commit, _ship_two_then_roll_back, _ship_one_and_one_in_a_rolled_back_savepoint],
    ids=lambda f: f.__name__.removeprefix("_ship_"),
)
def test_shipping_notifications_are_tasks_run_at_the_commit(
    using: str,
    outbox: None,
    task_signals: dict[str, list[Any]],
    ship: Callable[[str, list[Order]], list[Order]],
    django_capture_on_commit_callbacks: Any,
) -> None:
    """NotifyShipping's commit stage is a task enqueued and run at the commit, never on rollback."""
    orders = _make_orders(3, status="paid")
    with django_capture_on_commit_callbacks(using=using, execute=True):
        committed = ship(using, orders)
    shipped = [o.pk for o in committed]
    assert sorted(n.order_id for n in notifications.sent(using)) == shipped
    enqueued, finished = task_signals["enqueued"], task_signals["finished"]
    assert [r.id for r in finished] == [r.id for r in enqueued]
    assert len(enqueued) == (1 if shipped else 0)
    for result in enqueued:
        (payload,) = result.args
        assert result.task.module_path == "bulk_triggers.worker.run_commit_stage"
        assert (result.task.queue_name, str(result.status)) == ("notifications", "SUCCESSFUL")
        assert (payload["trigger"], payload["event"], payload["alias"]) == (
            NotifyShipping.label,
            "update",
            using,
        )


@pytest.mark.parametrize(
    "ship",
    [
        _ship_by_bulk_update,
        _ship_by_update,
        _ship_by_aupdate,
        _ship_by_save_update_fields,
        _ship_by_save,
    ],
    ids=lambda f: f.__name__.removeprefix("_ship_by_"),
)
def test_shipping_notification_payload_holds_the_rows_as_written(
    using: str, outbox: None, ship: Callable[[list[Order]], None]
) -> None:
    """On every path the task's payload holds the shipped orders, new and old, as written."""
    orders = _make_orders(3, status="paid")
    with capture_tasks(run=False) as captured:
        ship(orders[:2])
    payloads = [p for p in captured.payloads if p["trigger"] == NotifyShipping.label]
    status = payloads[0]["fields"].index("status")
    pk = payloads[0]["fields"].index("id")
    new = [row for p in payloads for row in p["rows"][0]]
    old = [row for p in payloads for row in p["rows"][1]]
    assert sorted(row[pk] for row in new) == [o.pk for o in orders[:2]]
    assert {row[status] for row in new} == {"shipped"} and {row[status] for row in old} == {"paid"}
    assert notifications.sent(using) == []  # Recorded only: run=False.
    for payload in payloads:  # As a worker would, from the JSON alone.
        run_payload(payload)
    assert sorted(n.order_id for n in notifications.sent(using)) == [o.pk for o in orders[:2]]


@pytest.mark.parametrize("backend", ["immediate", "database"])
def test_example_settings_configure_the_tasks_backend(
    backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The example's TASKS name the framework's immediate backend, or django-tasks-db on demand."""
    monkeypatch.setenv("SHOP_TASKS_BACKEND", backend)
    settings = runpy.run_path(str(EXAMPLE_SETTINGS))
    (config,) = settings["TASKS"].values()
    expected = {
        "immediate": f"{tasks_framework()}.backends.immediate.ImmediateBackend",
        "database": "django_tasks_db.DatabaseBackend",
    }
    assert config["BACKEND"] == expected[backend]
    assert NotifyShipping.task and NotifyShipping.task_options["queue_name"] in config["QUEUES"]
    assert ("django_tasks_db" in settings["INSTALLED_APPS"]) == (backend == "database")


@pytest.mark.django_db(transaction=True)
def test_demo_with_the_database_backend_leaves_notifications_to_db_worker(
    using: str, outbox: None, settings: Any
) -> None:
    """With django-tasks-db the demo queues the notifications; db_worker sends them."""
    from django_tasks_db.models import DBTaskResult

    settings.TASKS = {
        "default": {
            "BACKEND": "django_tasks_db.DatabaseBackend",
            "QUEUES": ["default", "notifications"],
        }
    }
    flat = " ".join(_run_demo(using, rows=30).split())
    queued = re.findall(r"NotifyShipping\.on_commit_update \((\d+) rows?, as a task, queued", flat)
    assert len(queued) == 2 and "<- NotifyShipping" not in flat
    assert (
        _number(r"shipping notifications sent: (\d+)", flat) == 0 == len(notifications.sent(using))
    )
    tasks = DBTaskResult.objects.using(using)
    assert tasks.filter(status="READY", queue_name="notifications").count() == len(queued)
    call_command("db_worker", queue_name="notifications", batch=True, startup_delay=False)
    assert tasks.exclude(status="SUCCESSFUL").count() == 0
    shipped = Order.objects.using(using).filter(status="shipped").values_list("pk", flat=True)
    assert sorted(n.order_id for n in notifications.sent(using)) == sorted(shipped)
    assert len(shipped) == sum(int(n) for n in queued)


def test_triggers_are_plain_python() -> None:
    """Example triggers run on unsaved instances, with no database and no dispatcher."""
    paid, stored = Order(pk=1, status="shipped"), Order(pk=1, status="paid")
    ShipOrder().on_before_update([paid], [stored])
    assert paid.shipped_at is not None
    EnforceOrderWorkflow().on_before_update([paid], [stored])  # paid -> shipped is allowed.
    with pytest.raises(ValidationError, match="cannot go from 'shipped' to 'cancelled'"):
        EnforceOrderWorkflow().on_before_update(
            [Order(pk=1, status="cancelled")], [Order(pk=1, status="shipped")]
        )


def test_triggers_register_per_model_in_order() -> None:
    """The generic Audit registers only through its subclasses; Order's run in declared order."""
    assert Audit not in registry and AccountAudit in registry
    assert AccountAudit.model is Account
    assert registry.for_model(Order, "update") == (
        EnforceOrderWorkflow,
        NotifyShipping,
        ShipOrder,
        ChargeAccount,
        OrderAudit,
    )


def test_admin_forms_show_trigger_refusals_as_form_errors(using: str) -> None:
    """The admin's forms run the validating triggers, so a refusal is a form error, not a 500."""
    from django.forms import modelform_factory

    from shop.forms import OrderForm, OrderLineForm

    order = _set_status(_make_orders(1)[0], "shipped")
    before = _dump()
    order_form = modelform_factory(Order, form=OrderForm, fields=["account", "status"])(
        {"account": order.account_id, "status": "cancelled"}, instance=order
    )
    line_form = modelform_factory(OrderLine, form=OrderLineForm, fields="__all__")(
        {"order": order.pk, "sku": "TEA", "quantity": "0", "unit_price": "4.50"}
    )
    assert not order_form.is_valid() and "cannot go from" in order_form.errors["status"][0]
    assert not line_form.is_valid() and "below 1" in line_form.non_field_errors()[0]
    assert _dump() == before
